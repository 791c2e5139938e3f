"""The exported schema reads on its own: a one-line description on every type, field,
argument and enum value, connections paged alike, DateTime's format specified."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
    get_named_type,
    specified_scalar_types,
)

SDL = Path(__file__).parents[2] / "schema.graphql"


def exported() -> GraphQLSchema:
    return build_schema(SDL.read_text())


def ours(schema: GraphQLSchema) -> Iterator[GraphQLNamedType]:
    for name, type_ in schema.type_map.items():
        if not name.startswith("__") and name not in specified_scalar_types:
            yield type_


def coordinates(schema: GraphQLSchema) -> Iterator[tuple[str, str | None]]:
    """Every schema coordinate of ours with its description."""
    for type_ in ours(schema):
        yield type_.name, type_.description
        if isinstance(type_, GraphQLEnumType):
            for name, value in type_.values.items():
                yield f"{type_.name}.{name}", value.description
        if isinstance(type_, GraphQLInputObjectType):
            for name, field in type_.fields.items():
                yield f"{type_.name}.{name}", field.description
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for name, out in type_.fields.items():
                yield f"{type_.name}.{name}", out.description
                for arg_name, arg in out.args.items():
                    yield f"{type_.name}.{name}({arg_name}:)", arg.description


def test_everything_has_a_one_line_description() -> None:
    missing = [where for where, text in coordinates(exported()) if not (text or "").strip()]
    assert not missing, f"{len(missing)} without a description: {missing}"
    multiline = [where for where, text in coordinates(exported()) if "\n" in (text or "")]
    assert not multiline, f"descriptions on more than one line: {multiline}"


def test_the_walk_sees_a_gap() -> None:
    schema = build_schema('type Query { "Described." a(x: Int): Int }')
    assert [w for w, text in coordinates(schema) if not text] == ["Query", "Query.a(x:)"]


def test_every_connection_pages_with_first_then_after_then_filters() -> None:
    wrong = []
    for type_ in ours(exported()):
        if not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for name, field in type_.fields.items():
            if not get_named_type(field.type).name.endswith("Connection"):
                continue
            args = list(field.args)
            first = field.args.get("first")
            if args[:2] != ["first", "after"] or first is None or first.default_value is None:
                wrong.append(f"{type_.name}.{name}({', '.join(args)})")
    assert not wrong, wrong


def test_datetime_says_which_format() -> None:
    datetime = exported().type_map["DateTime"]
    assert isinstance(datetime, GraphQLScalarType)
    assert datetime.specified_by_url == "https://scalars.graphql.org/andimarek/date-time"
