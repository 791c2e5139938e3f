"""What follows a change of owner, on every path that makes one, through the real API on
both backends: pending transfers of the customer end, open disputes against the old owner
close as WITHDRAWN (announced on the "disputes" channel), the old owner's reminders lapse."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, insert, select

from db.enums import DisputeStatus, ReminderKind, ReminderStatus, Stage
from db.models import Customer, Dispute, Reminder, TransferRequest
from db.ownership import CHANGED_HANDS
from kernel.clock import FrozenClock
from ownergraph.scheduler import run_jobs_once
from tests.conftest import Api, db_id, errors_of
from tests.db.test_jobs import drain, stale_customers

ASSIGN = """
mutation A($id: ID!, $to: ID!) {
  assignCustomer(customerId: $id, toUserId: $to, reason: "Rebalancing the team.") { id }
}
"""
RELEASE = """
mutation R($id: ID!) { releaseToPool(customerId: $id, reason: "Not a fit for us.") { id } }
"""
CLAIM = "mutation C($id: ID!) { claimCustomer(customerId: $id) { id } }"
HAND_OVER = """
mutation H($from: ID!, $to: ID) {
  handOverPortfolio(fromUserId: $from, toUserId: $to, reason: "Leaving.") { moved }
}
"""
REQUEST = """
mutation T($ids: [ID!]!, $to: ID!) {
  requestTransfer(input: {customerIds: $ids, toUserId: $to, kind: REFERRAL,
                          reason: "Their cousin runs it."}) { id status }
}
"""
DECIDE = """
mutation Y($id: ID!) { decideTransfer(id: $id, approve: true) { id status } }
"""
APPROVERS = (
    "query { transferRequests(status: PENDING) { id approvals { approver { email } approved } } }"
)
RESOLVE = """
mutation D($id: ID!, $to: ID!) { resolveDispute(id: $id, awardToUserId: $to) { id status } }
"""
TO_ACTIVE = """
mutation U($id: ID!) { updateCustomer(id: $id, input: {stage: ACTIVE}) { id owner { email } } }
"""

ALICE, BOB, CAROL = "alice@demo.test", "bob@demo.test", "carol@demo.test"
MANAGER, ADMIN, JUDGE = "manager.east@demo.test", "admin@demo.test", "judge@demo.test"
OWNER_KINDS = (ReminderKind.FOLLOW_UP_DUE, ReminderKind.CADENCE_DUE, ReminderKind.RECYCLE_WARNING)
# Open in every sense: not yet due, put off, and fired but not acknowledged.
OPEN_STATES = (ReminderStatus.PENDING, ReminderStatus.SNOOZED, ReminderStatus.FIRED)


async def seeded_dispute(api: Api) -> Dispute:
    """The demo's escalated dispute: bob claims alice's customer; judge arbitrates."""
    async with api.services.db.read() as s:
        return (
            await s.execute(select(Dispute).where(Dispute.status == DisputeStatus.ESCALATED))
        ).scalar_one()


async def open_customer(api: Api, email: str) -> int:
    """A customer of `email`'s, not ACTIVE, in no transfer and no dispute."""
    uid = await api.user_id(email)
    async with api.services.db.read() as s:
        return (
            await s.execute(
                select(Customer.id)
                .where(
                    Customer.owner_id == uid,
                    Customer.stage != Stage.ACTIVE,
                    Customer.pending_transfer_id.is_(None),
                    ~select(Dispute.id).where(Dispute.customer_id == Customer.id).exists(),
                )
                .order_by(Customer.id)
                .limit(1)
            )
        ).scalar_one()


async def plant_reminders(api: Api, customer_id: int, email: str) -> list[int]:
    """One open reminder of each owner kind for `email` about the customer."""
    now = api.services.clock.now()
    uid = await api.user_id(email)
    rows = [
        {
            "user_id": uid,
            "customer_id": customer_id,
            "kind": kind,
            "status": status,
            "due_at": now,
            "message": f"{kind} about {customer_id}",
            "created_at": now,
        }
        for kind, status in zip(OWNER_KINDS, OPEN_STATES, strict=True)
    ]
    async with api.services.db.write() as s, s.begin():
        return list((await s.execute(insert(Reminder).returning(Reminder.id), rows)).scalars())


