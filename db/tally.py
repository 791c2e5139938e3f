"""How many live customers each group of (team, pool, in the pool or not) holds, so that a
count whose conditions read nothing else of a customer sums a few rows instead of reading
an index entry per customer (a pool of a million holds hundreds of thousands).

`customer_tally` (migration 0017) holds signed deltas: triggers add one per change of a
customer's group, in the writer's own transaction, so a count in one statement is exact;
appending, not updating a row per group, keeps concurrent claims on one pool from queueing
on that row. The scheduler folds the deltas into one row per group (`compact`). A bulk
load on PostgreSQL tallies each batch in one statement (`tally_bulk`), as it counts the
batch's trigrams (db/similar.py).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Integer,
    MetaData,
    Table,
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, Null, TextClause

from db.models import Customer

TALLY = Table(
    "customer_tally",
    MetaData(),
    Column("team_id", Integer),
    Column("pool_id", Integer),
    Column("pooled", Boolean, nullable=False),
    Column("n", Integer, nullable=False),
)
CUSTOMER = cast(Table, Customer.__table__)  # type: ignore[attr-defined]
# The customer's columns a group stands for, as the tally's.
GROUPED = {"team_id": TALLY.c.team_id, "pool_id": TALLY.c.pool_id}


def _is_column(element: Any, name: str) -> bool:
    return getattr(element, "table", None) is CUSTOMER and getattr(element, "key", None) == name


def _opaque(element: Any) -> bool:
    """An element whose SQL this walk cannot see into: text, or compiled by our own code
    (db/search.name_contains reads the customer's id when it compiles)."""
    if isinstance(element, TextClause):
        return True
    return not type(element).__module__.startswith("sqlalchemy.")


def tallied(condition: ColumnElement[bool]) -> ColumnElement[bool] | None:
    """`condition` over a customer as a condition over the tally's groups, or None where it
    reads anything a group does not determine (an owner's id, a tier, another table's
    rows about the customer). Uncorrelated subqueries (the caller's pools) stay as they
    are. Only live customers are tallied, so "not merged" holds of every group."""
    unknown = False

    def replace(element: Any, **kw: Any) -> Any:
        nonlocal unknown
        if _opaque(element):
            unknown = True
            return None
        if isinstance(element, BinaryExpression) and isinstance(element.right, Null):
            if _is_column(element.left, "owner_id"):
                if element.operator is operators.is_:
                    return TALLY.c.pooled.is_(True)
                if element.operator is operators.is_not:
                    return TALLY.c.pooled.is_(False)
            if _is_column(element.left, "merged_into_id") and element.operator is operators.is_:
                return true()
        if getattr(element, "table", None) is CUSTOMER:
            found = GROUPED.get(getattr(element, "key", ""))
            if found is None:
                unknown = True
            return found
        return None

    opts: dict[str, Any] = {}
    adapted = visitors.replacement_traverse(condition, opts, replace)
    return None if unknown else adapted


async def compact(session: AsyncSession) -> int:
    """Fold the deltas into one row per group; how many rows were folded. PostgreSQL in one
    statement, so a delta committed meanwhile is either folded or left, never lost;
    SQLite under its write lock, up to the last row present."""
    if session.get_bind().dialect.name == "postgresql":
        folded = await session.execute(
            text(
                "WITH gone AS (DELETE FROM customer_tally RETURNING team_id, pool_id, pooled, n), "
                "kept AS (INSERT INTO customer_tally (team_id, pool_id, pooled, n) "
                "SELECT team_id, pool_id, pooled, sum(n) FROM gone "
                "GROUP BY team_id, pool_id, pooled HAVING sum(n) <> 0) "
                "SELECT count(*) FROM gone"
            )
        )
        return int(folded.scalar_one())
    last = await session.scalar(text("SELECT max(rowid) FROM customer_tally"))
    if last is None:
        return 0
    folded = await session.execute(
        text("SELECT count(*) FROM customer_tally WHERE rowid <= :last"), {"last": last}
    )
    await session.execute(
        text(
            "INSERT INTO customer_tally (team_id, pool_id, pooled, n) "
            "SELECT team_id, pool_id, pooled, sum(n) FROM customer_tally WHERE rowid <= :last "
            "GROUP BY team_id, pool_id, pooled HAVING sum(n) <> 0"
        ),
        {"last": last},
    )
    await session.execute(text("DELETE FROM customer_tally WHERE rowid <= :last"), {"last": last})
    return int(folded.scalar_one())


async def tally_bulk(session: AsyncSession, first_id: int, last_id: int) -> None:
    """PostgreSQL, in a bulk load's transaction (which turned the per-statement trigger
    off): tally customers `first_id`..`last_id` at once."""
    await session.execute(
        text(
            "INSERT INTO customer_tally (team_id, pool_id, pooled, n) "
            "SELECT team_id, pool_id, owner_id IS NULL, count(*) FROM customer "
            "WHERE id BETWEEN :first AND :last AND merged_into_id IS NULL "
            "GROUP BY team_id, pool_id, owner_id IS NULL"
        ),
        {"first": first_id, "last": last_id},
    )
