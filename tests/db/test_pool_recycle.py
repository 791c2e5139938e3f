"""Recycling by each pool's rules, through the real app and scheduler with the clock moved:
per-tier no-follow-up days, no-deal days, closed deals exempt, locks and protection,
each pool's warning days; and `recycleDueAt` always says what the job will do (one rule
builds both: a property test)."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from db.models import Customer, OwnershipEvent, Reminder, User
from kernel.clock import FrozenClock
from ownergraph.scheduler import run_jobs_once
from resolvers.ids import global_id
from tests.conftest import SEED_TIME, Api, db_id, serve
from tests.resolvers.test_pools import ADMIN, CREATE, UPDATE, default_pool, team_id

_batch = itertools.count()
DUE = "query N($ids: [ID!]!) { nodes(ids: $ids) { ... on Customer { id recycleDueAt } } }"


def gids(*ids: int) -> list[str]:
    return [global_id("Customer", i) for i in ids]


async def owned_customer(api: Api, email: str, **values: Any) -> int:
    """A customer of `email`, owned and last followed up `values`' times (default: now)."""
    now = api.services.clock.now()
    n = next(_batch)
    async with api.services.db.write() as session, session.begin():
        owner = (await session.execute(select(User).where(User.email == email))).scalar_one()
        row = {
            "name": f"Recycle {n}",
            "name_key": f"recycle{n}",
            "tier": "A",
            "stage": "NEW",
            "tags": [],
            "created_at": now - timedelta(days=400),
            "updated_at": now,
            "owner_id": owner.id,
            "team_id": owner.team_id,
            "owner_credit_share": 100,
            "owned_since": now,
            "recycle_clock_at": now,
            "version": 1,
        } | values
        return int(
            (await session.execute(insert(Customer).returning(Customer.id), [row])).scalar_one()
        )


async def pooled(api: Api, cid: int) -> int | None:
    async with api.services.db.read() as session:
        row = (await session.execute(select(Customer).where(Customer.id == cid))).scalar_one()
        return row.pool_id if row.owner_id is None else None


async def east_pool(api: Api, **rules: Any) -> int:
    data = await api.ok(
        CREATE,
        {
            "input": {
                "name": "East pool",
                "teamIds": [str(await team_id(api, "East"))],
                "rules": rules,
            }
        },
        as_user=ADMIN,
    )
    return db_id(data["createPool"]["id"])


async def test_each_pool_recycles_by_its_own_days_per_tier(api: Api, clock: FrozenClock) -> None:
    east = await east_pool(api, recycleAfterNoFollowUpDays=[{"tier": "A", "days": 5}])
    ago = clock.now() - timedelta(days=6)
    alice_a = await owned_customer(api, "alice@demo.test", recycle_clock_at=ago)
    alice_b = await owned_customer(
        api, "alice@demo.test", tier="B", recycle_clock_at=ago - timedelta(days=300)
    )
    carol_a = await owned_customer(api, "carol@demo.test", recycle_clock_at=ago)
    due = await api.ok(DUE, {"ids": gids(alice_a, alice_b)}, as_user=ADMIN)
    assert due["nodes"][0]["recycleDueAt"].startswith((ago + timedelta(days=5)).date().isoformat())
    assert due["nodes"][1]["recycleDueAt"] is None  # tier B left out: never
    await run_jobs_once(api.services, clock.now())
    assert await pooled(api, alice_a) == east
    assert await pooled(api, alice_b) is None and await pooled(api, carol_a) is None
    async with api.services.db.read() as session:
        event = (
            await session.execute(
                select(OwnershipEvent).where(
                    OwnershipEvent.customer_id == alice_a, OwnershipEvent.kind == "RECYCLED"
                )
            )
        ).scalar_one()
    assert (event.pool_id, event.reason_code) == (east, "overdue")
    assert event.reason == "No follow-up for 5 days (tier A)."
    clock.advance(days=25)  # carol's customer: the default pool's 30 days
    await run_jobs_once(api.services, clock.now())
    assert await pooled(api, carol_a) == db_id(await default_pool(api))


async def test_no_deal_days_and_the_closed_deal_exemption(api: Api, clock: FrozenClock) -> None:
    east = await east_pool(
        api,
        recycleAfterNoFollowUpDays=[{"tier": "A", "days": 100}],
        recycleAfterNoDealDays=10,
        exemptClosedDeals=True,
    )
    taken = clock.now() - timedelta(days=11)
    lead = await owned_customer(api, "alice@demo.test", owned_since=taken)
    won = await owned_customer(api, "alice@demo.test", owned_since=taken, stage="ACTIVE")
    stale_won = await owned_customer(
        api, "alice@demo.test", stage="ACTIVE", recycle_clock_at=taken - timedelta(days=100)
    )
    await run_jobs_once(api.services, clock.now())
    assert await pooled(api, lead) == east
    assert await pooled(api, won) is None and await pooled(api, stale_won) is None
    async with api.services.db.read() as session:
        reason = await session.scalar(
            select(OwnershipEvent.reason).where(
                OwnershipEvent.customer_id == lead, OwnershipEvent.kind == "RECYCLED"
            )
        )
    assert reason == "No deal within 10 days of taking it."


