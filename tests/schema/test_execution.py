"""Plain fields read inline (schema/execution.py) answer exactly as graphql-core's own
execution does: the same data, the same errors at the same paths, the same nulls, for
leaves, objects, lists of objects and of leaves, nested resolvers and values of the
wrong type."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.execution import ExecutionContext


@strawberry.type
class Leafy:
    name: str
    maybe: str | None
    tags: list[str]
    loose_tags: list[str | None]

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return self.name.upper()

    @strawberry.field
    def fails(self) -> str:
        raise ValueError("no")

    @strawberry.field
    def fails_nullable(self) -> str | None:
        raise ValueError("no")


@strawberry.type
class Holder:
    one: Leafy
    maybe_one: Leafy | None
    many: list[Leafy]
    many_maybe: list[Leafy | None]
    maybe_many: list[Leafy] | None
    wrong: Leafy  # holds something that is not a Leafy


def leafy(name: str, **kw: Any) -> Leafy:
    values: dict[str, Any] = {"maybe": None, "tags": ["a", "b"], "loose_tags": ["x", None]}
    values.update(kw)
    return Leafy(name=name, **values)


@strawberry.type
class Query:
    @strawberry.field
    def holder(self) -> Holder:
        return Holder(
            one=leafy("one"),
            maybe_one=None,
            many=[leafy("m1"), leafy("m2", maybe="set")],
            many_maybe=[leafy("n1"), None],
            maybe_many=[leafy("k1")],
            wrong="not a leafy",  # type: ignore[arg-type]
        )

    @strawberry.field
    def broken(self) -> Holder:
        # A non-null leaf that is null, inside a non-null list item: the error climbs.
        return Holder(
            one=leafy(None),  # type: ignore[arg-type]
            maybe_one=leafy("m", tags=None),
            many=[leafy("ok"), leafy(None)],  # type: ignore[arg-type]
            many_maybe=[leafy(None)],  # type: ignore[arg-type]
            maybe_many=[leafy("ok"), leafy(None)],  # type: ignore[arg-type]
            wrong=leafy("w"),
        )


QUERIES = [
    "{ holder { one { name maybe tags looseTags later } maybeOne { name } } }",
    "{ holder { many { name maybe later tags } manyMaybe { name later } maybeMany { name } } }",
    "{ holder { one { fails } } }",
    "{ holder { one { failsNullable name } many { failsNullable later } } }",
    "{ holder { many { fails } } }",
    "{ holder { manyMaybe { fails } } }",
    "{ holder { maybeMany { fails } } }",
    "{ holder { wrong { name } } }",
    "{ broken { maybeOne { name tags } } }",
    "{ broken { one { name } } }",
    "{ broken { maybeMany { name later } } }",
    "{ broken { manyMaybe { name } } }",
    "{ broken { many { name } } }",
    "{ holder { a: one { name } b: one { later } one { name } } }",
]


def answer(result: Any) -> tuple[Any, list[tuple[str, tuple[Any, ...]]]]:
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return result.data, errors


@pytest.mark.parametrize("query", QUERIES)
async def test_inline_execution_answers_as_graphql_core_does(query: str) -> None:
    ours = strawberry.Schema(query=Query, execution_context_class=ExecutionContext)
    theirs = strawberry.Schema(
        query=Query, execution_context_class=StrawberryGraphQLCoreExecutionContext
    )
    expected = answer(await theirs.execute(query))
    assert answer(await ours.execute(query)) == expected


async def test_plain_fields_need_no_resolve_info(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the fields with resolvers of their own build one: `holder` and `later`."""
    built: list[str] = []
    original = ExecutionContext.build_resolve_info

    def counting(self: Any, field_def: Any, field_nodes: Any, *args: Any) -> Any:
        built.append(field_nodes[0].name.value)
        return original(self, field_def, field_nodes, *args)

    monkeypatch.setattr(ExecutionContext, "build_resolve_info", counting)
    ours = strawberry.Schema(query=Query, execution_context_class=ExecutionContext)
    result = await ours.execute("{ holder { one { name tags later } many { name later } } }")
    assert not result.errors
    assert sorted(built) == ["holder", "later", "later", "later"]
