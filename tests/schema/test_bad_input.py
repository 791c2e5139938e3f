"""Hostile input never becomes an internal error: every query and mutation, called with every
argument filled with over-long text, huge numbers and odd ids, answers with a domain code
(or succeeds), never INTERNAL, on both backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)

from kernel.clock import FrozenClock
from resolvers.ids import global_id
from schema.root import schema
from tests.conftest import Api, db_id, errors_of, serve

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


# Values that once reached the database or graphql-core's internals as INTERNAL / 500.
PAGE = "query($n: Int!) { customers(first: $n) { totalCount } }"
PAGE_WITH_DEFAULT = "query($n: Int = 20) { customers(first: $n) { totalCount } }"
SEARCH = "query($s: String) { customers(filter: {search: $s}) { totalCount } }"
SEARCH_LITERAL = '{ customers(filter: {search: "x\\u0000y"}) { totalCount } }'
DUPLICATE_CHECK = "query($name: String) { duplicateCheck(input: {name: $name}) { name } }"
CREATE = "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id tags } }"
CUSTOMER = "query($id: ID!) { customer(id: $id) { id } }"
BAD_DATETIME = 'mutation { snoozeReminder(id: "1", until: "not a time") { id } }'


async def post_raw(api: Api, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """As a client sends it: JSON with \\u escapes (lone surrogates survive them)."""
    response = await api.client.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": variables}),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert response.status_code in (200, 400), response.text
    return response.json()


def assert_refused(body: dict[str, Any], *words: str) -> None:
    codes = errors_of(body)
    # A lone surrogate in a query literal does not even parse (GRAPHQL_PARSE_FAILED).
    refused = {"VALIDATION", "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED"}
    assert codes and not set(codes) - refused, body
    message = body["errors"][0]["message"]
    assert all(w in message for w in words), message


async def test_a_variable_of_the_wrong_type_is_a_validation_error(api: Api) -> None:
    token = await api.token("alice@demo.test")
    assert_refused(await post_raw(api, token, PAGE, {"n": "x"}), "Int")
    assert_refused(await post_raw(api, token, BAD_DATETIME, {}))


async def test_an_explicit_null_page_size_is_a_validation_error(api: Api) -> None:
    token = await api.token("alice@demo.test")
    body = await post_raw(api, token, PAGE_WITH_DEFAULT, {"n": None})
    assert_refused(body, "first")


@pytest.mark.parametrize("bad", ["x\ud800y", "x\udfff", "a\x00b"])
async def test_unstorable_text_is_refused_in_any_string(api: Api, bad: str) -> None:
    token = await api.token("alice@demo.test")
    assert_refused(await post_raw(api, token, SEARCH, {"s": bad}), "$s")
    contact = {"name": "Ann", "phone": bad}
    body = await post_raw(api, token, CREATE, {"input": {"name": "Odd Co", "contacts": [contact]}})
    assert_refused(body, "$input.contacts[0].phone")
    assert_refused(await post_raw(api, token, SEARCH_LITERAL, {}), "NUL")
    # As a raw character inside the document, not an escape.
    literal = SEARCH_LITERAL.replace("\\u0000", bad)
    assert_refused(await post_raw(api, token, literal, {}))


async def test_very_long_search_and_duplicate_names_are_refused(api: Api) -> None:
    token = await api.token("alice@demo.test")
    for doc, variables in (
        (SEARCH, {"s": "界" * 60_000}),
        (DUPLICATE_CHECK, {"name": "a%" * 30_000}),
    ):
        assert_refused(await post_raw(api, token, doc, variables), "10,000")
    for doc, variables, field in (
        (SEARCH, {"s": "x" * 201}, "`search`"),
        (DUPLICATE_CHECK, {"name": "界" * 5_000}, "`name`"),
    ):
        assert_refused(await post_raw(api, token, doc, variables), field, "200")


@pytest.mark.parametrize("ident", ["1_2", " 12", "12 ", "+12", "１２", "0x0c", "12.0"])
async def test_an_id_is_plain_decimal_digits(api: Api, ident: str) -> None:
    token = await api.token("admin@demo.test")
    assert (await api.ok(CUSTOMER, {"id": "12"}, token=token))["customer"]["id"] == global_id(
        "Customer", 12
    )
    body = await post_raw(api, token, CUSTOMER, {"id": ident})
    assert errors_of(body) == ["NOT_FOUND"], body


ADD_COLLABORATOR = """
mutation($c: ID!, $u: ID!) { addCollaborator(customerId: $c, userId: $u, role: SUPPORT,
  creditShare: 0) { collaborators { user { id } } } }
