"""Persisted queries: GraphQL documents by the SHA-256 of their text.

The table is the one store every worker and host shares, so a document registered
through one worker is found by all of them. A row never changes: the hash names its text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import PersistedQuery

# Rows per INSERT, well inside both drivers' limits on bound parameters.
CHUNK = 500
TABLE = PersistedQuery.__table__  # type: ignore[attr-defined]


async def find_body(session: AsyncSession, sha256: str) -> str | None:
    stmt = select(TABLE.c.body).where(TABLE.c.sha256 == sha256)
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_bodies(
    session: AsyncSession,
    bodies: Mapping[str, tuple[str, str | None]],
    *,
    source: str,
    now: datetime,
) -> int:
    """Store `{sha256: (body, name)}`, keeping rows already there; returns how many were new."""
    if not bodies:
        return 0
    before = await count(session)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [
        {"sha256": sha, "body": body, "name": name, "source": source, "created_at": now}
        for sha, (body, name) in bodies.items()
    ]
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        await session.execute(insert(TABLE).values(chunk).on_conflict_do_nothing())
    return await count(session) - before


async def count(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(TABLE))).scalar_one()
