"""Hostile input never becomes an internal error: every query and mutation, called with every
argument filled with over-long text, huge numbers and odd ids, answers with a domain code
(or succeeds), never INTERNAL, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)

from schema.root import schema
from tests.conftest import Api, errors_of

LONG = "界" * 5000
SCALARS: dict[str, list[Any]] = {
    "String": [LONG, "", " "],
    "ID": ["1", "-1", "999999999999", "abc"],
    "Int": [2**31 - 1, -(2**31), 0],
    "Float": [1e308, -1.0],
    "Boolean": [True],
    "DateTime": ["2026-06-02T00:00:00+00:00", "1970-01-01T00:00:00+00:00"],
}


def value(gql_type: Any, variant: int) -> Any:
    if isinstance(gql_type, GraphQLNonNull):
        return value(gql_type.of_type, variant)
    if isinstance(gql_type, GraphQLList):
        return [value(gql_type.of_type, variant)]
    if isinstance(gql_type, GraphQLEnumType):
        names = list(gql_type.values)
        return names[variant % len(names)]
    if isinstance(gql_type, GraphQLInputObjectType):
        return {name: value(f.type, variant) for name, f in gql_type.fields.items()}
    assert isinstance(gql_type, GraphQLScalarType)
    options = SCALARS[gql_type.name]
    return options[variant % len(options)]


def calls() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for kind, root in (
        ("query", schema._schema.query_type),
        ("mutation", schema._schema.mutation_type),
    ):
        assert root is not None
        out += _calls(kind, root)
    return out


def _calls(kind: str, root: Any) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for name, field in root.fields.items():
        params = ", ".join(f"${a}: {arg.type}" for a, arg in field.args.items())
        args = ", ".join(f"{a}: ${a}" for a in field.args)
        inner = field.type
        while isinstance(inner, GraphQLNonNull | GraphQLList):
            inner = inner.of_type
        selection = " { __typename }" if hasattr(inner, "fields") else ""
        doc = (
            f"{kind} M({params}) {{ {name}({args}){selection} }}"
            if params
            else f"{kind} {{ {name}{selection} }}"
        )
        for variant in range(3):
            out.append((name, doc, {a: value(arg.type, variant) for a, arg in field.args.items()}))
    return out


@pytest.mark.parametrize("email", ["admin@demo.test", "alice@demo.test"])
async def test_no_operation_turns_bad_input_into_an_internal_error(api: Api, email: str) -> None:
    token = await api.token(email)
    for name, doc, variables in calls():
        if name in ("deactivateUser", "revokeApiToken") and email == "admin@demo.test":
            continue  # would sign the caller out half-way through the sweep
        body = await api.gql(doc, variables, token=token)
        assert "INTERNAL" not in errors_of(body), (name, variables, body["errors"])
