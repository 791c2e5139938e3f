"""Substring search on the folded company name, backed by a trigram index on each backend.

`name_contains(key)` is one SQL condition that compiles per dialect: on PostgreSQL a plain
`name_key LIKE '%key%'`, which pg_trgm's GIN index answers; on SQLite a lookup in the
FTS5 trigram table `customer_name_fts` (kept in step with `customer` by triggers), since
SQLite's own indexes cannot serve a leading wildcard. Both created by migration 0008.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlmodel import col

from db.models import Customer

FTS_TABLE = "customer_name_fts"


class name_contains(ColumnElement[bool]):  # noqa: N801 (reads as a SQL function)
    """Customers whose `name_key` contains `key` (already folded by db.keys, so it holds
    no LIKE wildcards: folding turns `%` and `_` into nothing)."""

    __visit_name__ = "name_contains"
    inherit_cache = True
    type = Boolean()
    # A condition as it stands (like `a = b`): else SQLite would get `(... IN (...)) = 1`,
    # which no index answers, and a REP's search would scan the whole pool.
    _is_implicitly_boolean = True
    _traverse_internals = [("pattern", InternalTraversal.dp_clauseelement)]

    def __init__(self, key: str) -> None:
        if "%" in key or "_" in key or "\\" in key:
            raise ValueError("search keys are folded by db.keys.company_key first")
        self.pattern = literal(f"%{key}%")


@compiles(name_contains)
def _plain(element: name_contains, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(col(Customer.name_key).like(element.pattern), **kw)


@compiles(name_contains, "sqlite")
def _fts(element: name_contains, compiler: SQLCompiler, **kw: Any) -> str:
    # No ESCAPE clause: with one, FTS5 no longer uses its trigram index for LIKE.
    customer_id = compiler.process(Customer.__table__.c.id, **kw)  # type: ignore[attr-defined]
    pattern = compiler.process(element.pattern, **kw)
    return (
        f"{customer_id} IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE}.name_key LIKE "
        f"{pattern})"
    )
