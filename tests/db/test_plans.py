"""Query plans the write path and jobs rely on at a million rows (SQLite's planner tells
which index a statement uses whatever the table size, so these are exact assertions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.dialects import sqlite
from sqlmodel import col

from db.engine import open_database
from db.enums import ReminderKind, ReminderStatus
from db.migrate import upgrade_async
from db.models import Customer, Reminder, TransferRequest
from tests.conftest import Api


async def _plan(url: str, stmt: object) -> str:
    compiled = stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})  # type: ignore[attr-defined]
    db = open_database(url)
    try:
        async with db.engine.connect() as conn:
            rows = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")).all()
    finally:
        await db.dispose()
    return "\n".join(str(r[-1]) for r in rows)


async def test_cancelling_reminders_by_reference_uses_an_index(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}"
    await upgrade_async(url)
    # What after_owner_change runs for transfers (and disputes) of the moved customers.
    stmt = (
        update(Reminder)
        .where(
            col(Reminder.kind) == ReminderKind.TRANSFER_APPROVAL,
            col(Reminder.ref_id).in_(
                select(col(TransferRequest.id)).where(col(TransferRequest.id) < 5)
            ),
            col(Reminder.status).in_([ReminderStatus.PENDING]),
        )
        .values(status=ReminderStatus.CANCELLED)
    )
    plan = await _plan(url, stmt)
    assert "ix_reminder_kind_ref" in plan, plan
    assert "SCAN reminder" not in plan, plan


async def test_a_reps_count_reads_each_relation_from_its_index(api: Api) -> None:
    """A REP sees what they own, collaborate on or find in the pool (and a few more):
    counted as a union of those branches, no branch scans the customer table, so the
    count costs what the REP may see, not what the database holds."""
    from authz.principal import Principal
    from db.customers import CustomerFilter, count_customers
    from db.models import Team, User
    from resolvers.context import build_plan

    services = api.services
    async with services.db.read() as session:
        alice = (
            await session.execute(select(User).where(col(User.email) == "alice@demo.test"))
        ).scalar_one()
        teams = list((await session.execute(select(Team))).scalars())
        plan = build_plan(services, Principal.of_user(alice), teams)
        statements: list[str] = []

        def capture(_c: object, _cur: object, statement: str, params: object, *_: object) -> None:
            statements.append(statement)
            captured.append(params)

        captured: list[object] = []
        event.listen(services.db.engine.sync_engine, "before_cursor_execute", capture)
        try:
            total = await count_customers(
                session, scope=plan.customer_scope(), filter=CustomerFilter()
            )
        finally:
            event.remove(services.db.engine.sync_engine, "before_cursor_execute", capture)
        everyone = await session.scalar(
            select(func.count()).select_from(Customer).where(plan.customer_scope())
        )
    assert total == everyone  # the union counts what the OR would
    if services.db.dialect != "sqlite":
        return
    async with services.db.engine.connect() as conn:
        plan_rows = (
            await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statements[-1]}", captured[-1])  # type: ignore[arg-type]
        ).all()
    details = [str(r[-1]) for r in plan_rows]
    assert "UNION" in " ".join(details) or any("COMPOUND" in d for d in details), details
    # (The tally, a row per group, is read whole: db/tally.py.)
    assert not [d for d in details if d.split()[:2] == ["SCAN", "customer"]], details


async def test_no_job_statement_scans_the_customer_or_reminder_table(api: Api) -> None:
    """What the scheduler reads each tick is found through indexes (partial ones for what
    a job may still have to touch), so an idle tick costs milliseconds at a million rows."""
    services = api.services
    if services.db.dialect != "sqlite":
        return  # plans are exact on SQLite whatever the size; PostgreSQL's follow statistics
    assert await _idle_tick_scans(services) == []


# sqlite_stat1 of the customer table at 1,000,320 customers (python -m bench.scale).
MILLION = [
    ("ix_customer_follow_up_unescalated", "900019 7"),
    ("ix_customer_follow_up_unreminded", "900014 7"),
    ("ix_customer_next_follow_up_due", "1000000 5"),
    ("ix_customer_owner_id_id", "1000000 996 1"),
    ("ix_customer_pool_id", "1000000 500000"),
    ("ix_customer_pooled", "99981 99981"),
    ("ix_customer_recycle_owned", "900019 300007 7"),
    ("ix_customer_recycle_unwarned", "900019 300007 7"),
    ("ix_customer_team_id_id", "1000000 9616 1"),
]


async def test_an_idle_tick_scans_nothing_with_the_statistics_of_a_million(api: Api) -> None:
    """SQLite plans from sqlite_stat1: with a million customers' (an OR of index ranges
    under a LIMIT then looks cheaper as a scan) and a reminder table analysed while it was
    small (a backlog run then writes 225,000), the tick still reads only through indexes."""
    services = api.services
    if services.db.dialect != "sqlite":
        return
    async with services.db.engine.connect() as conn:
        await conn.exec_driver_sql("ANALYZE")  # the demo's sizes: a small reminder table
        await conn.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'customer'")
        for index, stat in MILLION:
            await conn.exec_driver_sql(
                "INSERT INTO sqlite_stat1 VALUES ('customer', ?, ?)", (index, stat)
            )
        await conn.commit()
    await services.db.engine.dispose()  # connections read the statistics when they open
    assert await _idle_tick_scans(services) == []


async def _idle_tick_scans(services: Any) -> list[tuple[str, list[str]]]:
    """The statements of an idle tick (after the demo's backlog) that scan the customer
    or reminder table, with the scans."""
    from ownergraph.scheduler import run_jobs_once

    await run_jobs_once(services, services.clock.now())  # the demo's backlog
    seen: list[tuple[str, object]] = []

    def capture(_c: object, _cur: object, statement: str, params: object, *_: object) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE")):
            seen.append((statement, params))

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        await run_jobs_once(services, services.clock.now())  # an idle tick
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert seen
    found = []
    async with services.db.engine.connect() as conn:
        for statement, params in seen:
            rows = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)).all()  # type: ignore[arg-type]
            scans = [
                str(r[-1])
                for r in rows
                if str(r[-1]).startswith(("SCAN customer", "SCAN reminder"))
            ]
            if scans:
                found.append((statement, scans))
    return found
