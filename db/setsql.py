"""Small pieces of set-based SQL shared by the statements that move many customers at
once: the jobs (db/jobs.py) and the portfolio moves (resolvers/portfolio.py, keeping.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, cast, func, literal, literal_column
from sqlalchemy.ext.asyncio import AsyncSession


def const(session: AsyncSession, value: Any, type_: Any) -> ColumnElement[Any]:
    """A bound value in a SELECT list. PostgreSQL cannot infer a parameter's type there,
    so it gets a cast; SQLite must not (CAST AS DATETIME would turn a time into a number)."""
    expr = literal(value, type_)
    return cast(expr, type_) if session.get_bind().dialect.name == "postgresql" else expr


def json_object(session: AsyncSession, **values: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    build = (
        func.json_build_object
        if session.get_bind().dialect.name == "postgresql"
        else func.json_object
    )
    args: list[Any] = []
    for key, value in values.items():
        args += [literal_column(f"'{key}'"), value]
    return build(*args)
