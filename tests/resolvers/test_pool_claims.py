"""Claim rules of a pool and locks, through the real app on both backends, with the clock
moved and real concurrency: daily limits at local midnight, the embargo on new arrivals,
capacity without closed deals, lock quotas, unlocking, protection."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from db.models import Customer, User
from kernel.clock import FrozenClock
from tests.conftest import Api, db_id, errors_of, serve
from tests.resolvers.test_pool import add_reps
from tests.resolvers.test_pools import ADMIN, RELEASE, UPDATE, default_pool

CLAIM = (
    "mutation C($id: ID!) { claimCustomer(customerId: $id) { id owner { email } protectedUntil } }"
)
LEFT = "{ me { claimsLeftToday lockedCount lockQuota } }"
LOCK = """mutation L($id: ID!, $until: DateTime) {
  lockCustomer(customerId: $id, reason: "big deal", until: $until) { id locked lockedUntil } }"""
UNLOCK = "mutation U($id: ID!) { unlockCustomer(customerId: $id) { id locked } }"
ASSIGN = """mutation A($id: ID!, $to: ID!) {
  assignCustomer(customerId: $id, toUserId: $to, reason: "r") { id locked } }"""


async def set_rules(api: Api, **rules: object) -> str:
    pid = await default_pool(api)
    await api.ok(
        UPDATE, {"id": pid, "input": {"name": "Public pool", "rules": rules}}, as_user=ADMIN
    )
    return pid


async def pool_customers(api: Api, n: int) -> list[int]:
    async with api.services.db.read() as session:
        stmt = select(Customer.id).where(Customer.owner_id.is_(None)).order_by(Customer.id)
        return list((await session.execute(stmt.limit(n))).scalars())


async def lock_quota(api: Api, email: str, quota: int | None) -> None:
    async with api.services.db.write() as session, session.begin():
        await session.execute(update(User).where(User.email == email).values(lock_quota=quota))


async def test_the_daily_limit_resets_at_local_midnight(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    # 09:00 UTC is 17:00 in Shanghai; the next local day starts at 16:00 UTC.
    async with serve(database_url, clock, tmp_path, org_time_zone="Asia/Shanghai") as api:
        await set_rules(api, dailyClaimLimit=2)
        a, b, c = await pool_customers(api, 3)
        token = await api.token("bob@demo.test")
        assert (await api.ok(LEFT, token=token))["me"]["claimsLeftToday"] == 2
        await api.ok(CLAIM, {"id": str(a)}, token=token)
        await api.ok(CLAIM, {"id": str(b)}, token=token)
        assert (await api.ok(LEFT, token=token))["me"]["claimsLeftToday"] == 0
        body = await api.gql(CLAIM, {"id": str(c)}, token=token)
        assert errors_of(body) == ["CLAIM_LIMIT_REACHED"]
        assert body["errors"][0]["extensions"]["period"] == "day"
        clock.advance(hours=6, minutes=59)  # 15:59 UTC: still the same local day
        body = await api.gql(CLAIM, {"id": str(c)}, token=token)
        assert errors_of(body) == ["CLAIM_LIMIT_REACHED"]
        clock.advance(minutes=2)  # 16:01 UTC: a new day in Shanghai
        assert (await api.ok(LEFT, token=token))["me"]["claimsLeftToday"] == 2
        await api.ok(CLAIM, {"id": str(c)}, token=token)
        # Another user's limit is their own.
        (d,) = await pool_customers(api, 1)
        await api.ok(CLAIM, {"id": str(d)}, as_user="alice@demo.test")


async def test_new_arrivals_wait_out_the_embargo_except_for_pool_admins(
    api: Api, clock: FrozenClock
) -> None:
    pid = await set_rules(api, newArrivalEmbargoHours=24)
    first, second = await api.owned("alice@demo.test", 2)
    await api.ok(RELEASE, {"id": str(first)}, as_user="alice@demo.test")
    await api.ok(RELEASE, {"id": str(second)}, as_user="alice@demo.test")
    body = await api.gql(CLAIM, {"id": str(first)}, as_user="bob@demo.test")
    assert errors_of(body) == ["POOL_EMBARGO"]
    until = body["errors"][0]["extensions"]["until"]
    assert until.startswith((clock.now() + timedelta(hours=24)).date().isoformat())
    # Carol administers the pool: she may claim at once.
    carol = str(await api.user_id("carol@demo.test"))
    await api.ok(
        UPDATE, {"id": pid, "input": {"name": "Public pool", "adminIds": [carol]}}, as_user=ADMIN
    )
    await api.ok(CLAIM, {"id": str(second)}, as_user="carol@demo.test")
    clock.advance(hours=24)
    data = await api.ok(CLAIM, {"id": str(first)}, as_user="bob@demo.test")
    assert data["claimCustomer"]["owner"]["email"] == "bob@demo.test"


async def test_a_claim_is_protected_for_the_pools_protection_days(
    api: Api, clock: FrozenClock
) -> None:
    await set_rules(api, protectionDays=7)
    (cid,) = await pool_customers(api, 1)
    data = await api.ok(CLAIM, {"id": str(cid)}, as_user="bob@demo.test")
    until = (clock.now() + timedelta(days=7)).isoformat()
    assert data["claimCustomer"]["protectedUntil"][:19] == until[:19]


async def test_closed_deals_need_not_count_toward_capacity(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(database_url, clock, tmp_path, capacity_counts_closed_deals=False) as api:
        uid = await api.user_id("bob@demo.test")
        async with api.services.db.write() as session, session.begin():
            await session.execute(
                update(Customer).where(Customer.owner_id == uid).values(stage="ACTIVE")
            )
            await session.execute(update(User).where(User.id == uid).values(capacity=1))
        a, b = await pool_customers(api, 2)
        await api.ok(CLAIM, {"id": str(a)}, as_user="bob@demo.test")
        body = await api.gql(CLAIM, {"id": str(b)}, as_user="bob@demo.test")
        assert errors_of(body) == ["CLAIM_LIMIT_REACHED"]


async def test_of_concurrent_claims_exactly_one_wins(api: Api) -> None:
    emails = await add_reps(api, 8)
    tokens = [await api.token(e) for e in emails]
    (cid,) = await pool_customers(api, 1)
    bodies = await asyncio.gather(*(api.gql(CLAIM, {"id": str(cid)}, token=t) for t in tokens))
    won = [b for b in bodies if not b.get("errors")]
    assert len(won) == 1
    assert all(errors_of(b) == ["CONFLICT"] for b in bodies if b.get("errors"))


async def test_concurrent_claims_never_pass_the_daily_limit(api: Api) -> None:
    await set_rules(api, dailyClaimLimit=2)
    token = await api.token("bob@demo.test")
    ids = await pool_customers(api, 6)
    bodies = await asyncio.gather(*(api.gql(CLAIM, {"id": str(i)}, token=token) for i in ids))
    won = [b for b in bodies if not b.get("errors")]
    assert len(won) <= 2
    assert all(
        set(errors_of(b)) <= {"CLAIM_LIMIT_REACHED", "CONFLICT"} for b in bodies if b.get("errors")
    )
    owned = {db_id(b["data"]["claimCustomer"]["id"]) for b in won}
    uid = await api.user_id("bob@demo.test")
    async with api.services.db.read() as session:
        mine = set(
            (
                await session.execute(
                    select(Customer.id).where(Customer.owner_id == uid, Customer.id.in_(ids))
                )
            ).scalars()
        )
    assert mine == owned
    # Sequentially the limit is reached exactly.
    for i in ids:
        if i not in owned and len(owned) < 2:
            await api.ok(CLAIM, {"id": str(i)}, token=token)
            owned.add(i)
    assert (await api.ok(LEFT, token=token))["me"]["claimsLeftToday"] == 0


async def test_locks_keep_to_the_quota_and_end_with_the_ownership(
    api: Api, clock: FrozenClock
) -> None:
    await lock_quota(api, "alice@demo.test", 1)
    first, second, third = await api.owned("alice@demo.test", 3)
    body = await api.gql(LOCK, {"id": str(first)}, as_user="bob@demo.test")
    assert errors_of(body) == ["NOT_FOUND"]  # not bob's to see
    data = await api.ok(LOCK, {"id": str(first)}, as_user="alice@demo.test")
    assert data["lockCustomer"]["locked"] and data["lockCustomer"]["lockedUntil"] is None
    me = (await api.ok(LEFT, as_user="alice@demo.test"))["me"]
    assert me["lockedCount"] == 1 and me["lockQuota"] == 1
    body = await api.gql(LOCK, {"id": str(second)}, as_user="alice@demo.test")
    assert errors_of(body) == ["LOCK_LIMIT_REACHED"]
    body = await api.gql(RELEASE, {"id": str(first)}, as_user="alice@demo.test")
    assert errors_of(body) == ["CUSTOMER_LOCKED"]
    # Her manager unlocks it; then she locks another one until tomorrow.
    data = await api.ok(UNLOCK, {"id": str(first)}, as_user="manager.east@demo.test")
    assert not data["unlockCustomer"]["locked"]
    until = (clock.now() + timedelta(days=1)).isoformat()
    data = await api.ok(LOCK, {"id": str(second), "until": until}, as_user="alice@demo.test")
    assert data["lockCustomer"]["lockedUntil"] is not None
    clock.advance(days=1, seconds=1)  # the lock ran out: the quota is free again
    await api.ok(LOCK, {"id": str(third)}, as_user="alice@demo.test")
    # A lock ends when the owner changes.
    bob = str(await api.user_id("bob@demo.test"))
    data = await api.ok(ASSIGN, {"id": str(third), "to": bob}, as_user="manager.east@demo.test")
    assert not data["assignCustomer"]["locked"]
    assert (await api.ok(LEFT, as_user="alice@demo.test"))["me"]["lockedCount"] == 0
    # No quota: may not lock at all.
    await lock_quota(api, "bob@demo.test", None)
    body = await api.gql(LOCK, {"id": str(third)}, as_user="bob@demo.test")
    assert errors_of(body) == ["LOCK_LIMIT_REACHED"]


async def test_only_the_owner_their_manager_or_admin_unlock(api: Api) -> None:
    await lock_quota(api, "carol@demo.test", 5)
    (cid,) = await api.owned("carol@demo.test")
    await api.ok(LOCK, {"id": str(cid)}, as_user="carol@demo.test")
    body = await api.gql(UNLOCK, {"id": str(cid)}, as_user="manager.east@demo.test")
    assert errors_of(body) == ["NOT_FOUND"]  # West is not his team
    await api.ok(UNLOCK, {"id": str(cid)}, as_user=ADMIN)
    await api.ok(LOCK, {"id": str(cid)}, as_user="carol@demo.test")
    await api.ok(UNLOCK, {"id": str(cid)}, as_user="carol@demo.test")
    body = await api.gql(UNLOCK, {"id": str(cid)}, as_user="carol@demo.test")
    assert errors_of(body) == ["CONFLICT"]
