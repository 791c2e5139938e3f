"""Browsers on other origins: CORS for HTTP and the same list for WebSocket upgrades, from
OWNERGRAPH_ALLOWED_ORIGINS (default: localhost in development, nothing in production)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin, Subprotocol

from kernel.clock import FrozenClock
from kernel.settings import Settings
from ownergraph.origins import OriginPolicy
from tests.conftest import serve
from tests.ownergraph.server import issue_cli_token, running

ME = "query Me { me { email } }"
APP = "http://localhost:3000"
PREFLIGHT = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
}


async def signs_in(url: str, origin: str | None, token: str) -> bool:
    """A graphql-transport-ws handshake and sign-in against the real server."""
    async with connect(
        url.replace("http", "ws", 1),
        origin=Origin(origin) if origin else None,
        subprotocols=[Subprotocol("graphql-transport-ws")],
    ) as ws:
        payload = {"authorization": f"Bearer {token}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        async with asyncio.timeout(10):
            return bool(json.loads(await ws.recv())["type"] == "connection_ack")


def test_policy_defaults_and_setting() -> None:
    dev = OriginPolicy.of(Settings())
    assert dev.allows("http://localhost:3000") and dev.allows("http://127.0.0.1:5173")
    assert not dev.allows("https://evil.example") and not dev.allows("null")
    assert not OriginPolicy.of(Settings(production=True)).allows("http://localhost:3000")
    listed = OriginPolicy.of(Settings(allowed_origins="https://crm.example.com, https://b.example"))
    assert listed.allows("https://CRM.example.com:443") and listed.allows("https://b.example")
    assert not listed.allows("http://localhost:3000")
    assert OriginPolicy.of(Settings(allowed_origins="*")).allows("https://anything.example")


async def test_preflight_and_headers_for_an_allowed_origin(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(database_url, clock, tmp_path) as api:
        preflight = await api.client.options("/graphql", headers={"origin": APP, **PREFLIGHT})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == APP
        assert "POST" in preflight.headers["access-control-allow-methods"]
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
        assert int(preflight.headers["access-control-max-age"]) > 0

        token = await api.token("alice@demo.test")
        answer = await api.client.post(
            "/graphql",
            json={"query": ME},
            headers={"origin": APP, "authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200
        assert answer.json()["data"]["me"]["email"] == "alice@demo.test"
        assert answer.headers["access-control-allow-origin"] == APP
        assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()


async def test_a_refused_origin_gets_no_cors_grant(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(
        database_url, clock, tmp_path, allowed_origins=["https://crm.example.com"]
    ) as api:
        refused = await api.client.options("/graphql", headers={"origin": APP, **PREFLIGHT})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        plain = await api.client.post("/graphql", json={"query": ME}, headers={"origin": APP})
        assert "access-control-allow-origin" not in plain.headers
        granted = await api.client.options(
            "/graphql", headers={"origin": "https://crm.example.com", **PREFLIGHT}
        )
        assert granted.headers["access-control-allow-origin"] == "https://crm.example.com"


async def test_websocket_from_an_allowed_and_a_refused_origin(
    database_url: str, tmp_path: Path
) -> None:
    token = issue_cli_token(database_url, tmp_path)
    with running(database_url, tmp_path) as server:
        assert await signs_in(server.graphql, APP, token)
        with pytest.raises(InvalidStatus) as refused:
            await signs_in(server.graphql, "https://evil.example", token)
        assert refused.value.response.status_code == 403
    with running(database_url, tmp_path, production="true") as server:
        with pytest.raises(InvalidStatus) as refused:
            await signs_in(server.graphql, APP, token)
        assert refused.value.response.status_code == 403
        # Non-browser clients send no Origin: nothing for a foreign page to abuse.
        assert await signs_in(server.graphql, None, token)
