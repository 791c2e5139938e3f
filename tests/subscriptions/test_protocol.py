"""The WebSocket protocol's edges: malformed frames, the operation limit, and a revoked
token starting an operation, on both protocols."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from httpx_ws import WebSocketDisconnect
from sqlalchemy import update

from db.models import User
from kernel.clock import FrozenClock
from tests.conftest import Api, serve
from tests.subscriptions.test_live import (
    OWNERSHIP_CHANGED,
    WAIT,
    Live,
    connect,
    revoke,
    websocket,
)

ME = "query { me { email } }"


async def _closed(ws: Any) -> tuple[int, str]:
    async with asyncio.timeout(WAIT):
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                await ws.receive_json()
    return closed.value.code, closed.value.reason


@pytest.mark.parametrize(
    "frame",
    [
        [{"type": "connection_init"}],
        "connection_init",
        42,
        {"type": ["subscribe"]},
        {"id": "1", "type": "subscribe", "payload": ["query { me { email } }"]},
        {"id": "1", "type": "subscribe", "payload": {"query": 1}},
        {"id": 1, "type": "subscribe", "payload": {"query": ME}},
        {"id": "1", "type": "subscribe", "payload": {"query": ME, "variables": [1]}},
    ],
)
async def test_a_malformed_frame_is_a_protocol_error(api: Api, frame: object) -> None:
    async with connect(api.app, await api.token("alice@demo.test")) as live:
        await live.ws.send_json(frame)
        code, reason = await _closed(live.ws)
    assert code == 4400
    assert "must be a JSON object" in reason or "needs a string `id`" in reason


async def test_a_json_array_before_sign_in_is_a_protocol_error(api: Api) -> None:
    async with websocket(api.app) as ws:
        await ws.send_json([])
        assert await _closed(ws) == (
            4400,
            "A WebSocket message must be a JSON object with a string `type`.",
        )


async def test_a_malformed_legacy_frame_is_a_protocol_error(api: Api) -> None:
    async with websocket(api.app, "graphql-ws") as ws:
        await ws.send_json([{"type": "connection_init"}])
        code, _ = await _closed(ws)
    assert code == 4400


@pytest.fixture
async def limited(database_url: str, clock: FrozenClock, tmp_path: Path) -> Any:
    async with serve(database_url, clock, tmp_path, max_subscriptions_per_connection=1) as api:
        yield api


async def test_the_operation_limit_answers_with_a_code(limited: Api) -> None:
    async with connect(limited.app, await limited.token("alice@demo.test")) as live:
        await live.subscribe(OWNERSHIP_CHANGED)
        second = await live.subscribe(OWNERSHIP_CHANGED)
        message = await live.message(second)
    assert message["type"] == "error"
    [error] = message["payload"]
    assert error["extensions"] == {"code": "VALIDATION", "limit": 1}
    assert "1 operations" in error["message"]


async def test_the_legacy_operation_limit_answers_with_a_code(limited: Api) -> None:
    async with websocket(limited.app, "graphql-ws") as ws:
        token = await limited.token("alice@demo.test")
        await ws.send_json(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        for op in ("1", "2"):
            payload = {"query": OWNERSHIP_CHANGED}
            await ws.send_json({"id": op, "type": "start", "payload": payload})
        async with asyncio.timeout(WAIT):
            messages = [await ws.receive_json() for _ in range(2)]
    assert [m["type"] for m in messages] == ["connection_ack", "error"]
    assert messages[1]["id"] == "2"
    assert messages[1]["payload"]["extensions"]["code"] == "VALIDATION"


@pytest.mark.parametrize("document", [OWNERSHIP_CHANGED, ME])
async def test_a_revoked_token_cannot_start_an_operation(api: Api, document: str) -> None:
    """Whatever became of the revocation message: every operation re-reads the token."""
    jwt = await api.token("alice@demo.test")
    async with connect(api.app, jwt) as live:
        op = await live.subscribe(ME)
        assert (await live.next(op))["me"] == {"email": "alice@demo.test"}
        await revoke(api, jwt, announce=False)
        await live.subscribe(document)
        assert await Live(live.ws).closed_with() == 4403


async def test_a_user_whose_role_changed_must_sign_in_again(api: Api) -> None:
    """The connection's plan was built for the old role: it must not keep answering."""
    jwt = await api.token("bob@demo.test")
    async with connect(api.app, jwt) as live:
        op = await live.subscribe(ME)
        assert (await live.next(op))["me"] == {"email": "bob@demo.test"}
        async with api.services.db.write() as session, session.begin():
            await session.execute(
                update(User).where(User.email == "bob@demo.test").values(role="SERVICE")
            )
        await live.subscribe(ME)
        assert await Live(live.ws).closed_with() == 4403
    # Signing in again works, under the new role (once this process's token cache, which
    # a change made behind its back does not clear, has let the old lookup go).
    api.services.clock.advance(seconds=api.services.settings.token_cache_seconds)
    async with connect(api.app, jwt) as again:
        op = await again.subscribe("query { me { role } }")
        assert (await again.next(op))["me"] == {"role": "SERVICE"}
