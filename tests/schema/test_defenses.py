"""Defenses before any resolver runs: the schema cannot be mapped with introspection off
or in production, fragment bombs are refused in time linear in the document, and
validation runs once per distinct document."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from graphql import get_introspection_query, parse

from kernel.settings import Settings
from ownergraph.app import create_app
from schema.cost import DEFAULT_SIZES, operation_cost
from schema.extensions import Validator
from schema.limits import expanded_size
from schema.root import schema
from tests.conftest import SECRET, Api, errors_of
from tests.subscriptions.test_live import connect

INTROSPECTION = "{ __schema { types { name } } }"
TYPO = "{ customr { id } }"
# Every kind of suggestion graphql-core makes: argument, input field, type, enum value.
SUGGESTING = [
    ("{ customers(filtr: {}) { totalCount } }", {}),
    ('{ customers(filter: {serch: "a"}) { totalCount } }', {}),
    ("query($f: CustomerFiltr) { customers(filter: $f) { totalCount } }", {}),
    ("query($t: Tier) { customers(filter: {tier: $t}) { totalCount } }", {"t": "a"}),
    ("{ customers(filter: {tier: a}) { totalCount } }", {}),
]
ME = "{ me { id name } }"


def bomb(n: int, root: str = "query { me", on: str = "User", leaves: str = "id name") -> str:
    """`query { me { ...F<n> } }`, each F(i) spreading F(i-1) twice: 2^n fields expanded."""
    fragments = [f"fragment F0 on {on} {{ {leaves} }}"] + [
        f"fragment F{i} on {on} {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, n + 1)
    ]
    return f"{root} {{ ...F{n} }} }}\n" + "\n".join(fragments)


def validator_of(app: object) -> Validator:
    view = next(r.endpoint for r in app.routes if getattr(r, "path", "") == "/graphql")  # type: ignore[attr-defined]
    return next(e for e in view.schema.extensions if isinstance(e, Validator))


def test_expansion_is_counted_once_per_fragment() -> None:
    document = parse(bomb(30))
    expansion = expanded_size(document)
    assert expansion.size == 2 * 2**30 + 1  # id and name, 2^30 times, under `me`
    # Each selection node is looked at once: 2 in F0, 2 in each other fragment, `me` and
    # its spread; linear in the document, not in its expansion.
    assert expansion.visited == 2 + 2 * 30 + 2


def test_the_cost_estimate_is_linear_in_the_document_too() -> None:
    document = parse(bomb(30))
    # One `me`, then 2^31 scalar fields under it; computed without expanding anything.
    assert operation_cost(schema._schema, document, None, 100, DEFAULT_SIZES) == 1 + 2**31


async def test_a_fragment_bomb_is_refused_unauthenticated_before_any_rule(api: Api) -> None:
    validator = validator_of(api.app)
    runs, visited = validator.runs, validator.visited
    body = await api.gql(bomb(30))  # no token
    assert errors_of(body) == ["QUERY_TOO_COMPLEX"], body
    assert body["errors"][0]["extensions"]["limit"] == 2000
    assert validator.runs == runs  # no validation rule walked it
    assert validator.visited - visited <= 100
    # The server is still answering.
    assert (await api.client.get("/health")).status_code == 200


async def test_ordinary_fragments_and_introspection_pass(api: Api) -> None:
    token = await api.token("admin@demo.test")
    data = await api.ok(bomb(4), token=token)
    assert data["me"]["name"]
    body = await api.gql(get_introspection_query(), token=token)
    assert not body.get("errors")


async def test_a_second_identical_request_is_not_validated_again(api: Api) -> None:
    validator = validator_of(api.app)
    token = await api.token("alice@demo.test")
    runs = validator.runs
    await api.ok(ME, token=token)
    assert validator.runs == runs + 1
    for _ in range(3):
        await api.ok(ME, token=token)
        body = await api.gql(TYPO, token=token)
        assert errors_of(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert validator.runs == runs + 2


@pytest.mark.parametrize("setting", [{"introspection": False}, {"production": True}])
async def test_the_schema_cannot_be_mapped(
    api: Api, database_url: str, tmp_path: Path, setting: dict[str, bool]
) -> None:
    token = await api.token("alice@demo.test")
    settings = Settings(database_url=database_url, jwt_secret=SECRET, data_dir=tmp_path, **setting)
    app = create_app(settings, clock=api.services.clock)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            headers = {"authorization": f"Bearer {token}"}
            body = (
                await client.post("/graphql", json={"query": INTROSPECTION}, headers=headers)
            ).json()
            assert body.get("errors") and not body.get("data")
            for query, variables in [(TYPO, {}), *SUGGESTING]:
                sent = {"query": query, "variables": variables}
                body = (await client.post("/graphql", json=sent, headers=headers)).json()
                assert body["errors"], query
                assert "Did you mean" not in body["errors"][0]["message"], body
            assert (
                await client.get("/graphql", headers={"accept": "text/html"})
            ).status_code != 200
    finally:
        await app.state.services.db.dispose()


async def test_development_mode_helps_developers(api: Api) -> None:
    token = await api.token("alice@demo.test")
    body = await api.gql(TYPO, token=token)
    assert "Did you mean" in body["errors"][0]["message"]
    assert errors_of(body) == ["GRAPHQL_VALIDATION_FAILED"]
    for query, variables in SUGGESTING:
        body = await api.gql(query, variables, token=token)
        assert "Did you mean" in body["errors"][0]["message"], body
    assert not (await api.gql(INTROSPECTION, token=token)).get("errors")
    response = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200 and "graphiql" in response.text.lower()


SUBSCRIPTION_BOMB = bomb(30, "subscription { ownershipChanged", "OwnershipEvent", "id cursor")


async def test_a_fragment_bomb_over_a_websocket_is_refused_the_same_way(api: Api) -> None:
    validator = validator_of(api.app)
    runs = validator.runs
    token = await api.token("alice@demo.test")
    async with connect(api.app, token) as live:
        await live.ws.send_json(
            {"id": "bomb", "type": "subscribe", "payload": {"query": SUBSCRIPTION_BOMB}}
        )
        message = await live.message("bomb")
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert validator.runs == runs
