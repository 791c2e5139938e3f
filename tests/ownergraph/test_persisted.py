"""Persisted queries through the real app: Apollo's APQ protocol over POST, GET and
WebSocket, shared by every worker through the database, and the allow-list mode loaded
by `ownergraph persisted-queries load`."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kernel.clock import FrozenClock
from ownergraph.cli import app as cli
from tests.conftest import Api, serve
from tests.subscriptions.test_live import (
    OWNERSHIP_CHANGED,
    WAIT,
    connect,
    create,
    last_event,
    websocket,
)

ME = "query Me { me { email } }"
ME_HASH = hashlib.sha256(ME.encode()).hexdigest()
OTHER = "query Other { me { name } }"
OTHER_HASH = hashlib.sha256(OTHER.encode()).hexdigest()
ALICE = {"me": {"email": "alice@demo.test"}}
ACKNOWLEDGE = 'mutation Ack { acknowledgeReminder(id: "0") { id } }'


def hashed(sha: str = ME_HASH) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha}}


async def post(api: Api, token: str, **body: Any) -> tuple[int, dict[str, Any], Any]:
    response = await api.client.post(
        "/graphql", json=body, headers={"authorization": f"Bearer {token}"}
    )
    return response.status_code, response.json(), response.headers


def code(body: dict[str, Any]) -> str:
    assert "data" not in body or body["data"] is None, body
    [error] = body["errors"]
    return str(error["extensions"]["code"])


async def test_miss_then_register_then_hit(api: Api) -> None:
    token = await api.token("alice@demo.test")
    status, body, headers = await post(api, token, extensions=hashed())
    assert status == 200
    assert body["errors"][0]["message"] == "PersistedQueryNotFound"
    assert code(body) == "PERSISTED_QUERY_NOT_FOUND"
    assert "no-cache" in headers["cache-control"]

    status, body, _ = await post(api, token, query=ME, extensions=hashed())
    assert (status, body["data"]) == (200, ALICE)

    status, body, _ = await post(api, token, extensions=hashed(), operationName="Me")
    assert (status, body["data"]) == (200, ALICE)


async def test_a_hash_that_is_not_the_querys_is_refused(api: Api) -> None:
    token = await api.token("alice@demo.test")
    status, body, _ = await post(api, token, query=OTHER, extensions=hashed(ME_HASH))
    assert status == 400 and code(body) == "BAD_REQUEST"
    assert "not the SHA-256" in body["errors"][0]["message"]
    # Nothing was registered under either hash.
    for sha in (ME_HASH, OTHER_HASH):
        _, body, _ = await post(api, token, extensions=hashed(sha))
        assert code(body) == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    "extensions",
    [
        {"persistedQuery": {"version": 2, "sha256Hash": ME_HASH}},
        {"persistedQuery": {"version": 1, "sha256Hash": "abc"}},
        {"persistedQuery": "x"},
    ],
)
async def test_a_malformed_persisted_query_is_a_bad_request(
    api: Api, extensions: dict[str, Any]
) -> None:
    status, body, _ = await post(api, await api.token("alice@demo.test"), extensions=extensions)
    assert status == 400 and code(body) == "BAD_REQUEST"


async def test_a_document_that_does_not_validate_is_not_registered(api: Api) -> None:
    token = await api.token("alice@demo.test")
    bad = "query { me { noSuchField } }"
    sha = hashlib.sha256(bad.encode()).hexdigest()
    _, body, _ = await post(api, token, query=bad, extensions=hashed(sha))
    assert code(body) == "GRAPHQL_VALIDATION_FAILED"
    _, body, _ = await post(api, token, extensions=hashed(sha))
    assert code(body) == "PERSISTED_QUERY_NOT_FOUND"


async def test_get_with_a_hash_runs_queries_only(api: Api) -> None:
    token = await api.token("alice@demo.test")
    headers = {"authorization": f"Bearer {token}"}
    await post(api, token, query=ME, extensions=hashed())
    params = {"extensions": json.dumps(hashed()), "operationName": "Me"}
    response = await api.client.get("/graphql", params=params, headers=headers)
    assert response.status_code == 200
    assert response.json()["data"] == ALICE

    sha = hashlib.sha256(ACKNOWLEDGE.encode()).hexdigest()
    params = {"query": ACKNOWLEDGE, "extensions": json.dumps(hashed(sha))}
    response = await api.client.get("/graphql", params=params, headers=headers)
    assert response.status_code == 405
    # Registered by POST, a mutation still never runs by GET.
    _, body, _ = await post(api, token, query=ACKNOWLEDGE, extensions=hashed(sha))
    assert code(body) == "NOT_FOUND"
    params = {"extensions": json.dumps(hashed(sha))}
    response = await api.client.get("/graphql", params=params, headers=headers)
    assert response.status_code == 405, response.text


async def test_a_registration_through_one_worker_serves_every_worker(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with (
        serve(database_url, clock, tmp_path) as one,
        serve(database_url, clock, tmp_path) as two,
    ):
        token = await one.token("alice@demo.test")
        _, body, _ = await post(two, token, extensions=hashed())
        assert code(body) == "PERSISTED_QUERY_NOT_FOUND"
        await post(one, token, query=ME, extensions=hashed())
        _, body, _ = await post(two, token, extensions=hashed())
        assert body["data"] == ALICE


async def test_over_websocket(api: Api) -> None:
    async with connect(api.app, await api.token("alice@demo.test")) as live:
        await live.ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"extensions": hashed()}}
        )
        miss = await live.message("1")
        assert miss["type"] == "error"
        assert miss["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

        payload = {"query": ME, "extensions": hashed()}
        await live.ws.send_json({"id": "2", "type": "subscribe", "payload": payload})
        assert await live.next("2") == ALICE

        await live.ws.send_json(
            {"id": "3", "type": "subscribe", "payload": {"extensions": hashed()}}
        )
        assert await live.next("3") == ALICE


async def test_over_the_legacy_websocket_protocol(api: Api) -> None:
    """subscriptions-transport-ws runs subscriptions only: one that replays an event."""
    start = await create(api, "alice@demo.test", "start")
    _, cursor = await last_event(api, start)
    await create(api, "alice@demo.test", "later")
    sha = hashlib.sha256(OWNERSHIP_CHANGED.encode()).hexdigest()
    since = {"since": cursor}
    async with websocket(api.app, "graphql-ws") as ws:
        token = await api.token("alice@demo.test")
        await ws.send_json(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        assert (await ws.receive_json())["type"] == "connection_ack"
        miss = {"extensions": hashed(sha), "variables": since}
        await ws.send_json({"id": "1", "type": "start", "payload": miss})
        async with asyncio.timeout(WAIT):
            error = await ws.receive_json()
        assert (error["id"], error["type"]) == ("1", "error")
        assert error["payload"]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        register = {"query": OWNERSHIP_CHANGED, "extensions": hashed(sha), "variables": since}
        await ws.send_json({"id": "2", "type": "start", "payload": register})
        await ws.send_json({"id": "3", "type": "start", "payload": miss})
        async with asyncio.timeout(WAIT):
            replayed = [await ws.receive_json() for _ in range(2)]
    assert sorted((m["id"], m["type"]) for m in replayed) == [("2", "data"), ("3", "data")]
    assert replayed[0]["payload"]["data"] == replayed[1]["payload"]["data"]


def manifest(*bodies: str) -> dict[str, Any]:
    """What Apollo's generate-persisted-query-manifest writes."""
    operations = [
        {
            "id": hashlib.sha256(body.encode()).hexdigest(),
            "name": body.split()[1],
            "type": "query",
            "body": body,
        }
        for body in bodies
    ]
    return {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}


