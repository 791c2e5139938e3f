"""GraphQL over HTTP: media types, status codes, and requests that are not GraphQL requests
answered as a 4xx with a stable code, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api

TYPENAME = "{ __typename }"
TWO_OPERATIONS = "query A { __typename } query B { me { email } }"
REMINDERS = "subscription Reminders { reminderDue { id } }"
NEW = "application/graphql-response+json"
JSON_BODY = {"content-type": "application/json"}


async def post(api: Api, body: bytes | str, accept: str | None = None) -> Any:
    headers = {**JSON_BODY, **({"accept": accept} if accept else {})}
    return await api.client.post("/graphql", content=body, headers=headers)


def code_of(response: Any) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ('"a string"', "JSON object"),
        ("[1, 2]", "JSON object"),
        ("null", "JSON object"),
        (b'{"query": "{ __typename \xff }"}', "UTF-8"),
        ("[" * 100_000 + "]" * 100_000, "nested"),
        ('{"query": "{ __typename }", "variables": {"a": ' + "[" * 30 + "]" * 30 + "}}", None),
        (
            '{"query": "{ __typename }", "variables": {"a": ' + "[" * 200 + "]" * 200 + "}}",
            "nested",
        ),
        ('{"query": "{ __typename }", "operationName": "x\\ud800y"}', "surrogate"),
        ('{"query": "{ __typename }", "operationName": 7}', "operationName"),
        ('{"query": "{ __typename ', "not valid JSON"),
        ('{"variables": {}}', "No GraphQL query"),
    ],
)
async def test_bodies_that_are_not_graphql_requests(
    api: Api, body: bytes | str, phrase: str | None
) -> None:
    answer = await post(api, body)
    if phrase is None:  # nested, but within reason: answered
        assert answer.status_code == 200, answer.text
        return
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert code_of(answer) == "BAD_REQUEST"
    assert phrase in answer.json()["errors"][0]["message"]
    assert "data" not in answer.json()


async def test_several_operations_need_an_operation_name(api: Api) -> None:
    legacy = await post(api, json.dumps({"query": TWO_OPERATIONS}))
    assert legacy.status_code == 200
    assert legacy.json()["data"] is None
    assert code_of(legacy) == "GRAPHQL_VALIDATION_FAILED"
    assert "operationName" in legacy.json()["errors"][0]["message"]
    new = await post(api, json.dumps({"query": TWO_OPERATIONS}), accept=NEW)
    assert new.status_code == 400 and "data" not in new.json()
    named = await post(api, json.dumps({"query": TWO_OPERATIONS, "operationName": "A"}))
    assert named.json()["data"] == {"__typename": "Query"}


async def test_a_subscription_over_plain_post_says_where_to_go(api: Api) -> None:
    token = await api.token("alice@demo.test")
    answer = await api.client.post(
        "/graphql", json={"query": REMINDERS}, headers={"authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 400
    assert code_of(answer) == "BAD_REQUEST"
    assert "WebSocket" in answer.json()["errors"][0]["message"]


async def test_a_subscription_streams_over_multipart(api: Api) -> None:
    token = await api.token("alice@demo.test")
    headers = {
        "authorization": f"Bearer {token}",
        "accept": "multipart/mixed;subscriptionSpec=1.0, application/json",
    }
    query = 'subscription { ownershipChanged(since: "nonsense") { id } }'
    async with api.client.stream(
        "POST", "/graphql", json={"query": query}, headers=headers
    ) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("multipart/mixed")
        text = ""
        async for chunk in answer.aiter_text():
            text += chunk
    # The resolver's own error, delivered as a payload of the stream: not INTERNAL.
    assert '"code":"VALIDATION"' in text
    assert text.rstrip().endswith("--graphql--")


async def test_media_types_and_request_errors(api: Api) -> None:
    ok = await post(api, json.dumps({"query": TYPENAME}), accept=f"{NEW}, application/json;q=0.9")
    assert ok.status_code == 200 and ok.headers["content-type"].startswith(NEW)
    legacy = await post(api, json.dumps({"query": TYPENAME}))
    assert legacy.headers["content-type"].startswith("application/json")
    for query, code in (("{", "GRAPHQL_PARSE_FAILED"), ("{ nope }", "GRAPHQL_VALIDATION_FAILED")):
        old = await post(api, json.dumps({"query": query}))
        assert old.status_code == 200 and old.json()["data"] is None
        assert code_of(old) == code
        new = await post(api, json.dumps({"query": query}), accept=NEW)
        assert new.status_code == 400 and "data" not in new.json()
        assert code_of(new) == code
    # A field error is not a request error: 200 under either type.
    me = await post(api, json.dumps({"query": "{ me { email } }"}), accept=NEW)
    assert me.status_code == 200 and "data" in me.json()


async def test_get_may_not_mutate(api: Api) -> None:
    answer = await api.client.get(
        "/graphql", params={"query": "mutation { releaseToPool(customerId: 1) { id } }"}
    )
    assert answer.status_code == 405
    assert code_of(answer) == "METHOD_NOT_ALLOWED"
