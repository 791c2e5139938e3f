"""Write transactions: a deadlock between concurrent writers is a clear CONFLICT, with
nothing written, never an internal error."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text

from db.models import Customer
from kernel.errors import Conflict
from resolvers.context import Context
from tests.conftest import Api


async def test_a_deadlock_between_writers_is_a_conflict(api: Api, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite writers queue on BEGIN IMMEDIATE and cannot deadlock")
    async with api.services.db.read() as s:
        rows = (
            await s.execute(select(Customer.id, Customer.version).order_by(Customer.id).limit(2))
        ).all()
    (a, _), (b, _) = rows
    before = dict(rows)
    both_locked_one = asyncio.Barrier(2)

    async def writer(first: int, second: int) -> str:
        ctx = Context(api.services)
        try:
            async with ctx.transaction() as session:
                lock = "SELECT id FROM customer WHERE id = :id FOR UPDATE"
                await session.execute(text(lock), {"id": first})
                await session.execute(
                    text("UPDATE customer SET version = version + 1 WHERE id = :id"), {"id": first}
                )
                await both_locked_one.wait()
                await session.execute(text(lock), {"id": second})
        except Conflict:
            return "conflict"
        return "ok"

    results = await asyncio.gather(writer(a, b), writer(b, a))
    assert sorted(results) == ["conflict", "ok"]
    async with api.services.db.read() as s:
        after = dict(
            (
                await s.execute(
                    select(Customer.id, Customer.version).where(Customer.id.in_([a, b]))
                )
            ).all()
        )
    # Exactly one writer's change was kept; the loser's was rolled back.
    assert sorted(after[i] - before[i] for i in (a, b)) == [0, 1]