async def reminder_states(api: Api, *conditions: Any) -> list[str]:
    async with api.services.db.read() as s:
        stmt = select(Reminder.status).where(*conditions).order_by(Reminder.id)
        return [str(status) for status in (await s.execute(stmt)).scalars()]


async def row(api: Api, model: Any, ident: int | str) -> Any:
    async with api.services.db.read() as s:
        return await s.get(model, int(ident))


async def pending_transfer(api: Api, customer_id: int, giver: str, to: str) -> int:
    body = await api.ok(
        REQUEST, {"ids": [str(customer_id)], "to": str(await api.user_id(to))}, as_user=giver
    )
    assert body["requestTransfer"]["status"] == "PENDING"
    return db_id(body["requestTransfer"]["id"])


async def assert_transfer_cancelled(api: Api, transfer_id: int, customer_id: int) -> None:
    assert (await row(api, TransferRequest, transfer_id)).status == "CANCELLED"
    approvals = await reminder_states(
        api, Reminder.kind == ReminderKind.TRANSFER_APPROVAL, Reminder.ref_id == transfer_id
    )
    assert approvals and set(approvals) == {"CANCELLED"}
    assert (await row(api, Customer, customer_id)).pending_transfer_id is None


async def assert_withdrawn(api: Api, dispute: Dispute, published: list[dict[str, Any]]) -> None:
    """Closed because the customer changed hands, its arbiter's reminder lapsed, and
    disputeUpdated subscribers were told."""
    closed = await row(api, Dispute, dispute.id or 0)
    assert (closed.status, closed.resolved_at, closed.note) == (
        DisputeStatus.WITHDRAWN,
        api.services.clock.now(),
        CHANGED_HANDS,
    )
    assert closed.awarded_to_id is None
    assert await reminder_states(
        api, Reminder.kind == ReminderKind.DISPUTE_ASSIGNED, Reminder.ref_id == dispute.id
    ) == ["CANCELLED"]
    assert {"id": dispute.id, "customer_id": dispute.customer_id} in published
    body = await api.gql(
        RESOLVE, {"id": str(dispute.id), "to": str(dispute.claimant_id)}, as_user=JUDGE
    )
    assert errors_of(body) == ["CONFLICT"]


async def cancelled(api: Api, reminder_ids: list[int]) -> bool:
    return await reminder_states(api, Reminder.id.in_(reminder_ids)) == ["CANCELLED"] * len(
        reminder_ids
    )


# Pending transfers end when the customer moves another way.


async def test_an_award_cancels_the_pending_transfer_and_other_disputes(api: Api) -> None:
    dispute = await seeded_dispute(api)
    cid = dispute.customer_id
    planted = await plant_reminders(api, cid, ALICE)
    tid = await pending_transfer(api, cid, ALICE, CAROL)
    now, judge = api.services.clock.now(), await api.user_id(JUDGE)
    async with api.services.db.write() as s, s.begin():
        other = Dispute(
            customer_id=cid,
            claimant_id=await api.user_id(CAROL),
            respondent_id=dispute.respondent_id,
            arbiter_id=judge,
            reason="Carol met them first.",
            status=DisputeStatus.ESCALATED,
            opened_at=now,
        )
        s.add(other)
        await s.flush()
        s.add(
            Reminder(
                user_id=judge,
                customer_id=cid,
                kind=ReminderKind.DISPUTE_ASSIGNED,
                due_at=now,
                message="Carol's claim",
                ref_id=other.id,
                created_at=now,
            )
        )
    bob = await api.user_id(BOB)

    async with api.services.bus.subscribe("disputes") as messages:
        await api.ok(RESOLVE, {"id": str(dispute.id), "to": str(bob)}, as_user=JUDGE)
        published = await drain(messages)

    assert (await row(api, Customer, cid)).owner_id == bob
    await assert_transfer_cancelled(api, tid, cid)
    decided = await row(api, Dispute, dispute.id or 0)
    assert (decided.status, decided.awarded_to_id, decided.note) == ("RESOLVED", bob, None)
    await assert_withdrawn(api, other, published)
    assert {"id": dispute.id, "customer_id": cid} in published
    assert await cancelled(api, planted)
    # Freed: the new owner may act on it at once.
    await api.ok(RELEASE, {"id": str(cid)}, as_user=BOB)


