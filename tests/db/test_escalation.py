"""Overdue follow-ups: escalated to the owner's manager once, and optionally sent to the
pool, as the clock moves (db/escalation.py through the scheduler)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, update

from db.enums import ReminderKind
from db.models import Customer, OwnershipEvent, Reminder
from kernel.clock import FrozenClock
from ownergraph.scheduler import run_jobs_once
from tests.conftest import Api, db_id, serve
from tests.db.test_jobs import stale_customers

REMINDERS = "query { myReminders { id kind status message customer { id name } } }"
FOLLOW_UP = """
mutation F($id: ID!) {
  logFollowUp(input: {customerId: $id, channel: CALL, summary: "Checked in"}) { id }
}
"""


async def overdue(api: Api, n: int, email: str = "alice@demo.test") -> list[int]:
    """`n` customers of `email` whose follow-up fell due just now."""
    ids = await stale_customers(api, n, days_old=1, email=email)
    async with api.services.db.write() as session, session.begin():
        await session.execute(
            update(Customer)
            .where(Customer.id.in_(ids))
            .values(next_follow_up_due=api.services.clock.now())
        )
    return ids


async def escalations(api: Api, ids: list[int]) -> list[Reminder]:
    async with api.services.db.read() as session:
        stmt = (
            select(Reminder)
            .where(Reminder.kind == ReminderKind.OVERDUE_ESCALATION, Reminder.customer_id.in_(ids))
            .order_by(Reminder.customer_id)
        )
        return list((await session.execute(stmt)).scalars())


async def read(api: Api, token: str, language: str) -> list[dict[str, Any]]:
    response = await api.client.post(
        "/graphql",
        json={"query": REMINDERS},
        headers={"authorization": f"Bearer {token}", "accept-language": language},
    )
    return response.json()["data"]["myReminders"]


async def test_an_undone_follow_up_reaches_the_manager_once(api: Api, clock: FrozenClock) -> None:
    late, done = await overdue(api, 2)
    await run_jobs_once(api.services, clock.now())  # the owner's reminders
    alice = await api.token("alice@demo.test")
    await api.ok(FOLLOW_UP, {"id": str(done)}, token=alice)

    clock.advance(days=2, hours=23)
    await run_jobs_once(api.services, clock.now())
    assert await escalations(api, [late, done]) == []

    clock.advance(hours=1)  # three days after it fell due
    report = await run_jobs_once(api.services, clock.now())
    assert report.escalated >= 1
    (row,) = await escalations(api, [late, done])
    manager = await api.user_id("manager.east@demo.test")
    assert (row.customer_id, row.user_id, row.status) == (late, manager, "FIRED")
    async with api.services.db.read() as session:
        owner_reminder = await session.get(Reminder, row.ref_id)
    assert owner_reminder is not None and owner_reminder.customer_id == late
    assert owner_reminder.kind == ReminderKind.CADENCE_DUE

    # Once: later rounds write no second one.
    for _ in range(2):
        clock.advance(days=1)
        await run_jobs_once(api.services, clock.now())
    assert len(await escalations(api, [late, done])) == 1

    # The manager reads it in their language; the owner has no such reminder.
    token = await api.token("manager.east@demo.test")
    en = {db_id(r["id"]): r for r in await read(api, token, "en")}
    zh = {db_id(r["id"]): r for r in await read(api, token, "zh-CN")}
    name = en[row.id]["customer"]["name"]
    due = (clock.now() - timedelta(days=5)).date().isoformat()
    assert en[row.id]["kind"] == "OVERDUE_ESCALATION"
    assert en[row.id]["message"] == (
        f"Alice Wang has not followed up with {name}, due {due}, for 3 days."
    )
    assert zh[row.id]["message"] == f"Alice Wang 未跟进 {name}：{due} 到期，已逾期 3 天。"
    assert all(r["kind"] != "OVERDUE_ESCALATION" for r in await read(api, alice, "en"))


async def test_a_manager_who_owns_escalates_to_the_team_above(api: Api, clock: FrozenClock) -> None:
    (mine,) = await overdue(api, 1, email="manager.east@demo.test")
    await run_jobs_once(api.services, clock.now())
    clock.advance(days=3)
    await run_jobs_once(api.services, clock.now())
    (row,) = await escalations(api, [mine])
    assert row.user_id == await api.user_id("director@demo.test")


async def test_escalating_many_costs_the_statements_escalating_one(
    api: Api, clock: FrozenClock
) -> None:
    from db.escalation import escalate_overdue

    counts = []
    statements: list[str] = []

    def counted(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    for n in (1, 40):
        ids = await overdue(api, n)
        await run_jobs_once(api.services, clock.now())
        statements.clear()
        engine = api.services.db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", counted)
        try:
            async with api.services.db.write() as session, session.begin():
                written = await escalate_overdue(
                    session, now=clock.now() + timedelta(days=3), after_days=3, limit=10_000
                )
        finally:
            event.remove(engine, "before_cursor_execute", counted)
        assert written >= n and len(await escalations(api, ids)) == n
        counts.append(len(statements))
    assert counts[0] == counts[1]


async def test_overdue_customers_go_to_the_pool_when_set(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(database_url, clock, tmp_path, overdue_release_after_days=5) as api:
        late, kept = await overdue(api, 2)
        await run_jobs_once(api.services, clock.now())
        clock.advance(days=4)
        await api.ok(FOLLOW_UP, {"id": str(kept)}, as_user="alice@demo.test")
        await run_jobs_once(api.services, clock.now())
        async with api.services.db.read() as session:
            owner = await session.scalar(select(Customer.owner_id).where(Customer.id == late))
        assert owner is not None  # four days overdue: not yet
        clock.advance(days=1)
        report = await run_jobs_once(api.services, clock.now())
        assert report.released >= 1
        async with api.services.db.read() as session:
            owners = dict(
                (
                    await session.execute(
                        select(Customer.id, Customer.owner_id).where(Customer.id.in_([late, kept]))
                    )
                ).all()
            )
            events = list(
                (
                    await session.execute(
                        select(
                            OwnershipEvent.kind, OwnershipEvent.rule, OwnershipEvent.from_user_id
                        )
                        .where(OwnershipEvent.customer_id == late)
                        .order_by(OwnershipEvent.id.desc())
                        .limit(1)
                    )
                ).all()
            )
        alice = await api.user_id("alice@demo.test")
        assert owners == {late: None, kept: alice}
        assert events == [("RECYCLED", "overdue", alice)]


async def test_without_the_setting_nothing_goes_to_the_pool(api: Api, clock: FrozenClock) -> None:
    (late,) = await overdue(api, 1)
    await run_jobs_once(api.services, clock.now())
    clock.advance(days=20)  # its recycle clock is 21 days old: short of tier A's 30
    report = await run_jobs_once(api.services, clock.now())
    assert report.released == 0
    async with api.services.db.read() as session:
        owner = await session.scalar(select(Customer.owner_id).where(Customer.id == late))
    assert owner == await api.user_id("alice@demo.test")
