"""Query plans the write path and jobs rely on at a million rows (SQLite's planner tells
which index a statement uses whatever the table size, so these are exact assertions)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.dialects import sqlite
from sqlmodel import col

from db.engine import open_database
from db.enums import ReminderKind, ReminderStatus
from db.migrate import upgrade_async
from db.models import Reminder, TransferRequest


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