async def test_a_lifecycle_handoff_cancels_the_pending_transfer(handoff_api: Api) -> None:
    api = handoff_api
    cid = await open_customer(api, ALICE)
    planted = await plant_reminders(api, cid, ALICE)
    tid = await pending_transfer(api, cid, ALICE, BOB)

    moved = (await api.ok(TO_ACTIVE, {"id": str(cid)}, as_user=ALICE))["updateCustomer"]

    assert moved["owner"]["email"] not in (ALICE, BOB)
    await assert_transfer_cancelled(api, tid, cid)
    # Alice stays on as a collaborator, but the owner's reminders are the new owner's now.
    assert await cancelled(api, planted)


async def test_an_award_and_the_last_approval_at_once_one_wins(api: Api) -> None:
    """The award locks the customer and then cancels the transfer; the approval locks the
    transfer and then moves the customer. Whichever comes second hears CONFLICT."""
    dispute = await seeded_dispute(api)
    cid = dispute.customer_id
    tid = await pending_transfer(api, cid, ALICE, CAROL)
    requests = (await api.ok(APPROVERS, as_user=ADMIN))["transferRequests"]
    waiting = [
        a["approver"]["email"]
        for r in requests
        if db_id(r["id"]) == int(tid)
        for a in r["approvals"]
        if a["approved"] is None
    ]
    for email in waiting[1:]:
        await api.ok(DECIDE, {"id": str(tid)}, as_user=email)
    tokens = [await api.token(JUDGE), await api.token(waiting[0])]
    bob = await api.user_id(BOB)

    award, approval = await asyncio.gather(
        api.gql(RESOLVE, {"id": str(dispute.id), "to": str(bob)}, token=tokens[0]),
        api.gql(DECIDE, {"id": str(tid)}, token=tokens[1]),
    )

    outcomes = (tuple(errors_of(award)), tuple(errors_of(approval)))
    assert outcomes in (((), ("CONFLICT",)), (("CONFLICT",), ())), (award, approval)
    customer = await row(api, Customer, cid)
    transfer = await row(api, TransferRequest, tid)
    settled = await row(api, Dispute, dispute.id or 0)
    if not award.get("errors"):
        assert (customer.owner_id, transfer.status, settled.status) == (
            bob,
            "CANCELLED",
            "RESOLVED",
        )
    else:
        carol = await api.user_id(CAROL)
        assert (customer.owner_id, transfer.status, settled.status) == (
            carol,
            "APPROVED",
            "WITHDRAWN",
        )
    assert customer.pending_transfer_id is None


# Open disputes close when the customer leaves the respondent.


async def test_an_assignment_closes_the_open_dispute(api: Api) -> None:
    dispute = await seeded_dispute(api)
    planted = await plant_reminders(api, dispute.customer_id, ALICE)
    to = await api.user_id(BOB)
    async with api.services.bus.subscribe("disputes") as messages:
        await api.ok(ASSIGN, {"id": str(dispute.customer_id), "to": str(to)}, as_user=MANAGER)
        published = await drain(messages)
    await assert_withdrawn(api, dispute, published)
    assert await cancelled(api, planted)


async def test_a_release_closes_the_open_dispute(api: Api) -> None:
    dispute = await seeded_dispute(api)
    planted = await plant_reminders(api, dispute.customer_id, ALICE)
    async with api.services.bus.subscribe("disputes") as messages:
        await api.ok(RELEASE, {"id": str(dispute.customer_id)}, as_user=ALICE)
        published = await drain(messages)
    await assert_withdrawn(api, dispute, published)
    assert await cancelled(api, planted)
    # Claimed again from the pool: the claimant's own reminders are left alone.
    mine = await plant_reminders(api, dispute.customer_id, BOB)
    await api.ok(CLAIM, {"id": str(dispute.customer_id)}, as_user=BOB)
    assert await reminder_states(api, Reminder.id.in_(mine)) == [str(s) for s in OPEN_STATES]


async def test_a_hand_over_closes_the_open_dispute(api: Api) -> None:
    dispute = await seeded_dispute(api)
    planted = await plant_reminders(api, dispute.customer_id, ALICE)
    alice = await api.user_id(ALICE)
    async with api.services.bus.subscribe("disputes") as messages:
        await api.ok(HAND_OVER, {"from": str(alice), "to": None}, as_user=MANAGER)
        published = await drain(messages)
    await assert_withdrawn(api, dispute, published)
    assert await cancelled(api, planted)
    # Every owner reminder of hers about the customers she handed over lapsed.
    assert (
        await reminder_states(
            api,
            Reminder.user_id == alice,
            Reminder.kind.in_(OWNER_KINDS),
            Reminder.status.in_(OPEN_STATES),
        )
        == []
    )


