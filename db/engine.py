"""Engines and sessions.

SQLite gets WAL, a busy timeout, foreign keys and an edit-distance function on every
connection. Read transactions
begin DEFERRED; write transactions begin IMMEDIATE, so two writers queue on the lock
instead of one failing to upgrade its snapshot (the SQLite half of "exactly one claim
wins"; PostgreSQL gets the same from conditional UPDATEs and row locks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rapidfuzz.distance import OSA
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

WRITE_OPTION = "ownergraph_write"
SQLITE_SIMILARITY = "osa_similarity"
SQLITE_ANALYSIS_LIMIT = 1000


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` and `sqlite://` URLs and pick the async drivers."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        if ":memory:" in url or url.rstrip("/").endswith("aiosqlite:"):
            # One shared connection (a static pool): sizes do not apply.
            for option in ("pool_size", "max_overflow", "pool_timeout"):
                kwargs.pop(option, None)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # The app's statements are small and prepared once; JIT compiling their generic plans
    # costs more than it saves (a 20 ms search took over a second with JIT on).
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("server_settings", {}).setdefault("jit", "off")
    # No pre-ping: it costs a round trip per checkout. A connection the server closed fails
    # its statement and is replaced by the pool (invalidated on disconnect errors).
    return create_async_engine(url, connect_args=connect_args, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is always DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # Ranks similar-name candidates (db/similar.py) in C, as levenshtein() does on
        # PostgreSQL; a function written in SQL costs ten times as much per row.
        dbapi_connection.create_function(
            SQLITE_SIMILARITY, 2, OSA.normalized_similarity, deterministic=True
        )

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@dataclass(frozen=True)
class Database:
    """One engine, with a session factory for reads and one for write transactions."""

    engine: AsyncEngine
    read: async_sessionmaker[AsyncSession]
    write: async_sessionmaker[AsyncSession]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def vacuum_analyze(self, *tables: str) -> None:
        """After many rows changed: the planner's statistics, and on PostgreSQL also the
        visibility map (index-only counts read the table for rows it does not mark);
        `tables`, or all. VACUUM runs outside a transaction, on a connection of its own."""
        async with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(f"VACUUM (ANALYZE) {', '.join(tables)}".rstrip()))
            else:
                # Sampled: a full ANALYZE of a million rows holds the write lock for
                # seconds, one of 1,000 rows per index takes milliseconds.
                await conn.execute(text(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}"))
                for table in tables or ("",):
                    await conn.execute(text(f"ANALYZE {table}".rstrip()))
                await conn.commit()


def open_database(url: str, **kwargs: Any) -> Database:
    engine = create_engine(url, **kwargs)
    writer = engine.execution_options(**{WRITE_OPTION: True})
    return Database(
        engine=engine,
        read=async_sessionmaker(engine, expire_on_commit=False),
        write=async_sessionmaker(writer, expire_on_commit=False),
    )
