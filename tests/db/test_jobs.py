"""The background jobs: recycle to the pool, warn before, remind when follow-ups fall due,
fire due reminders. Set-based: a constant number of statements however many rows."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, select, text, update

from db.enums import ReminderKind, ReminderStatus
from db.jobs import take_job_lock
from db.models import Customer, OwnershipEvent, Reminder, User
from kernel.clock import FrozenClock
from ownergraph.scheduler import Scheduler, run_jobs_once
from tests.conftest import Api, db_id, errors_of, serve

CLAIM = "mutation C($id: ID!) { claimCustomer(customerId: $id) { id owner { email } } }"
FOLLOW_UP = """
mutation F($id: ID!) {
  logFollowUp(input: {customerId: $id, channel: CALL, summary: "Checked in"}) { id }
}
"""
REMINDERS = "query { myReminders { id kind status dueAt message customer { id } } }"
SNOOZE = "mutation S($id: ID!, $until: DateTime!) { snoozeReminder(id: $id, until: $until) { id } }"
_batch = itertools.count()


async def stale_customers(
    api: Api, n: int, *, days_old: int = 31, email: str = "alice@demo.test"
) -> list[int]:
    """`n` tier-A customers owned by `email` whose recycle clock is `days_old` days old,
    written with one bulk insert."""
    now = api.services.clock.now()
    stale = now - timedelta(days=days_old)
    batch = next(_batch)
    async with api.services.db.write() as session, session.begin():
        owner = (await session.execute(select(User).where(User.email == email))).scalar_one()
        rows = [
            {
                "name": f"Stale {batch}-{i}",
                "name_key": f"stale{batch}x{i}",
                "tier": "A",
                "stage": "NEW",
                "tags": [],
                "created_at": stale,
                "updated_at": stale,
                "owner_id": owner.id,
                "team_id": owner.team_id,
                "owner_credit_share": 100,
                "owned_since": stale,
                "recycle_clock_at": stale,
                "version": 1,
            }
            for i in range(n)
        ]
        ids = (await session.execute(insert(Customer).returning(Customer.id), rows)).scalars()
        return sorted(ids)


async def count(api: Api, stmt: Any) -> int:
    async with api.services.db.read() as session:
        return int(await session.scalar(stmt) or 0)


async def reminder(api: Api, reminder_id: int) -> Reminder:
    async with api.services.db.read() as session:
        stmt = select(Reminder).where(Reminder.id == reminder_id)
        return (await session.execute(stmt)).scalar_one()


async def drain(messages: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    got = []
    while True:
        try:
            got.append(await asyncio.wait_for(anext(messages), 0.05))
        except TimeoutError:
            return got


async def test_recycling_1000_costs_the_statements_recycling_10_does(
    api: Api, clock: FrozenClock
) -> None:
    await run_jobs_once(api.services, clock.now())  # whatever the demo has due
    alice = await api.user_id("alice@demo.test")
    counts = {}
    for n in (10, 1000):
        ids = await stale_customers(api, n)
        async with api.services.bus.subscribe("ownership") as messages:
            api.statements.clear()
            report = await run_jobs_once(api.services, clock.now())
            counts[n] = len(api.statements)
            published = await drain(messages)
        assert report.recycled == n
        events = await count(
            api,
            select(func.count())
            .select_from(OwnershipEvent)
            .where(OwnershipEvent.customer_id.in_(ids), OwnershipEvent.kind == "RECYCLED"),
        )
        assert events == n
        last = await count(api, select(func.max(OwnershipEvent.id)))
        assert published == [{"id": last}]
        async with api.services.db.read() as session:
            rows = (await session.execute(select(Customer).where(Customer.id.in_(ids)))).scalars()
            assert {
                (c.owner_id, c.team_id, c.previous_owner_id, c.pooled_at, c.version) for c in rows
            } == {(None, None, alice, clock.now(), 2)}
    assert counts[10] == counts[1000], counts


async def test_warning_three_days_before_then_recycle(api: Api, clock: FrozenClock) -> None:
    await run_jobs_once(api.services, clock.now())
    async with api.services.db.write() as session, session.begin():
        ids = list(
            (
                await session.execute(
                    select(Customer.id)
                    .where(Customer.owner_id.is_(None))
                    .order_by(Customer.id)
                    .limit(2)
                )
            ).scalars()
        )
        await session.execute(update(Customer).where(Customer.id.in_(ids)).values(tier="A"))
    token = await api.token("alice@demo.test")
    for cid in ids:
        await api.ok(CLAIM, {"id": str(cid)}, token=token)
    claimed_at = clock.now()

    def warnings(cid: int) -> Any:
        return (
            select(func.count())
            .select_from(Reminder)
            .where(Reminder.customer_id == cid, Reminder.kind == ReminderKind.RECYCLE_WARNING)
        )

    clock.advance(days=26, hours=23)
    await run_jobs_once(api.services, clock.now())
    assert await count(api, warnings(ids[0])) == 0
    clock.advance(hours=2)  # 27 days and an hour: inside the 3-day window of tier A's 30
    await run_jobs_once(api.services, clock.now())
    await run_jobs_once(api.services, clock.now())
    assert [await count(api, warnings(cid)) for cid in ids] == [1, 1]
    mine = (await api.ok(REMINDERS, token=token))["myReminders"]
    warning = next(r for r in mine if r["customer"] and db_id(r["customer"]["id"]) == int(ids[0]))
    assert warning["kind"] == "RECYCLE_WARNING" and warning["status"] == "FIRED"
    assert (claimed_at + timedelta(days=30)).date().isoformat() in warning["message"]

    # A follow-up starts a new cycle for the second customer: it is warned again later.
    await api.ok(FOLLOW_UP, {"id": str(ids[1])}, token=token)
    # A snoozed warning is still open; recycling voids it.
    until = (clock.now() + timedelta(days=10)).isoformat()
    await api.ok(SNOOZE, {"id": warning["id"], "until": until}, token=token)

    clock.advance(days=3)  # 30 days and an hour after the claim
    report = await run_jobs_once(api.services, clock.now())
    assert report.recycled >= 1
    async with api.services.db.read() as session:
        first, second = [
            (await session.execute(select(Customer).where(Customer.id == cid))).scalar_one()
            for cid in ids
        ]
    assert first.owner_id is None and second.owner_id is not None
    assert (await reminder(api, db_id(warning["id"]))).status == "CANCELLED"
    event = await count(
        api,
        select(func.count())
        .select_from(OwnershipEvent)
        .where(
            OwnershipEvent.customer_id == ids[0],
            OwnershipEvent.kind == "RECYCLED",
            OwnershipEvent.reason.contains("30 days"),
        ),
    )
    assert event == 1
    assert errors_of(await api.gql(CLAIM, {"id": str(ids[0])}, token=token)) == ["COOLDOWN_ACTIVE"]

    clock.advance(days=24, hours=1)  # 27 days and an hour after the follow-up
    await run_jobs_once(api.services, clock.now())
    assert await count(api, warnings(ids[1])) == 2


async def test_due_reminders_fire_and_follow_up_reminders_come_once(
    api: Api, clock: FrozenClock
) -> None:
    now = clock.now()
    pending_due = await count(
        api,
        select(func.count())
        .select_from(Reminder)
        .where(Reminder.status == ReminderStatus.PENDING, Reminder.due_at <= now),
    )
    assert pending_due > 0  # the demo has some
    (cadence,) = await stale_customers(api, 1, days_old=1)
    async with api.services.db.write() as session, session.begin():
        await session.execute(
            update(Customer).where(Customer.id == cadence).values(next_follow_up_due=now)
        )
    async with api.services.bus.subscribe("reminders") as messages:
        report = await run_jobs_once(api.services, now)
        published = await drain(messages)
    assert report.fired >= pending_due + report.reminded + report.warned
    assert (
        await count(
            api,
            select(func.count())
            .select_from(Reminder)
            .where(Reminder.status.in_(("PENDING", "SNOOZED")), Reminder.due_at <= now),
        )
        == 0
    )
    users = {m["user_id"] for m in published}
    assert len(published) == len(users) and await api.user_id("alice@demo.test") in users

    # Every owned customer whose follow-up is due has exactly one reminder about it.
    covered = (
        select(func.count())
        .select_from(Reminder)
        .where(
            Reminder.customer_id == Customer.id,
            Reminder.user_id == Customer.owner_id,
            Reminder.kind.in_((ReminderKind.FOLLOW_UP_DUE, ReminderKind.CADENCE_DUE)),
            Reminder.due_at >= Customer.next_follow_up_due,
        )
        .scalar_subquery()
    )
    due = select(covered).where(Customer.owner_id.is_not(None), Customer.next_follow_up_due <= now)
    async with api.services.db.read() as session:
        per_customer = list((await session.execute(due)).scalars())
    assert per_customer and set(per_customer) == {1}
    async with api.services.db.read() as session:
        kinds = dict(
            (
                await session.execute(
                    select(Reminder.customer_id, Reminder.kind).where(Reminder.created_at == now)
                )
            ).all()
        )
    assert kinds[cadence] == ReminderKind.CADENCE_DUE  # due by the tier's cadence
    assert ReminderKind.FOLLOW_UP_DUE in kinds.values()  # due at a time someone set

    again = await run_jobs_once(api.services, now)
    assert (again.reminded, again.warned, again.fired, again.recycled) == (0, 0, 0, 0)

    # A snoozed reminder fires again when the snooze ends, not before.
    token = await api.token("alice@demo.test")
    fired = next(
        r for r in (await api.ok(REMINDERS, token=token))["myReminders"] if r["status"] == "FIRED"
    )
    until = (now + timedelta(days=2)).isoformat()
    await api.ok(SNOOZE, {"id": fired["id"], "until": until}, token=token)
    clock.advance(days=1)
    await run_jobs_once(api.services, clock.now())
    assert (await reminder(api, db_id(fired["id"]))).status == "SNOOZED"
    clock.advance(days=1)
    await run_jobs_once(api.services, clock.now())
    row = await reminder(api, db_id(fired["id"]))
    assert (row.status, row.fired_at) == ("FIRED", clock.now())


async def test_concurrent_runs_recycle_each_customer_once(api: Api, clock: FrozenClock) -> None:
    await run_jobs_once(api.services, clock.now())
    ids = await stale_customers(api, 50)
    reports = await asyncio.gather(*(run_jobs_once(api.services, clock.now()) for _ in range(3)))
    assert sum(r.recycled for r in reports) == 50
    events = await count(
        api,
        select(func.count())
        .select_from(OwnershipEvent)
        .where(OwnershipEvent.customer_id.in_(ids), OwnershipEvent.kind == "RECYCLED"),
    )
    assert events == 50


async def test_the_scheduler_runs_the_jobs_until_stopped(api: Api, clock: FrozenClock) -> None:
    settings = api.services.settings.model_copy(update={"scheduler_interval_seconds": 0.05})
    services = dataclasses.replace(api.services, settings=settings)
    ids = await stale_customers(api, 3)
    scheduler = Scheduler(services).start()
    try:
        for _ in range(100):
            pooled = await count(
                api,
                select(func.count())
                .select_from(Customer)
                .where(Customer.id.in_(ids), Customer.owner_id.is_(None)),
            )
            if pooled == 3:
                break
            await asyncio.sleep(0.05)
        assert pooled == 3 and scheduler.running
    finally:
        await scheduler.stop()
    assert not scheduler.running
    off = api.services.settings.model_copy(update={"scheduler_interval_seconds": 0})
    assert not Scheduler(dataclasses.replace(api.services, settings=off)).start().running


async def test_a_backlog_bigger_than_a_batch_takes_several_short_transactions(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    """At a million customers no job transaction may hold the write lock for long: each
    touches at most `job_batch_size` rows, and the backlog is worked off batch by batch."""
    async with serve(database_url, clock, tmp_path, job_batch_size=40) as api:
        await run_jobs_once(api.services, clock.now())  # whatever the demo has due
        ids = await stale_customers(api, 100)
        transactions: list[int] = []
        engine = api.services.db.engine.sync_engine

        def begin(conn: Any) -> None:
            transactions.append(len(api.statements))

        event.listen(engine, "begin", begin)
        try:
            async with api.services.bus.subscribe("ownership") as messages:
                report = await run_jobs_once(api.services, clock.now())
                published = await drain(messages)
        finally:
            event.remove(engine, "begin", begin)
        assert report.recycled == 100
        # One batch of expired collaborators (none); 40 + 40 + 20 recycled; then one batch
        # each for warnings, reminders, escalations, firing; the counts' deltas folded.
        assert len(transactions) == 1 + 3 + 4 + 1
        assert len(published) == 3  # one wake-up per committed batch
        recycled = await count(
            api,
            select(func.count())
            .select_from(OwnershipEvent)
            .where(OwnershipEvent.customer_id.in_(ids), OwnershipEvent.kind == "RECYCLED"),
        )
        assert recycled == 100
        again = await run_jobs_once(api.services, clock.now())
        assert again.recycled == 0


async def test_a_run_that_changed_many_rows_refreshes_statistics_and_visibility(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    """After a big run: ANALYZE for the planner (sampled on SQLite), and on PostgreSQL
    VACUUM, or the changed rows stop being all-visible and counts answered from an index
    read the table again."""
    async with serve(database_url, clock, tmp_path, job_analyze_after_rows=5) as api:
        await run_jobs_once(api.services, clock.now())
        await stale_customers(api, 5)
        api.statements.clear()
        report = await run_jobs_once(api.services, clock.now())
        assert report.recycled == 5
        vacuums = [s for s in api.statements if s.lstrip().upper().startswith("VACUUM")]
        if api.services.db.dialect == "postgresql":
            assert vacuums == ["VACUUM (ANALYZE) customer, reminder, ownership_event"]
        else:
            analyzed = [s for s in api.statements if s.lstrip().upper().startswith("ANALYZE")]
            assert (vacuums, analyzed) == (
                [],
                ["ANALYZE customer", "ANALYZE reminder", "ANALYZE ownership_event"],
            )


async def test_a_job_transaction_plans_without_parallel_workers(api: Api) -> None:
    """The jobs read a handful of due rows through partial indexes; parallel workers
    (which PostgreSQL's estimates would start) cost more than those reads."""
    db = api.services.db
    if db.dialect != "postgresql":
        return
    async with db.write() as session, session.begin():
        assert await take_job_lock(session)
        assert await session.scalar(text("SHOW max_parallel_workers_per_gather")) == "0"
    async with db.read() as session:  # for that transaction only
        assert await session.scalar(text("SHOW max_parallel_workers_per_gather")) != "0"