async def test_a_transfer_closes_the_open_dispute(api: Api) -> None:
    dispute = await seeded_dispute(api)
    planted = await plant_reminders(api, dispute.customer_id, ALICE)
    carol = await api.user_id(CAROL)
    async with api.services.bus.subscribe("disputes") as messages:
        body = await api.ok(
            REQUEST, {"ids": [str(dispute.customer_id)], "to": str(carol)}, as_user=ADMIN
        )
        published = await drain(messages)
    assert body["requestTransfer"]["status"] == "APPROVED"
    await assert_withdrawn(api, dispute, published)
    # A transfer moves the follow-up reminders to the new owner (setting
    # transfer_reminders); the recycle warning lapses, as the recycle clock restarts.
    async with api.services.db.read() as s:
        stmt = select(Reminder.user_id, Reminder.status).where(Reminder.id.in_(planted))
        states = sorted((await s.execute(stmt.order_by(Reminder.id))).all())
    alice = await api.user_id(ALICE)
    assert states == sorted([(carol, "PENDING"), (carol, "SNOOZED"), (alice, "CANCELLED")])
    assert (await row(api, Customer, dispute.customer_id)).owner_id == carol


async def test_recycling_closes_the_open_dispute(api: Api, clock: FrozenClock) -> None:
    dispute = await seeded_dispute(api)
    planted = await plant_reminders(api, dispute.customer_id, ALICE)
    clock.advance(days=91)  # past every tier's recycle days
    async with api.services.bus.subscribe("disputes") as messages:
        report = await run_jobs_once(api.services, clock.now())
        published = await drain(messages)
    assert report.recycled > 0
    assert (await row(api, Customer, dispute.customer_id)).owner_id is None
    await assert_withdrawn(api, dispute, published)
    assert await cancelled(api, planted)


async def test_closing_disputes_costs_the_same_statements_for_3_or_60(
    api: Api, clock: FrozenClock
) -> None:
    await run_jobs_once(api.services, clock.now())  # whatever the demo has due
    bob, alice = await api.user_id(BOB), await api.user_id(ALICE)
    counts = {}
    for n in (3, 60):
        ids = await stale_customers(api, n)
        async with api.services.db.write() as s, s.begin():
            await s.execute(
                insert(Dispute),
                [
                    {
                        "customer_id": cid,
                        "claimant_id": bob,
                        "respondent_id": alice,
                        "reason": "Mine first.",
                        "status": DisputeStatus.OPEN,
                        "evidence": [],
                        "credit_split": [],
                        "opened_at": clock.now(),
                    }
                    for cid in ids
                ],
            )
        async with api.services.bus.subscribe("disputes") as messages:
            api.statements.clear()
            report = await run_jobs_once(api.services, clock.now())
            counts[n] = len(api.statements)
            published = await drain(messages)
        assert report.recycled == n
        assert sorted(m["customer_id"] for m in published) == ids
        async with api.services.db.read() as s:
            statuses = await s.execute(
                select(Dispute.status, func.count())
                .where(Dispute.customer_id.in_(ids))
                .group_by(Dispute.status)
            )
            assert [tuple(r) for r in statuses] == [(DisputeStatus.WITHDRAWN, n)]
    assert counts[3] == counts[60], counts


async def test_moving_other_customers_leaves_the_dispute_open(api: Api) -> None:
    """Only disputes over the customers that moved, against the owner who lost them."""
    dispute = await seeded_dispute(api)
    bob = await api.user_id(BOB)  # the claimant: his own portfolio moving changes nothing
    async with api.services.bus.subscribe("disputes") as messages:
        await api.ok(HAND_OVER, {"from": str(bob), "to": None}, as_user=MANAGER)
        published = await drain(messages)
    assert published == []
    assert (await row(api, Dispute, dispute.id or 0)).status == DisputeStatus.ESCALATED
    assert await reminder_states(
        api, Reminder.kind == ReminderKind.DISPUTE_ASSIGNED, Reminder.ref_id == dispute.id
    ) == ["PENDING"]
