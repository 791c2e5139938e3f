"""handOverPortfolio and deactivateUser (departures), through the API on both backends."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, insert, select, update

from db.models import Customer, OwnershipEvent, Reminder, TransferRequest, User
from resolvers.ids import global_id
from tests.conftest import SEED_TIME, Api, db_id, errors_of

HAND_OVER = """
mutation H($from: ID!, $to: ID, $reason: String!) {
  handOverPortfolio(fromUserId: $from, toUserId: $to, reason: $reason) {
    moved toPool toUser { email }
  }
}
"""
DEACTIVATE = """
mutation D($id: ID!, $to: ID) {
  deactivateUser(id: $id, handOverToUserId: $to) { id email active }
}
"""
REQUEST = """
mutation R($input: RequestTransferInput!) { requestTransfer(input: $input) { id status } }
"""
ME = "query { me { email } }"


async def owner_counts(api: Api) -> dict[int | None, int]:
    async with api.services.db.read() as s:
        rows = await s.execute(select(Customer.owner_id, func.count()).group_by(Customer.owner_id))
        return {owner: n for owner, n in rows}


async def hand_over(
    api: Api, as_user: str, leaver: int, successor: int | None, **kw: Any
) -> dict[str, Any]:
    variables = {
        "from": str(leaver),
        "to": None if successor is None else str(successor),
        "reason": kw.get("reason", "Leaving the company at the end of the month."),
    }
    return await api.gql(HAND_OVER, variables, token=kw.get("token"), as_user=as_user)


async def pending_transfer(api: Api, giver: str, to: str) -> tuple[str, int]:
    uid = await api.user_id(giver)
    async with api.services.db.read() as s:
        cid = await s.scalar(select(Customer.id).where(Customer.owner_id == uid).limit(1))
    body = await api.ok(
        REQUEST,
        {
            "input": {
                "customerIds": [str(cid)],
                "toUserId": str(await api.user_id(to)),
                "kind": "REFERRAL",
                "reason": "Their cousin runs it.",
            }
        },
        as_user=giver,
    )
    return body["requestTransfer"]["id"], cid


async def transfer_state(api: Api, tid: str) -> tuple[str, set[str]]:
    async with api.services.db.read() as s:
        status = await s.scalar(
            select(TransferRequest.status).where(TransferRequest.id == db_id(tid))
        )
        reminders = set(
            (
                await s.execute(
                    select(Reminder.status).where(
                        Reminder.kind == "TRANSFER_APPROVAL", Reminder.ref_id == db_id(tid)
                    )
                )
            ).scalars()
        )
    return str(status), reminders


async def test_a_departure_hands_the_whole_portfolio_to_the_successor(api: Api) -> None:
    alice, bob = await api.user_id("alice@demo.test"), await api.user_id("bob@demo.test")
    tid, _ = await pending_transfer(api, "alice@demo.test", "carol@demo.test")
    before = await owner_counts(api)
    # Capacity is not enforced for a departure: nobody's customers may go dark.
    async with api.services.db.write() as s, s.begin():
        await s.execute(update(User).where(User.id == bob).values(capacity=1))
    result = (await hand_over(api, "manager.east@demo.test", alice, bob))["data"]
    assert result["handOverPortfolio"] == {
        "moved": before[alice],
        "toPool": False,
        "toUser": {"email": "bob@demo.test"},
    }
    after = await owner_counts(api)
    assert alice not in after and after[bob] == before[bob] + before[alice]
    assert await transfer_state(api, tid) == ("CANCELLED", {"CANCELLED"})
    async with api.services.db.read() as s:
        events = list(
            (
                await s.execute(
                    select(OwnershipEvent).where(
                        OwnershipEvent.from_user_id == alice, OwnershipEvent.rule == "departure"
                    )
                )
            ).scalars()
        )
        pending = await s.scalar(
            select(func.count()).where(
                Customer.owner_id == bob, Customer.pending_transfer_id.is_not(None)
            )
        )
        departure = (
            await s.execute(select(TransferRequest).where(TransferRequest.kind == "DEPARTURE"))
        ).scalar_one()
    assert len(events) == len({e.customer_id for e in events}) == before[alice]
    assert {(e.kind, e.to_user_id, e.at) for e in events} == {("TRANSFERRED", bob, SEED_TIME)}
    assert pending == 0
    assert (departure.status, departure.from_user_id, departure.to_user_id) == (
        "APPROVED",
        alice,
        bob,
    )


async def test_a_departure_without_successor_releases_to_the_pool(api: Api) -> None:
    carol = await api.user_id("carol@demo.test")
    before = await owner_counts(api)
    body = await hand_over(api, "director@demo.test", carol, None)
    assert body["data"]["handOverPortfolio"] == {
        "moved": before[carol],
        "toPool": True,
        "toUser": None,
    }
    after = await owner_counts(api)
    assert carol not in after and after[None] == before[None] + before[carol]
    async with api.services.db.read() as s:
        kinds = (
            await s.execute(
                select(OwnershipEvent.kind, func.count())
                .where(OwnershipEvent.from_user_id == carol, OwnershipEvent.rule == "departure")
                .group_by(OwnershipEvent.kind)
            )
        ).all()
        pooled = await s.scalar(
            select(func.count()).where(
                Customer.previous_owner_id == carol,
                Customer.pooled_at == SEED_TIME,
                Customer.team_id.is_(None),
            )
        )
    assert [tuple(k) for k in kinds] == [("RELEASED", before[carol])]
    assert pooled == before[carol]


async def test_who_may_hand_over_and_to_whom(api: Api) -> None:
    ids = {e: await api.user_id(e) for e in ("alice@demo.test", "bob@demo.test")}
    ids |= {e: await api.user_id(e) for e in ("carol@demo.test", "audit@demo.test")}
    alice, bob, carol, audit = ids.values()
    async with api.services.db.write() as s, s.begin():
        dan = await s.scalar(select(User.id).where(User.email == "dan@demo.test"))
        await s.execute(update(User).where(User.id == dan).values(active=False))
    before = await owner_counts(api)
    cases = [
        ("alice@demo.test", alice, bob, {}, "FORBIDDEN"),  # a rep hands over nobody
        ("manager.east@demo.test", carol, bob, {}, "FORBIDDEN"),  # not their team
        ("manager.east@demo.test", alice, carol, {}, "FORBIDDEN"),  # nor to another team
        ("admin@demo.test", 7777777, bob, {}, "NOT_FOUND"),
        ("admin@demo.test", alice, 7777777, {}, "NOT_FOUND"),
        ("admin@demo.test", alice, alice, {}, "VALIDATION"),
        ("admin@demo.test", alice, audit, {}, "VALIDATION"),
        ("admin@demo.test", alice, dan, {}, "VALIDATION"),  # deactivated successor
        ("admin@demo.test", alice, bob, {"reason": ""}, "VALIDATION"),
    ]
    for as_user, leaver, successor, kw, code in cases:
        body = await hand_over(api, as_user, leaver, successor, **kw)
        assert errors_of(body) == [code], (as_user, leaver, successor, body)
    assert await owner_counts(api) == before


async def _bulk_portfolio(api: Api, email: str, n: int) -> int:
    """A user with `n` customers, written straight into the database."""
    async with api.services.db.write() as s, s.begin():
        east = await s.scalar(select(User.team_id).where(User.email == "alice@demo.test"))
        user = User(
            name=email, email=email, role="REP", team_id=east, created_at=SEED_TIME, capacity=5
        )
        s.add(user)
        await s.flush()
        rows = [
            {
                "name": f"{email} customer {i}",
                "name_key": f"{email}customer{i}",
                "tier": "C",
                "stage": "NEW",
                "tags": [],
                "created_at": SEED_TIME,
                "updated_at": SEED_TIME,
                "recycle_clock_at": SEED_TIME,
                "owner_id": user.id,
                "team_id": east,
                "owner_credit_share": 100,
                "version": 1,
            }
            for i in range(n)
        ]
        await s.execute(insert(Customer), rows)
        assert user.id is not None
        return user.id


async def test_ten_thousand_customers_move_in_one_call_with_constant_statements(
    api: Api,
) -> None:
    small = await _bulk_portfolio(api, "small@demo.test", 10)
    big = await _bulk_portfolio(api, "big@demo.test", 10_000)
    bob = await api.user_id("bob@demo.test")
    counts = []
    for leaver, n in ((small, 10), (big, 10_000)):
        token = await api.token("admin@demo.test")
        api.statements.clear()
        body = await hand_over(api, None, leaver, bob, token=token)  # type: ignore[arg-type]
        counts.append(len(api.statements))
        assert body["data"]["handOverPortfolio"]["moved"] == n, body
    assert counts[0] == counts[1], counts
    async with api.services.db.read() as s:
        total, distinct = (
            await s.execute(
                select(func.count(), func.count(func.distinct(OwnershipEvent.customer_id))).where(
                    OwnershipEvent.from_user_id == big, OwnershipEvent.kind == "TRANSFERRED"
                )
            )
        ).one()
        moved = await s.scalar(
            select(func.count()).where(Customer.owner_id == bob, Customer.previous_owner_id == big)
        )
    assert total == distinct == moved == 10_000


async def test_deactivating_a_user_ends_their_tokens_and_hands_over(api: Api) -> None:
    alice, bob = await api.user_id("alice@demo.test"), await api.user_id("bob@demo.test")
    tokens = [await api.token("alice@demo.test"), await api.token("alice@demo.test")]
    assert (await api.ok(ME, token=tokens[0]))["me"]["email"] == "alice@demo.test"
    incoming, cid = await pending_transfer(api, "bob@demo.test", "alice@demo.test")
    before = await owner_counts(api)
    async with api.services.bus.subscribe("revocations") as messages:
        body = await api.gql(
            DEACTIVATE, {"id": str(alice), "to": str(bob)}, as_user="admin@demo.test"
        )
        message = await asyncio.wait_for(anext(messages), 2)
    assert body["data"]["deactivateUser"] == {
        "id": global_id("User", alice),
        "email": "alice@demo.test",
        "active": False,
    }
    assert message == {"user_id": alice}
    for token in tokens:
        assert errors_of(await api.gql(ME, token=token)) == ["UNAUTHENTICATED"]
    after = await owner_counts(api)
    assert alice not in after and after[bob] == before[bob] + before[alice]
    # A transfer to the departed user can never complete: it is cancelled.
    assert await transfer_state(api, incoming) == ("CANCELLED", {"CANCELLED"})
    async with api.services.db.read() as s:
        assert (
            await s.scalar(select(Customer.pending_transfer_id).where(Customer.id == cid)) is None
        )
        user = await s.get(User, alice)
        open_reminders = await s.scalar(
            select(func.count()).where(
                Reminder.user_id == alice, Reminder.status.in_(("PENDING", "SNOOZED"))
            )
        )
    assert user is not None and user.deactivated_at == SEED_TIME
    assert open_reminders == 0


async def test_who_may_deactivate(api: Api) -> None:
    ids = {e: await api.user_id(e) for e in ("admin@demo.test", "carol@demo.test")}
    admin, carol = ids.values()
    cases = [
        ("manager.east@demo.test", carol, "FORBIDDEN"),
        ("director@demo.test", admin, "FORBIDDEN"),  # outside the director's subtree
        ("admin@demo.test", admin, "VALIDATION"),  # not yourself
        ("admin@demo.test", 123456789, "NOT_FOUND"),
    ]
    for as_user, target, code in cases:
        body = await api.gql(DEACTIVATE, {"id": str(target)}, as_user=as_user)
        assert errors_of(body) == [code], (as_user, target, body)
    done = await api.ok(DEACTIVATE, {"id": str(carol)}, as_user="director@demo.test")
    assert done["deactivateUser"]["active"] is False
    again = await api.gql(DEACTIVATE, {"id": str(carol)}, as_user="director@demo.test")
    assert errors_of(again) == ["VALIDATION"]
    assert carol not in await owner_counts(api)  # to the pool
