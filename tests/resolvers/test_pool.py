"""assignCustomer, releaseToPool and claimCustomer through the real app, on both backends,
with real concurrency for the races."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, insert, select, update

from db.enums import Role
from db.models import Collaborator, Customer, OwnershipEvent, Team, TransferRequest, User
from kernel.clock import FrozenClock
from tests.conftest import Api, errors_of

FIELDS = "id version inPool owner { email } team { name }"
CLAIM = f"mutation C($id: ID!) {{ claimCustomer(customerId: $id) {{ {FIELDS} }} }}"
RELEASE = f"""
mutation R($id: ID!, $reason: String!) {{
  releaseToPool(customerId: $id, reason: $reason) {{ {FIELDS} }}
}}
"""
ASSIGN = f"""
mutation A($id: ID!, $to: ID!, $reason: String!) {{
  assignCustomer(customerId: $id, toUserId: $to, reason: $reason) {{ {FIELDS} }}
}}
"""
HISTORY = """
query H($id: ID!) {
  customer(id: $id) {
    ownershipHistory(first: 100) { edges { node {
      kind rule reason fromOwner { email } toOwner { email } actor { email }
    } } }
  }
}
"""


async def pool_ids(api: Api, n: int = 1) -> list[int]:
    async with api.services.db.read() as session:
        stmt = select(Customer.id).where(Customer.owner_id.is_(None)).order_by(Customer.id)
        return list((await session.execute(stmt.limit(n))).scalars())


async def row(api: Api, customer_id: int) -> Customer:
    async with api.services.db.read() as session:
        return (
            await session.execute(select(Customer).where(Customer.id == customer_id))
        ).scalar_one()


async def last_event(api: Api, customer_id: int) -> OwnershipEvent:
    async with api.services.db.read() as session:
        stmt = (
            select(OwnershipEvent)
            .where(OwnershipEvent.customer_id == customer_id)
            .order_by(OwnershipEvent.id.desc())
            .limit(1)
        )
        return (await session.execute(stmt)).scalar_one()


async def events_of(api: Api, customer_id: int, kind: str) -> int:
    async with api.services.db.read() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(OwnershipEvent)
                .where(OwnershipEvent.customer_id == customer_id, OwnershipEvent.kind == kind)
            )
            or 0
        )


async def set_capacity(api: Api, email: str, *, spare: int) -> int:
    """Cap the user at what they own now plus `spare`; returns the cap."""
    uid = await api.user_id(email)
    async with api.services.db.write() as session, session.begin():
        owned = await session.scalar(
            select(func.count()).select_from(Customer).where(Customer.owner_id == uid)
        )
        cap = int(owned or 0) + spare
        await session.execute(update(User).where(User.id == uid).values(capacity=cap))
    return cap


async def add_reps(api: Api, n: int, team: str = "East") -> list[str]:
    emails = [f"racer{i}@demo.test" for i in range(n)]
    async with api.services.db.write() as session, session.begin():
        team_id = await session.scalar(select(Team.id).where(Team.name == team))
        await session.execute(
            insert(User),
            [
                {
                    "name": f"Racer {i}",
                    "email": e,
                    "role": Role.REP,
                    "team_id": team_id,
                    "regions": [],
                    "industries": [],
                    "capacity": 500,
                    "active": True,
                    "created_at": api.services.clock.now(),
                }
                for i, e in enumerate(emails)
            ],
        )
    return emails


async def test_claim_takes_a_pool_customer_with_one_event(api: Api, clock: FrozenClock) -> None:
    (cid,) = await pool_ids(api)
    before = await row(api, cid)
    clock.advance(hours=1)
    data = await api.ok(CLAIM, {"id": str(cid)}, as_user="alice@demo.test")
    claimed = data["claimCustomer"]
    assert claimed["owner"]["email"] == "alice@demo.test" and not claimed["inPool"]
    assert claimed["team"]["name"] == "East" and claimed["version"] == before.version + 1
    after = await row(api, cid)
    assert after.recycle_clock_at == after.owned_since == clock.now()
    event = await last_event(api, cid)
    assert (event.kind, event.to_user_id, event.actor_id, event.rule) == (
        "CLAIMED",
        await api.user_id("alice@demo.test"),
        await api.user_id("alice@demo.test"),
        "pool_claim",
    )


async def test_ten_reps_racing_for_one_customer_exactly_one_wins(api: Api) -> None:
    (cid,) = await pool_ids(api)
    emails = await add_reps(api, 10)
    tokens = [await api.token(e) for e in emails]
    for token in tokens:  # first use records the token's last use: not part of the race
        await api.ok("{ me { id } }", token=token)

    bodies = await asyncio.gather(*(api.gql(CLAIM, {"id": str(cid)}, token=t) for t in tokens))

    winners = [b for b in bodies if not b.get("errors")]
    losers = [b for b in bodies if b.get("errors")]
    assert len(winners) == 1, bodies
    assert all(errors_of(b) == ["CONFLICT"] for b in losers), losers
    winner = winners[0]["data"]["claimCustomer"]["owner"]["email"]
    for body in losers:
        message = body["errors"][0]["message"]
        assert "someone else" in message and winner not in message and "Racer" not in message
    assert await events_of(api, cid, "CLAIMED") == 1
    assert (await row(api, cid)).owner_id == await api.user_id(winner)


async def test_capacity_holds_under_concurrent_claims(api: Api) -> None:
    cap = await set_capacity(api, "alice@demo.test", spare=2)
    ids = await pool_ids(api, 6)
    token = await api.token("alice@demo.test")
    await api.ok("{ me { id } }", token=token)

    bodies = await asyncio.gather(*(api.gql(CLAIM, {"id": str(i)}, token=token) for i in ids))

    codes = sorted(errors_of(b)[0] if b.get("errors") else "OK" for b in bodies)
    assert codes == ["CLAIM_LIMIT_REACHED"] * 4 + ["OK"] * 2, bodies
    limited = next(b for b in bodies if b.get("errors"))["errors"][0]
    assert limited["extensions"]["limit"] == cap and str(cap) in limited["message"]
    uid = await api.user_id("alice@demo.test")
    async with api.services.db.read() as session:
        owned = await session.scalar(
            select(func.count()).select_from(Customer).where(Customer.owner_id == uid)
        )
    assert owned == cap


async def test_release_then_cooldown_then_reclaim(api: Api, clock: FrozenClock) -> None:
    (cid,) = await api.owned("alice@demo.test")
    alice = await api.user_id("alice@demo.test")
    released = (
        await api.ok(RELEASE, {"id": str(cid), "reason": "no budget"}, as_user="alice@demo.test")
    )["releaseToPool"]
    assert released["inPool"] and released["owner"] is None and released["team"] is None
    after = await row(api, cid)
    assert (after.previous_owner_id, after.pooled_at, after.recycle_clock_at) == (
        alice,
        clock.now(),
        clock.now(),
    )
    event = await last_event(api, cid)
    assert (event.kind, event.from_user_id, event.actor_id, event.reason) == (
        "RELEASED",
        alice,
        alice,
        "no budget",
    )

    clock.advance(days=10)
    body = await api.gql(CLAIM, {"id": str(cid)}, as_user="alice@demo.test")
    assert errors_of(body) == ["COOLDOWN_ACTIVE"]
    until = (after.pooled_at + timedelta(days=30)).date().isoformat()
    assert (
        body["errors"][0]["extensions"]["until"] == until and until in body["errors"][0]["message"]
    )

    clock.advance(days=20, minutes=1)
    data = await api.ok(CLAIM, {"id": str(cid)}, as_user="alice@demo.test")
    assert data["claimCustomer"]["owner"]["email"] == "alice@demo.test"


async def test_release_and_claim_refusals(api: Api) -> None:
    (alices,) = await api.owned("alice@demo.test")
    (carols,) = await api.owned("carol@demo.test")
    (pooled,) = await pool_ids(api)
    as_alice = await api.token("alice@demo.test")
    cases = [
        (RELEASE, {"id": str(carols), "reason": "x"}, "NOT_FOUND"),  # invisible to alice
        (RELEASE, {"id": str(pooled), "reason": "x"}, "FORBIDDEN"),  # visible, not hers
        (RELEASE, {"id": str(alices), "reason": "  "}, "VALIDATION"),
        (CLAIM, {"id": str(carols)}, "NOT_FOUND"),  # owned for long: looks nonexistent
        (CLAIM, {"id": "99999999"}, "NOT_FOUND"),
        (CLAIM, {"id": "not-an-id"}, "NOT_FOUND"),
        (CLAIM, {"id": str(alices)}, "CONFLICT"),  # already hers
    ]
    for query, variables, code in cases:
        assert errors_of(await api.gql(query, variables, token=as_alice)) == [code], variables
    body = await api.gql(CLAIM, {"id": str(pooled)}, as_user="manager.east@demo.test")
    assert errors_of(body) == ["FORBIDDEN"]  # claiming is for reps
    assert errors_of(
        await api.gql(RELEASE, {"id": str(pooled), "reason": "x"}, as_user="admin@demo.test")
    ) == ["CONFLICT"]


async def test_manager_assigns_within_the_team(api: Api, clock: FrozenClock) -> None:
    (cid,) = await api.owned("alice@demo.test")
    (pooled,) = await pool_ids(api)
    (carols,) = await api.owned("carol@demo.test")
    alice, bob, carol = [
        await api.user_id(e) for e in ("alice@demo.test", "bob@demo.test", "carol@demo.test")
    ]
    before = await row(api, cid)
    clock.advance(hours=2)
    token = await api.token("manager.east@demo.test")

    moved = await api.ok(ASSIGN, {"id": str(cid), "to": str(bob), "reason": "balance"}, token=token)
    assert moved["assignCustomer"]["owner"]["email"] == "bob@demo.test"
    assert moved["assignCustomer"]["version"] == before.version + 1
    after = await row(api, cid)
    assert (after.owner_id, after.previous_owner_id, after.team_id) == (bob, alice, before.team_id)
    assert after.owned_since == after.recycle_clock_at == clock.now()
    history = await api.ok(HISTORY, {"id": str(cid)}, token=token)
    last = history["customer"]["ownershipHistory"]["edges"][-1]["node"]
    assert last == {
        "kind": "ASSIGNED",
        "rule": "manual",
        "reason": "balance",
        "fromOwner": {"email": "alice@demo.test"},
        "toOwner": {"email": "bob@demo.test"},
        "actor": {"email": "manager.east@demo.test"},
    }

    from_pool = await api.ok(
        ASSIGN, {"id": str(pooled), "to": str(alice), "reason": "fits"}, token=token
    )
    assert from_pool["assignCustomer"]["team"]["name"] == "East"

    refusals = [
        ({"id": str(cid), "to": str(carol), "reason": "x"}, "FORBIDDEN"),  # carol is West
        ({"id": str(carols), "to": str(bob), "reason": "x"}, "NOT_FOUND"),  # a West customer
        ({"id": str(cid), "to": "424242", "reason": "x"}, "NOT_FOUND"),
        ({"id": str(cid), "to": str(bob), "reason": "x"}, "VALIDATION"),  # bob has it
        ({"id": str(cid), "to": str(alice), "reason": ""}, "VALIDATION"),
    ]
    for variables, code in refusals:
        assert errors_of(await api.gql(ASSIGN, variables, token=token)) == [code], variables
    assert await events_of(api, cid, "ASSIGNED") == 1


async def test_director_assigns_in_the_subtree_admin_anywhere_rep_never(api: Api) -> None:
    ids = await api.owned("alice@demo.test", 2)
    carol, dan, bob = [
        await api.user_id(e) for e in ("carol@demo.test", "dan@demo.test", "bob@demo.test")
    ]
    data = await api.ok(
        ASSIGN,
        {"id": str(ids[0]), "to": str(carol), "reason": "west lead"},
        as_user="director@demo.test",
    )
    assert data["assignCustomer"]["team"]["name"] == "West"
    data = await api.ok(
        ASSIGN, {"id": str(ids[1]), "to": str(dan), "reason": "svc"}, as_user="admin@demo.test"
    )
    assert data["assignCustomer"]["owner"]["email"] == "dan@demo.test"
    (alices,) = await api.owned("alice@demo.test")
    body = await api.gql(
        ASSIGN, {"id": str(alices), "to": str(bob), "reason": "x"}, as_user="alice@demo.test"
    )
    assert errors_of(body) == ["FORBIDDEN"]
    auditor = await api.user_id("audit@demo.test")
    body = await api.gql(
        ASSIGN, {"id": str(alices), "to": str(auditor), "reason": "x"}, as_user="admin@demo.test"
    )
    assert errors_of(body) == ["VALIDATION"]


async def test_assign_refuses_inactive_full_and_pending_transfer(api: Api) -> None:
    ids = await api.owned("alice@demo.test", 2)
    bob = await api.user_id("bob@demo.test")
    token = await api.token("manager.east@demo.test")
    variables = {"id": str(ids[0]), "to": str(bob), "reason": "x"}

    cap = await set_capacity(api, "bob@demo.test", spare=0)
    body = await api.gql(ASSIGN, variables, token=token)
    assert errors_of(body) == ["CLAIM_LIMIT_REACHED"]
    assert body["errors"][0]["extensions"]["limit"] == cap

    async with api.services.db.write() as session, session.begin():
        await session.execute(
            update(User).where(User.id == bob).values(capacity=None, active=False)
        )
    assert errors_of(await api.gql(ASSIGN, variables, token=token)) == ["VALIDATION"]

    async with api.services.db.write() as session, session.begin():
        await session.execute(update(User).where(User.id == bob).values(active=True))
        transfer = TransferRequest(
            from_user_id=await api.user_id("alice@demo.test"),
            to_user_id=bob,
            requested_by_id=bob,
            kind="REASSIGNMENT",
            reason="mine",
            created_at=api.services.clock.now(),
        )
        session.add(transfer)
        await session.flush()
        await session.execute(
            update(Customer).where(Customer.id == ids[1]).values(pending_transfer_id=transfer.id)
        )
    body = await api.gql(ASSIGN, {**variables, "id": str(ids[1])}, token=token)
    assert errors_of(body) == ["CONFLICT"]
    assert (await row(api, ids[1])).owner_id == await api.user_id("alice@demo.test")


async def test_a_collaborator_who_becomes_owner_keeps_shares_at_100(api: Api) -> None:
    async with api.services.db.read() as session:
        collab = (
            await session.execute(
                select(Collaborator)
                .join(Customer, Customer.id == Collaborator.customer_id)
                .join(User, User.id == Collaborator.user_id)
                .where(User.email == "bob@demo.test", Customer.owner_id.is_not(None))
                .order_by(Collaborator.customer_id)
                .limit(1)
            )
        ).scalar_one()
    before = await row(api, collab.customer_id)
    bob = await api.user_id("bob@demo.test")
    await api.ok(
        ASSIGN,
        {"id": str(collab.customer_id), "to": str(bob), "reason": "he runs it"},
        as_user="admin@demo.test",
    )
    after = await row(api, collab.customer_id)
    assert after.owner_credit_share == before.owner_credit_share + collab.credit_share
    event = await last_event(api, collab.customer_id)
    assert event.details["collaborator_removed"]["user_id"] == bob
    async with api.services.db.read() as session:
        shares = (
            await session.execute(
                select(func.coalesce(func.sum(Collaborator.credit_share), 0)).where(
                    Collaborator.customer_id == collab.customer_id
                )
            )
        ).scalar_one()
    assert after.owner_credit_share + shares == 100
