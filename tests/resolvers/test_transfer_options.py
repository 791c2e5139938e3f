"""cancelTransfer, and transfers that keep the previous owner on as a collaborator, through
the API on both backends."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from db.events import replay
from db.jobs import FOLLOW_UP_KINDS
from db.models import AuditEntry, Collaborator, Customer, FollowUp, OwnershipEvent, Reminder, User
from kernel.clock import FrozenClock
from ownergraph.scheduler import run_jobs_once
from tests.conftest import SEED_TIME, Api, db_id, errors_of, serve

REQUEST = """
mutation R($input: RequestTransferInput!) {
  requestTransfer(input: $input) { id status }
}
"""
CANCEL = """
mutation C($id: ID!) {
  cancelTransfer(id: $id) { id status customers { id } }
}
"""
DECIDE = """
mutation D($id: ID!) { decideTransfer(id: $id, approve: true) { id status } }
"""


async def request(api: Api, as_user: str, ids: list[int], to: str, **extra: Any) -> str:
    variables = {
        "input": {
            "customerIds": [str(i) for i in ids],
            "toUserId": str(await api.user_id(to)),
            "kind": "REASSIGNMENT",
            "reason": "Bob covers this account now.",
            **extra,
        }
    }
    return str((await api.ok(REQUEST, variables, as_user=as_user))["requestTransfer"]["id"])


async def approval_reminders(api: Api, tid: str) -> list[str]:
    async with api.services.db.read() as s:
        stmt = select(Reminder.status).where(
            Reminder.kind == "TRANSFER_APPROVAL", Reminder.ref_id == db_id(tid)
        )
        return sorted((await s.execute(stmt)).scalars())


async def test_the_requester_cancels_a_pending_request(api: Api) -> None:
    ids = await api.owned("alice@demo.test", 2)
    tid = await request(api, "alice@demo.test", ids, "bob@demo.test")
    assert await approval_reminders(api, tid) == ["PENDING", "PENDING"]

    # Bob, a party, sees it but may not cancel it; Carol (West) cannot see it at all.
    assert errors_of(await api.gql(CANCEL, {"id": tid}, as_user="bob@demo.test")) == ["FORBIDDEN"]
    assert errors_of(await api.gql(CANCEL, {"id": tid}, as_user="carol@demo.test")) == ["NOT_FOUND"]
    assert errors_of(await api.gql(CANCEL, {"id": "9999999"}, as_user="alice@demo.test")) == [
        "NOT_FOUND"
    ]

    cancelled = (await api.ok(CANCEL, {"id": tid}, as_user="alice@demo.test"))["cancelTransfer"]
    assert cancelled["status"] == "CANCELLED"
    assert sorted(db_id(c["id"]) for c in cancelled["customers"]) == ids
    assert await approval_reminders(api, tid) == ["CANCELLED", "CANCELLED"]
    async with api.services.db.read() as s:
        marks = set(
            (
                await s.execute(select(Customer.pending_transfer_id).where(Customer.id.in_(ids)))
            ).scalars()
        )
        audited = await s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "transfer.cancel")
        )
        moved = await s.scalar(
            select(func.count())
            .select_from(OwnershipEvent)
            .where(OwnershipEvent.customer_id.in_(ids), OwnershipEvent.kind == "TRANSFERRED")
        )
    assert marks == {None} and audited == 1 and moved == 0

    # No longer pending: a second cancel and a late approval conflict; the customers are free.
    assert errors_of(await api.gql(CANCEL, {"id": tid}, as_user="alice@demo.test")) == ["CONFLICT"]
    assert errors_of(await api.gql(DECIDE, {"id": tid}, as_user="bob@demo.test")) == ["CONFLICT"]
    await request(api, "alice@demo.test", ids, "bob@demo.test")


async def test_an_executed_request_cannot_be_cancelled(api: Api) -> None:
    ids = await api.owned("bob@demo.test")
    # The manager of both sides' team: it executes at once.
    tid = await request(api, "manager.east@demo.test", ids, "alice@demo.test")
    body = await api.gql(CANCEL, {"id": tid}, as_user="manager.east@demo.test")
    assert errors_of(body) == ["CONFLICT"]


COLLABORATORS = """
query C($id: ID!) {
  customer(id: $id) {
    owner { email } ownerCreditShare
    collaborators { user { email } role access creditShare expiresAt }
  }
}
"""


async def _due_reminder(api: Api, cid: int) -> None:
    """A follow-up of `cid` falls due and the scheduler reminds its owner of it."""
    async with api.services.db.write() as s, s.begin():
        await s.execute(
            update(Customer)
            .where(Customer.id == cid)
            .values(next_follow_up_due=SEED_TIME - timedelta(days=1), follow_up_reminded_at=None)
        )
    await run_jobs_once(api.services)


async def _reminders(api: Api, cid: int) -> list[tuple[str, str]]:
    async with api.services.db.read() as s:
        rows = await s.execute(
            select(User.email, Reminder.status)
            .join(User, User.id == Reminder.user_id)
            .where(Reminder.customer_id == cid, Reminder.kind.in_(FOLLOW_UP_KINDS))
            .order_by(Reminder.id)
        )
        return [(e, st) for e, st in rows]


async def test_the_previous_owner_stays_on_and_reminders_move(api: Api) -> None:
    [cid] = await api.owned("alice@demo.test")
    await _due_reminder(api, cid)
    assert await _reminders(api, cid) == [("alice@demo.test", "FIRED")]
    async with api.services.db.read() as s:
        before = await s.scalar(select(func.max(OwnershipEvent.id)))
        history = await s.scalar(
            select(func.count()).select_from(FollowUp).where(FollowUp.customer_id == cid)
        )
    tid = await request(
        api, "alice@demo.test", [cid], "bob@demo.test", keepPreviousOwnerAs="DEVELOPER"
    )
    for approver in ("bob@demo.test", "manager.east@demo.test"):
        await api.ok(DECIDE, {"id": tid}, as_user=approver)

    customer = (await api.ok(COLLABORATORS, {"id": str(cid)}, as_user="bob@demo.test"))["customer"]
    assert customer["owner"]["email"] == "bob@demo.test"
    assert {
        "user": {"email": "alice@demo.test"},
        "role": "DEVELOPER",
        "access": "READ",
        "creditShare": 0,
        "expiresAt": None,
    } in customer["collaborators"]
    assert (
        customer["ownerCreditShare"] + sum(c["creditShare"] for c in customer["collaborators"])
        == 100
    )
    # Alice still sees it, as a collaborator.
    seen = await api.ok(COLLABORATORS, {"id": str(cid)}, as_user="alice@demo.test")
    assert seen["customer"]["owner"]["email"] == "bob@demo.test"
    async with api.services.db.read() as s:
        kinds = list(
            (
                await s.execute(
                    select(OwnershipEvent.kind)
                    .where(OwnershipEvent.customer_id == cid, OwnershipEvent.id > before)
                    .order_by(OwnershipEvent.id)
                )
            ).scalars()
        )
        added = (
            await s.execute(
                select(OwnershipEvent).where(
                    OwnershipEvent.id > before, OwnershipEvent.kind == "COLLABORATOR_ADDED"
                )
            )
        ).scalar_one()
        events = list(
            (
                await s.execute(
                    select(OwnershipEvent)
                    .where(OwnershipEvent.customer_id == cid)
                    .order_by(OwnershipEvent.id)
                )
            ).scalars()
        )
        kept = await s.scalar(
            select(func.count()).select_from(FollowUp).where(FollowUp.customer_id == cid)
        )
    assert kinds == ["TRANSFERRED", "COLLABORATOR_ADDED"]
    alice = await api.user_id("alice@demo.test")
    assert added.details["user_id"] == alice and added.details["access"] == "READ"
    assert replay(events).collaborators[alice] == ("DEVELOPER", 0)
    assert kept == history  # follow-up history stays with the customer
    # The reminder went to Bob; the scheduler does not remind him of the same due time again.
    await run_jobs_once(api.services)
    assert await _reminders(api, cid) == [("bob@demo.test", "FIRED")]


async def test_without_keeping_the_previous_owner_is_gone(api: Api) -> None:
    [cid] = await api.owned("bob@demo.test")
    await request(api, "manager.east@demo.test", [cid], "alice@demo.test")
    body = await api.gql(COLLABORATORS, {"id": str(cid)}, as_user="bob@demo.test")
    assert errors_of(body) == ["NOT_FOUND"]


async def test_reminders_are_cancelled_when_the_setting_says_so(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(database_url, clock, tmp_path, transfer_reminders="cancel") as api:
        [cid] = await api.owned("bob@demo.test")
        await _due_reminder(api, cid)
        await request(
            api,
            "manager.east@demo.test",
            [cid],
            "alice@demo.test",
            keepPreviousOwnerAs="SUPPORT",
            keepPreviousOwnerAccess="WRITE",
        )
        assert await _reminders(api, cid) == [("bob@demo.test", "CANCELLED")]
        customer = (await api.ok(COLLABORATORS, {"id": str(cid)}, as_user="bob@demo.test"))[
            "customer"
        ]
        assert [
            (c["user"]["email"], c["role"], c["access"]) for c in customer["collaborators"]
        ] == [("bob@demo.test", "SUPPORT", "WRITE")]


HAND_OVER = """
mutation H($from: ID!, $to: ID, $as: CollaboratorRole) {
  handOverPortfolio(fromUserId: $from, toUserId: $to, reason: "Moving to key accounts.",
                    keepPreviousOwnerAs: $as) { moved }
}
"""


async def test_a_hand_over_keeps_the_previous_owner_and_moves_reminders(api: Api) -> None:
    bob = await api.user_id("bob@demo.test")
    owned = await api.owned("bob@demo.test", 1000)
    await _due_reminder(api, owned[0])
    async with api.services.db.read() as s:
        before = await s.scalar(select(func.max(OwnershipEvent.id)))
    alice = str(await api.user_id("alice@demo.test"))
    to_pool = await api.gql(
        HAND_OVER, {"from": str(bob), "to": None, "as": "SUPPORT"}, as_user="manager.east@demo.test"
    )
    assert errors_of(to_pool) == ["VALIDATION"]
    done = await api.ok(
        HAND_OVER,
        {"from": str(bob), "to": alice, "as": "SUPPORT"},
        as_user="manager.east@demo.test",
    )
    moved = done["handOverPortfolio"]["moved"]
    assert moved == len(owned)
    async with api.services.db.read() as s:
        counts = dict(
            (
                await s.execute(
                    select(OwnershipEvent.kind, func.count())
                    .where(OwnershipEvent.id > before)
                    .group_by(OwnershipEvent.kind)
                )
            ).all()
        )
        kept = await s.scalar(
            select(func.count())
            .select_from(Collaborator)
            .where(Collaborator.user_id == bob, Collaborator.access == "READ")
        )
    assert counts == {"TRANSFERRED": moved, "COLLABORATOR_ADDED": moved}
    assert kept == moved
    assert await _reminders(api, owned[0]) == [("alice@demo.test", "FIRED")]
