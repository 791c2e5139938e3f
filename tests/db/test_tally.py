"""Counts summed from the tally of customers per group (db/tally.py) are the counts of the
rows themselves, whatever moved customers between groups, before and after the deltas are
folded; a count the groups decide reads no customer row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, event, func, insert, select, text, update
from sqlmodel import col

from authz.principal import Principal
from db.customers import CustomerFilter, count_customers
from db.models import Customer, Pool, Team, User
from db.tally import TALLY, compact, tallied
from resolvers.context import build_plan
from tests.conftest import Api, db_id
from tests.db.test_jobs import CLAIM

EMAILS = ("admin@demo.test", "manager.east@demo.test", "alice@demo.test", "bob@demo.test")
FILTERS = (
    CustomerFilter(),
    CustomerFilter(in_pool=True),
    CustomerFilter(in_pool=False),
    CustomerFilter(tier="A"),  # not decided by a group: counted from the rows
)
RELEASE = 'mutation R($id: ID!) { releaseToPool(customerId: $id, reason: "no fit") { id } }'
POOL = "{ pool(first: 5) { edges { node { id } } } }"


async def _counts(api: Api) -> dict[tuple[str, CustomerFilter], tuple[int, int]]:
    """(from count_customers, from the rows) per caller and filter."""
    services = api.services
    found: dict[tuple[str, CustomerFilter], tuple[int, int]] = {}
    async with services.db.read() as session:
        teams = list((await session.execute(select(Team))).scalars())
        for email in EMAILS:
            user = (
                await session.execute(select(User).where(col(User.email) == email))
            ).scalar_one()
            scope = build_plan(services, Principal.of_user(user), teams).customer_scope()
            for f in FILTERS:
                counted = await count_customers(session, scope=scope, filter=f)
                rows = select(func.count()).select_from(Customer).where(scope, *f.conditions())
                found[(email, f)] = (counted, int(await session.scalar(rows) or 0))
    return found


def _agree(counts: dict[Any, tuple[int, int]]) -> None:
    wrong = {k: v for k, v in counts.items() if v[0] != v[1]}
    assert not wrong, wrong
    assert any(v[0] > 0 for v in counts.values())


async def test_tallied_counts_follow_every_way_a_customer_changes_group(api: Api) -> None:
    _agree(await _counts(api))
    alice = await api.token("alice@demo.test")
    # Through the API: a claim from the pool, a release back into it.
    [edge, *_] = (await api.ok(POOL, token=alice))["pool"]["edges"]
    await api.ok(CLAIM, {"id": edge["node"]["id"]}, token=alice)
    _agree(await _counts(api))
    await api.ok(RELEASE, {"id": edge["node"]["id"]}, token=alice)
    _agree(await _counts(api))
    # Straight to the table, as a job or a migration would: many rows at once, a change of
    # team, of pool, a merge, a delete, an insert, and an update that moves nobody.
    async with api.services.db.write() as session, session.begin():
        ids = sorted((await session.execute(select(col(Customer.id)))).scalars())
        other_pool = (
            await session.execute(
                insert(Pool)
                .values(name="Tally pool", rules={}, created_at=api.services.clock.now())
                .returning(Pool.id)
            )
        ).scalar_one()
        east = (await session.execute(select(Team.id).where(Team.name == "East"))).scalar_one()
        await session.execute(
            update(Customer)
            .where(col(Customer.id).in_(ids[:6]))
            .values(owner_id=None, team_id=None, pool_id=other_pool)
        )
        await session.execute(
            update(Customer).where(col(Customer.id) == ids[6]).values(team_id=east)
        )
        await session.execute(
            update(Customer).where(col(Customer.id) == ids[7]).values(merged_into_id=ids[8])
        )
        await session.execute(update(Customer).where(col(Customer.id) == ids[9]).values(tier="C"))
        now = api.services.clock.now()
        added = (
            await session.execute(
                insert(Customer).returning(Customer.id),
                [
                    {
                        "name": f"Tally new {i}",
                        "name_key": f"tallynew{i}",
                        "tier": "A",
                        "stage": "NEW",
                        "tags": [],
                        "created_at": now,
                        "updated_at": now,
                        "recycle_clock_at": now,
                        "version": 1,
                    }
                    for i in range(3)
                ],
            )
        ).scalars()
        await session.execute(delete(Customer).where(col(Customer.id) == max(added)))
    _agree(await _counts(api))
    async with api.services.db.write() as session, session.begin():
        folded = await compact(session)
        groups = (
            await session.execute(
                select(TALLY.c.team_id, TALLY.c.pool_id, TALLY.c.pooled, func.count()).group_by(
                    TALLY.c.team_id, TALLY.c.pool_id, TALLY.c.pooled
                )
            )
        ).all()
    assert folded > 0
    assert all(n == 1 for *_, n in groups), groups  # one row per group once folded
    _agree(await _counts(api))
    # And through the API, the same totalCount as the rows.
    page = await api.ok("{ customers(first: 1) { totalCount } }", token=alice)
    assert page["customers"]["totalCount"] == (await _counts(api))[(EMAILS[2], FILTERS[0])][1]
    assert db_id(edge["node"]["id"]) > 0


async def test_a_count_the_groups_decide_reads_no_customer_row(api: Api) -> None:
    """A MANAGER's scope (their teams, their pools) is decided by each customer's group: the
    count sums the tally. A REP's pool is summed too; what they own is read from its index."""
    services = api.services
    statements: list[str] = []

    def capture(_c: object, _cur: object, statement: str, *_: object) -> None:
        statements.append(statement)

    async with services.db.read() as session:
        teams = list((await session.execute(select(Team))).scalars())
        totals = {}
        for email in ("manager.east@demo.test", "alice@demo.test"):
            user = (
                await session.execute(select(User).where(col(User.email) == email))
            ).scalar_one()
            scope = build_plan(services, Principal.of_user(user), teams).customer_scope()
            event.listen(services.db.engine.sync_engine, "before_cursor_execute", capture)
            try:
                totals[email] = await count_customers(session, scope=scope, filter=CustomerFilter())
            finally:
                event.remove(services.db.engine.sync_engine, "before_cursor_execute", capture)
    manager, rep = statements
    assert "customer_tally" in manager and "FROM customer " not in manager + " ", manager
    assert "customer_tally" in rep and "FROM customer" in rep, rep
    assert all(totals.values())


def test_a_condition_on_anything_but_the_group_is_not_tallied() -> None:
    from db.search import name_contains

    assert tallied(col(Customer.owner_id).is_(None)) is not None
    assert tallied(col(Customer.team_id).in_([1, 2])) is not None
    for condition in (
        col(Customer.owner_id) == 3,
        col(Customer.tier) == "A",
        name_contains("harbor"),
        text("customer.id > 3"),
        col(Customer.id).in_(select(col(Customer.id)).where(col(Customer.tier) == "B")),
    ):
        assert tallied(condition) is None, condition  # type: ignore[arg-type]