async def test_locked_and_protected_customers_wait(api: Api, clock: FrozenClock) -> None:
    now = clock.now()
    stale = now - timedelta(days=40)
    locked = await owned_customer(api, "alice@demo.test", recycle_clock_at=stale, locked_at=now)
    until = await owned_customer(
        api,
        "alice@demo.test",
        recycle_clock_at=stale,
        locked_at=now,
        locked_until=now + timedelta(days=2),
    )
    protected = await owned_customer(
        api, "alice@demo.test", recycle_clock_at=stale, protected_until=now + timedelta(days=3)
    )
    await run_jobs_once(api.services, now)
    assert [await pooled(api, c) for c in (locked, until, protected)] == [None, None, None]
    due = await api.ok(DUE, {"ids": gids(locked, until, protected)}, as_user=ADMIN)
    assert [n["recycleDueAt"] is None for n in due["nodes"]] == [True, False, False]
    clock.advance(days=2, seconds=1)
    await run_jobs_once(api.services, clock.now())
    assert await pooled(api, until) is not None and await pooled(api, protected) is None
    clock.advance(days=1)
    await run_jobs_once(api.services, clock.now())
    assert await pooled(api, protected) is not None and await pooled(api, locked) is None


async def test_each_pool_warns_its_own_days_ahead(api: Api, clock: FrozenClock) -> None:
    await east_pool(api, recycleAfterNoFollowUpDays=[{"tier": "A", "days": 5}], warnDaysBefore=2)
    now = clock.now()
    soon = await owned_customer(api, "alice@demo.test", recycle_clock_at=now - timedelta(days=3.5))
    later = await owned_customer(api, "alice@demo.test", recycle_clock_at=now - timedelta(days=2.5))
    west = await owned_customer(api, "carol@demo.test", recycle_clock_at=now - timedelta(days=27.5))
    await run_jobs_once(api.services, now)
    async with api.services.db.read() as session:
        warned = set(
            (
                await session.execute(
                    select(Reminder.customer_id).where(Reminder.kind == "RECYCLE_WARNING")
                )
            ).scalars()
        )
    assert soon in warned and later not in warned and west in warned  # default: 3 days


# --- Property: recycleDueAt and the job never disagree ---------------------------------

CUSTOMER = st.fixed_dictionaries(
    {
        "owner": st.sampled_from(["alice@demo.test", "carol@demo.test"]),
        "tier": st.sampled_from("ABC"),
        "stage": st.sampled_from(["NEW", "ACTIVE"]),
        "clock_hours": st.integers(0, 24 * 40),
        "owned_hours": st.integers(0, 24 * 40),
        "lock": st.sampled_from([None, "forever", -5, 5]),  # hours from now the lock ends
        "protect": st.sampled_from([None, -5, 5, 24 * 3]),
    }
)
RULES = st.fixed_dictionaries(
    {
        "recycleAfterNoFollowUpDays": st.lists(
            st.tuples(st.sampled_from("ABC"), st.integers(1, 30)), unique_by=lambda t: t[0]
        ).map(lambda ts: [{"tier": t, "days": d} for t, d in ts]),
        "recycleAfterNoDealDays": st.one_of(st.none(), st.integers(1, 30)),
        "exemptClosedDeals": st.booleans(),
    }
)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def _scenario(
    url: str, tmp: Path, east: dict[str, Any], default: dict[str, Any], specs: list[dict[str, Any]]
) -> None:
    clock = FrozenClock(SEED_TIME)
    async with serve(url, clock, tmp) as api:
        now = clock.now()
        await east_pool(api, **east)
        pid = await default_pool(api)
        await api.ok(
            UPDATE, {"id": pid, "input": {"name": "Public pool", "rules": default}}, as_user=ADMIN
        )
        ids = []
        for s in specs:
            lock = s["lock"]
            ids.append(
                await owned_customer(
                    api,
                    s["owner"],
                    tier=s["tier"],
                    stage=s["stage"],
                    recycle_clock_at=now - timedelta(hours=s["clock_hours"]),
                    owned_since=now - timedelta(hours=s["owned_hours"]),
                    locked_at=None if lock is None else now,
                    locked_until=now + timedelta(hours=lock) if isinstance(lock, int) else None,
                    protected_until=None
                    if s["protect"] is None
                    else now + timedelta(hours=s["protect"]),
                )
            )
        due = await api.ok(DUE, {"ids": gids(*ids)}, as_user=ADMIN)
        expected = {
            db_id(n["id"]): (at := _time(n["recycleDueAt"])) is not None and at <= now
            for n in due["nodes"]
        }
        await run_jobs_once(api.services, now)
        got = {i: await pooled(api, i) is not None for i in ids}
        assert got == expected, (specs, due)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(east=RULES, default=RULES, specs=st.lists(CUSTOMER, min_size=1, max_size=6))
def test_recycle_due_at_says_what_the_job_does(
    templates: dict[str, str],
    east: dict[str, Any],
    default: dict[str, Any],
    specs: list[dict[str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.db"
        shutil.copyfile(templates["sqlite"], path)
        asyncio.run(_scenario(f"sqlite+aiosqlite:///{path}", Path(tmp), east, default, specs))
