"""requestTransfer and decideTransfer (rule 4), through the API on both backends."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select, update

from db.models import Customer, OwnershipEvent, Reminder, TransferRequest, User
from tests.conftest import SEED_TIME, Api, db_id, errors_of

REQUEST = """
mutation R($input: RequestTransferInput!) {
  requestTransfer(input: $input) {
    id status kind reason fromUser { email } toUser { email } customers { id }
    approvals { approver { email } approved decidedAt }
  }
}
"""
DECIDE = """
mutation D($id: ID!, $approve: Boolean!, $note: String) {
  decideTransfer(id: $id, approve: $approve, note: $note) {
    id status approvals { approver { email } approved note }
  }
}
"""
CUSTOMER = """
query C($id: ID!) {
  customer(id: $id) { id owner { email } team { name } version ownerCreditShare
    collaborators { user { email } creditShare } }
}
"""
ADD_COLLABORATOR = """
mutation A($c: ID!, $u: ID!) {
  addCollaborator(customerId: $c, userId: $u, role: CLOSER, creditShare: 30) { id }
}
"""


async def request(api: Api, as_user: str, ids: list[int], to: str, **kw: Any) -> dict[str, Any]:
    variables = {
        "input": {
            "customerIds": [str(i) for i in ids],
            "toUserId": str(await api.user_id(to)),
            "kind": kw.get("kind", "REASSIGNMENT"),
            "reason": kw.get("reason", "Carol covers this account's region now."),
        }
    }
    return await api.gql(REQUEST, variables, as_user=as_user)


async def decide(api: Api, as_user: str, tid: str, approve: bool = True) -> dict[str, Any]:
    return await api.gql(DECIDE, {"id": tid, "approve": approve, "note": "ok"}, as_user=as_user)


async def reminders_of(api: Api, tid: str) -> dict[str, str]:
    async with api.services.db.read() as s:
        rows = await s.execute(
            select(User.email, Reminder.status)
            .join(User, User.id == Reminder.user_id)
            .where(Reminder.kind == "TRANSFER_APPROVAL", Reminder.ref_id == db_id(tid))
        )
        return {email: status for email, status in rows}


async def pending_of(api: Api, ids: list[int]) -> set[int | None]:
    async with api.services.db.read() as s:
        stmt = select(Customer.pending_transfer_id).where(Customer.id.in_(ids))
        return set((await s.execute(stmt)).scalars())


async def test_both_sides_and_their_managers_approve_then_it_executes(api: Api) -> None:
    ids = await api.owned("alice@demo.test", 2)
    body = await request(api, "alice@demo.test", ids, "carol@demo.test")
    transfer = body["data"]["requestTransfer"]
    tid = transfer["id"]
    assert transfer["status"] == "PENDING" and transfer["fromUser"]["email"] == "alice@demo.test"
    approvals = [(a["approver"]["email"], a["approved"]) for a in transfer["approvals"]]
    # Receiving, giving (the requester: pre-approved), East's manager, West's manager.
    assert approvals == [
        ("carol@demo.test", None),
        ("alice@demo.test", True),
        ("manager.east@demo.test", None),
        ("director@demo.test", None),
    ]
    assert await pending_of(api, ids) == {db_id(tid)}
    assert await reminders_of(api, tid) == {
        "carol@demo.test": "PENDING",
        "manager.east@demo.test": "PENDING",
        "director@demo.test": "PENDING",
    }
    versions = {
        i: (await api.ok(CUSTOMER, {"id": str(i)}, as_user="admin@demo.test"))["customer"][
            "version"
        ]
        for i in ids
    }

    for approver in ("carol@demo.test", "manager.east@demo.test"):
        decided = (await decide(api, approver, tid))["data"]["decideTransfer"]
        assert decided["status"] == "PENDING"
    async with api.services.bus.subscribe("ownership") as messages:
        decided = (await decide(api, "director@demo.test", tid))["data"]["decideTransfer"]
        message = await asyncio.wait_for(anext(messages), 2)
    assert decided["status"] == "APPROVED"
    assert all(a["approved"] for a in decided["approvals"])

    for i in ids:
        customer = (await api.ok(CUSTOMER, {"id": str(i)}, as_user="carol@demo.test"))["customer"]
        assert customer["owner"]["email"] == "carol@demo.test"
        assert customer["team"]["name"] == "West"
        assert customer["version"] == versions[i] + 1
        # Transferred away: the old owner no longer sees it.
        gone = await api.gql(CUSTOMER, {"id": str(i)}, as_user="alice@demo.test")
        assert errors_of(gone) == ["NOT_FOUND"]
    alice, carol = await api.user_id("alice@demo.test"), await api.user_id("carol@demo.test")
    async with api.services.db.read() as s:
        rows = list((await s.execute(select(Customer).where(Customer.id.in_(ids)))).scalars())
        assert {(c.previous_owner_id, c.pending_transfer_id, c.owned_since) for c in rows} == {
            (alice, None, SEED_TIME)
        }
        events = list(
            (
                await s.execute(
                    select(OwnershipEvent)
                    .where(OwnershipEvent.customer_id.in_(ids))
                    .where(OwnershipEvent.kind == "TRANSFERRED")
                )
            ).scalars()
        )
        last = await s.scalar(select(func.max(OwnershipEvent.id)))
    assert sorted(e.customer_id for e in events) == sorted(ids)
    assert {(e.from_user_id, e.to_user_id, e.rule) for e in events} == {(alice, carol, "transfer")}
    assert {e.details["transfer_id"] for e in events} == {db_id(tid)}
    assert message == {"id": last}
    assert set((await reminders_of(api, tid)).values()) == {"ACKNOWLEDGED"}


async def test_a_rejection_ends_the_request_and_frees_the_customers(api: Api) -> None:
    ids = await api.owned("alice@demo.test")
    tid = (await request(api, "alice@demo.test", ids, "bob@demo.test"))["data"]["requestTransfer"][
        "id"
    ]
    rejected = (await decide(api, "bob@demo.test", tid, approve=False))["data"]["decideTransfer"]
    assert rejected["status"] == "REJECTED"
    assert await pending_of(api, ids) == {None}
    assert await reminders_of(api, tid) == {
        "bob@demo.test": "ACKNOWLEDGED",
        "manager.east@demo.test": "CANCELLED",
    }
    late = await decide(api, "manager.east@demo.test", tid)
    assert errors_of(late) == ["CONFLICT"]
    again = await request(api, "alice@demo.test", ids, "bob@demo.test")
    assert not again.get("errors")


async def test_invisible_customers_are_not_found_and_visible_ones_forbidden(api: Api) -> None:
    carols = await api.owned("carol@demo.test")
    for ident in (carols[0], 99999999):
        body = await request(api, "alice@demo.test", [ident], "bob@demo.test")
        assert errors_of(body) == ["NOT_FOUND"]
    body = await api.gql(
        REQUEST,
        {"input": {"customerIds": ["x1"], "toUserId": "1", "kind": "REFERRAL", "reason": "r"}},
        as_user="alice@demo.test",
    )
    assert errors_of(body) == ["NOT_FOUND"]
    async with api.services.db.read() as s:
        pooled = await s.scalar(select(Customer.id).where(Customer.owner_id.is_(None)).limit(1))
    body = await request(api, "alice@demo.test", [pooled], "bob@demo.test")
    assert errors_of(body) == ["FORBIDDEN"]  # the pool is visible to a rep, not theirs to give
    body = await request(api, "audit@demo.test", carols, "bob@demo.test")
    assert errors_of(body) == ["FORBIDDEN"]


async def test_bad_requests_fail_clearly_and_write_nothing(api: Api) -> None:
    alices, bobs = await api.owned("alice@demo.test"), await api.owned("bob@demo.test")
    async with api.services.db.write() as s, s.begin():
        await s.execute(update(User).where(User.email == "carol@demo.test").values(active=False))
    cases = [
        (("manager.east@demo.test", alices + bobs, "carol@demo.test"), {}, "VALIDATION"),
        (("alice@demo.test", alices, "carol@demo.test"), {}, "VALIDATION"),  # deactivated
        (("alice@demo.test", alices, "alice@demo.test"), {}, "VALIDATION"),
        (("alice@demo.test", alices, "audit@demo.test"), {}, "VALIDATION"),
        (("alice@demo.test", alices, "bob@demo.test"), {"reason": "  "}, "VALIDATION"),
    ]
    for args, kw, code in cases:
        body = await request(api, *args, **kw)
        assert errors_of(body) == [code], (args, kw, body)
    body = await api.gql(
        REQUEST,
        {
            "input": {
                "customerIds": [str(alices[0])],
                "toUserId": "424242",
                "kind": "REFERRAL",
                "reason": "r",
            }
        },
        as_user="alice@demo.test",
    )
    assert errors_of(body) == ["NOT_FOUND"]
    async with api.services.db.read() as s:
        assert await s.scalar(select(func.count()).select_from(TransferRequest)) == 0
    assert await pending_of(api, alices + bobs) == {None}


async def test_a_customer_is_in_one_pending_request_at_most(api: Api) -> None:
    ids = await api.owned("alice@demo.test", 2)
    assert not (await request(api, "alice@demo.test", ids[:1], "bob@demo.test")).get("errors")
    body = await request(api, "alice@demo.test", ids, "carol@demo.test")
    assert errors_of(body) == ["CONFLICT"]
    assert await pending_of(api, ids[1:]) == {None}  # the whole second request rolled back


async def test_two_requests_for_one_customer_at_once_exactly_one_wins(api: Api) -> None:
    ids = await api.owned("alice@demo.test")
    uids = [str(await api.user_id(e)) for e in ("bob@demo.test", "carol@demo.test")]
    tokens = [await api.token("alice@demo.test"), await api.token("manager.east@demo.test")]
    bodies = await asyncio.gather(
        *(
            api.gql(
                REQUEST,
                {
                    "input": {
                        "customerIds": [str(ids[0])],
                        "toUserId": uid,
                        "kind": "REASSIGNMENT",
                        "reason": "mine",
                    }
                },
                token=token,
            )
            for token, uid in zip(tokens, uids, strict=True)
        )
    )
    codes = sorted(str(errors_of(b)) for b in bodies)
    assert codes == ["['CONFLICT']", "[]"], bodies
    async with api.services.db.read() as s:
        assert await s.scalar(select(func.count()).select_from(TransferRequest)) == 1


async def test_a_manager_of_both_teams_or_an_admin_transfers_at_once(api: Api) -> None:
    for requester, giver, receiver, team in (
        ("manager.east@demo.test", "alice@demo.test", "bob@demo.test", "East"),
        ("director@demo.test", "bob@demo.test", "carol@demo.test", "West"),
        ("admin@demo.test", "carol@demo.test", "alice@demo.test", "East"),
    ):
        ids = await api.owned(giver)
        transfer = (await request(api, requester, ids, receiver))["data"]["requestTransfer"]
        assert transfer["status"] == "APPROVED"
        assert [(a["approver"]["email"], a["approved"]) for a in transfer["approvals"]] == [
            (requester, True)
        ]
        customer = (await api.ok(CUSTOMER, {"id": str(ids[0])}, as_user=receiver))["customer"]
        assert (customer["owner"]["email"], customer["team"]["name"]) == (receiver, team)
        assert await reminders_of(api, transfer["id"]) == {}


async def test_only_an_approver_with_an_undecided_slot_decides(api: Api) -> None:
    ids = await api.owned("alice@demo.test")
    tid = (await request(api, "alice@demo.test", ids, "bob@demo.test"))["data"]["requestTransfer"][
        "id"
    ]
    assert errors_of(await decide(api, "carol@demo.test", tid)) == ["NOT_FOUND"]
    assert errors_of(await decide(api, "director@demo.test", tid)) == ["FORBIDDEN"]
    assert errors_of(await decide(api, "alice@demo.test", tid)) == ["FORBIDDEN"]
    assert errors_of(await decide(api, "bob@demo.test", "987654")) == ["NOT_FOUND"]
    assert not (await decide(api, "bob@demo.test", tid)).get("errors")
    assert errors_of(await decide(api, "bob@demo.test", tid)) == ["FORBIDDEN"]


async def test_capacity_is_checked_when_the_transfer_executes(api: Api) -> None:
    ids = await api.owned("alice@demo.test", 3)
    tid = (await request(api, "alice@demo.test", ids, "carol@demo.test"))["data"][
        "requestTransfer"
    ]["id"]
    carol = await api.user_id("carol@demo.test")
    async with api.services.db.write() as s, s.begin():
        count = await s.scalar(select(func.count()).where(Customer.owner_id == carol))
        await s.execute(update(User).where(User.id == carol).values(capacity=count + 2))
    for approver in ("carol@demo.test", "director@demo.test"):
        assert not (await decide(api, approver, tid)).get("errors")
    full = await decide(api, "manager.east@demo.test", tid)
    assert errors_of(full) == ["CLAIM_LIMIT_REACHED"]
    # Nothing lost: still pending, the manager's slot still open, the customers alice's.
    state = (await api.ok(CUSTOMER, {"id": str(ids[0])}, as_user="alice@demo.test"))["customer"]
    assert state["owner"]["email"] == "alice@demo.test"
    assert await pending_of(api, ids) == {db_id(tid)}
    async with api.services.db.write() as s, s.begin():
        await s.execute(update(User).where(User.id == carol).values(capacity=count + 3))
    done = (await decide(api, "manager.east@demo.test", tid))["data"]["decideTransfer"]
    assert done["status"] == "APPROVED"


async def test_a_receiving_collaborator_gets_their_share_back_as_owner(api: Api) -> None:
    ids = await api.owned("alice@demo.test", 20)
    carol = await api.user_id("carol@demo.test")
    target = None
    for i in ids:
        state = (await api.ok(CUSTOMER, {"id": str(i)}, as_user="alice@demo.test"))["customer"]
        if state["ownerCreditShare"] == 100:
            target = i
            break
    assert target is not None
    await api.ok(ADD_COLLABORATOR, {"c": str(target), "u": str(carol)}, as_user="alice@demo.test")
    transfer = (await request(api, "director@demo.test", [target], "carol@demo.test"))["data"]
    assert transfer["requestTransfer"]["status"] == "APPROVED"
    state = (await api.ok(CUSTOMER, {"id": str(target)}, as_user="carol@demo.test"))["customer"]
    assert state["ownerCreditShare"] == 100 and state["collaborators"] == []
    async with api.services.db.read() as s:
        event = (
            await s.execute(
                select(OwnershipEvent)
                .where(OwnershipEvent.customer_id == target)
                .order_by(OwnershipEvent.id.desc())
                .limit(1)
            )
        ).scalar_one()
    assert event.kind == "TRANSFERRED"
    assert event.details["owner_credit_share"] == 100
    assert event.details["folded_collaborator_share"] == 30


LIST = "query { transferRequests(status: PENDING) { id fromUser { email } } }"


async def test_requests_are_listed_to_their_parties_and_managers_only(api: Api) -> None:
    ids = await api.owned("alice@demo.test")
    tid = (await request(api, "alice@demo.test", ids, "bob@demo.test"))["data"]["requestTransfer"][
        "id"
    ]
    for email, sees in (
        ("alice@demo.test", True),
        ("bob@demo.test", True),
        ("manager.east@demo.test", True),
        ("director@demo.test", True),
        ("admin@demo.test", True),
        ("carol@demo.test", False),
        ("dan@demo.test", False),
    ):
        listed = (await api.ok(LIST, as_user=email))["transferRequests"]
        assert (tid in {t["id"] for t in listed}) is sees, email
    partner = await api.token(partner="acme-channel", scopes=["*"])
    assert errors_of(await api.gql(LIST, token=partner)) == ["FORBIDDEN"]


async def test_the_last_two_approvals_at_once_execute_exactly_once(api: Api) -> None:
    ids = await api.owned("alice@demo.test", 8)
    tids = [
        (await request(api, "alice@demo.test", [i], "bob@demo.test"))["data"]["requestTransfer"][
            "id"
        ]
        for i in ids
    ]
    tokens = [await api.token(e) for e in ("bob@demo.test", "manager.east@demo.test")]
    for token in tokens:  # sign-in writes last_used_at once; keep that out of the race
        await api.gql(LIST, token=token)
    bodies = await asyncio.gather(
        *(api.gql(DECIDE, {"id": tid, "approve": True}, token=t) for tid in tids for t in tokens)
    )
    assert all(not b.get("errors") for b in bodies), bodies
    statuses = [b["data"]["decideTransfer"]["status"] for b in bodies]
    # Per request, the decision that came second saw the other and executed it. (The first
    # may read back after the second committed and see APPROVED too.)
    assert all("APPROVED" in statuses[i : i + 2] for i in range(0, len(statuses), 2))
    async with api.services.db.read() as s:
        events = await s.scalar(
            select(func.count()).where(
                OwnershipEvent.customer_id.in_(ids), OwnershipEvent.kind == "TRANSFERRED"
            )
        )
    assert events == len(ids)