"""
UPDATE_TAGS = (
    "mutation($id: ID!, $tags: [String!]) { updateCustomer(id: $id, input: {tags: $tags}) { id } }"
)
TRANSFER = """
mutation($ids: [ID!]!, $to: ID!) { requestTransfer(input: {customerIds: $ids, toUserId: $to,
  kind: REASSIGNMENT, reason: "cap test"}) { id } }
"""

RESOLVE = """
mutation($split: [CreditShareInput!]) { resolveDispute(id: "1", awardToUserId: "1",
  creditSplit: $split) { id } }
"""


async def test_every_list_a_caller_writes_has_a_cap(api: Api) -> None:
    token = await api.token("alice@demo.test")
    contacts = [{"name": f"C{i}"} for i in range(51)]
    body = await post_raw(api, token, CREATE, {"input": {"name": "Crowd Co", "contacts": contacts}})
    assert_refused(body, "`contacts` takes at most 50 items")
    tags = [f"t{i}" for i in range(51)]
    body = await post_raw(api, token, CREATE, {"input": {"name": "Tag Co", "tags": tags}})
    assert_refused(body, "`tags` takes at most 50 items")
    (own,) = await api.owned("alice@demo.test")
    assert_refused(await post_raw(api, token, UPDATE_TAGS, {"id": own, "tags": tags}), "`tags`")
    # Any list at all, before any field's own check.
    body = await post_raw(api, token, UPDATE_TAGS, {"id": own, "tags": ["t"] * 1001})
    assert_refused(body, "$tags", "1,000 items")
    body = await post_raw(api, token, TRANSFER, {"ids": [str(own)] * 101, "to": "1"})
    assert_refused(body, "`customerIds` takes at most 100")
    split = [{"userId": str(i), "percent": 1} for i in range(1, 23)]
    body = await post_raw(api, await api.token("judge@demo.test"), RESOLVE, {"split": split})
    assert_refused(body, "`creditSplit` takes at most 21 items")
    # At the cap, it is taken.
    data = await api.ok(UPDATE_TAGS, {"id": own, "tags": tags[:50]}, token=token)
    assert db_id(data["updateCustomer"]["id"]) == int(own)


async def test_collaborators_have_a_cap(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(database_url, clock, tmp_path, max_collaborators=2) as api:
        token = await api.token("admin@demo.test")
        (own,) = await api.owned("alice@demo.test")
        others = [
            await api.user_id(e) for e in ("bob@demo.test", "dan@demo.test", "carol@demo.test")
        ]
        for user in others[:2]:
            await api.ok(ADD_COLLABORATOR, {"c": own, "u": user}, token=token)
        body = await post_raw(api, token, ADD_COLLABORATOR, {"c": own, "u": others[2]})
        assert_refused(body, "`collaborators` holds at most 2 items")
        # Changing an existing collaborator is not adding one.
        await api.ok(ADD_COLLABORATOR, {"c": own, "u": others[0]}, token=token)


async def test_values_that_grow_when_folded_still_fit_their_keys(api: Api) -> None:
    token = await api.token("alice@demo.test")
    # "ﷺ" folds (NFKC) to 18 characters: within the name's width, far beyond its key's.
    for value in (
        {"name": "ﷺ" * 100},
        {
            "name": "Long Domain Co",
            "contacts": [{"name": "Ann", "email": "a@" + "b" * 240 + ".cn"}],
        },
    ):
        body = await post_raw(api, token, CREATE, {"input": value})
        assert_refused(body)
