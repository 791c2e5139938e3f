"""Engine set-up: SQLite pragmas, driver selection, migrations on both backends."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from db.engine import normalise_url, open_database
from db.migrate import upgrade_async


def test_plain_urls_get_async_drivers() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert normalise_url("sqlite+aiosqlite:///x.db") == "sqlite+aiosqlite:///x.db"


async def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        async with db.read() as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() == 30000
    finally:
        await db.dispose()


async def test_migration_creates_every_table_and_index(database_url: str) -> None:
    """The seeded clone was migrated by Alembic; the model's tables and indexes are all there."""
    from sqlmodel import SQLModel

    import db.models  # noqa: F401

    await upgrade_async(database_url)  # idempotent at head
    database = open_database(database_url)
    try:
        async with database.engine.connect() as conn:
            tables, indexes = await conn.run_sync(
                lambda c: (
                    set(inspect(c).get_table_names()),
                    {
                        i["name"]
                        for t in inspect(c).get_table_names()
                        for i in inspect(c).get_indexes(t)
                    },
                )
            )
    finally:
        await database.dispose()
    assert set(SQLModel.metadata.tables) <= tables
    for wanted in (
        "ix_customer_owner_id_id",
        "ix_customer_team_id_id",
        "ix_customer_recycle_owned",
        "ix_customer_follow_up_unreminded",
        "ix_customer_pending_transfer",
        "ix_customer_next_follow_up_due",
        "ix_customer_name_key",
    ):
        assert wanted in indexes


async def test_postgresql_sessions_run_without_jit(database_url: str) -> None:
    database = open_database(database_url)
    try:
        async with database.read() as session:
            if database.dialect != "postgresql":
                return
            assert (await session.execute(text("SHOW jit"))).scalar() == "off"
    finally:
        await database.dispose()