async def load(database_url: str, tmp_path: Path, content: object) -> tuple[int, str]:
    """`ownergraph persisted-queries load` (in a thread: the command runs its own loop)."""
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(content))
    args = ["persisted-queries", "load", str(path), "--database-url", database_url]
    result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    return result.exit_code, " ".join(result.output.split())


async def test_allow_list_mode(database_url: str, clock: FrozenClock, tmp_path: Path) -> None:
    assert await load(database_url, tmp_path, manifest(ME)) == (
        0,
        "1 operations loaded, 0 already there.",
    )
    async with serve(database_url, clock, tmp_path, persisted_only=True) as api:
        token = await api.token("alice@demo.test")
        # Listed: by hash, by hash and text, and by its text alone.
        assert (await post(api, token, extensions=hashed()))[1]["data"] == ALICE
        assert (await post(api, token, query=ME, extensions=hashed()))[1]["data"] == ALICE
        assert (await post(api, token, query=ME))[1]["data"] == ALICE
        # Not listed: no registration, whatever the client sends.
        for body in ({"query": OTHER}, {"query": OTHER, "extensions": hashed(OTHER_HASH)}):
            status, answer, _ = await post(api, token, **body)
            assert (status, code(answer)) == (400, "PERSISTED_QUERY_NOT_IN_LIST")
        status, answer, _ = await post(api, token, extensions=hashed(OTHER_HASH))
        assert (status, code(answer)) == (400, "PERSISTED_QUERY_NOT_IN_LIST")

        async with connect(api.app, token) as live:
            payload = {"query": OTHER}
            await live.ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
            refused = await live.message("1")
            assert refused["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
            payload = {"extensions": hashed()}
            await live.ws.send_json({"id": "2", "type": "subscribe", "payload": payload})
            assert await live.next("2") == ALICE

    # A plain {hash: query} map loads too; what is there already is kept.
    assert await load(database_url, tmp_path, {OTHER_HASH: OTHER, ME_HASH: ME}) == (
        0,
        "1 operations loaded, 1 already there.",
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        # One bad entry among good ones: none loads.
        ({OTHER_HASH: OTHER, ME_HASH: OTHER}, "not the SHA-256"),
        (manifest("query Bad { me { noSuchField } }"), "do not validate"),
        ({"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}, "version"),
        ([ME], "JSON object"),
    ],
)
async def test_a_bad_manifest_loads_nothing(
    database_url: str, tmp_path: Path, content: object, reason: str
) -> None:
    status, output = await load(database_url, tmp_path, content)
    assert status == 1 and reason in output, output
    assert await load(database_url, tmp_path, {}) == (0, "0 operations loaded, 0 already there.")


async def test_the_miss_says_persisted_query_not_found_in_every_language(api: Api) -> None:
    """Clients look for the exact message (Apollo, urql): it is a protocol's word, not a
    sentence to translate, whatever Accept-Language asks for."""
    token = await api.token("alice@demo.test")
    response = await api.client.post(
        "/graphql",
        json={"extensions": hashed()},
        headers={"authorization": f"Bearer {token}", "accept-language": "zh-CN"},
    )
    assert response.json()["errors"][0]["message"] == "PersistedQueryNotFound"
