"""permessage-deflate is an operator's choice (OWNERGRAPH_WEBSOCKET_COMPRESSION), off by
default: every compressed socket keeps its own zlib state and spends CPU per message."""

from __future__ import annotations

from pathlib import Path

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.ownergraph.server import running


async def negotiated(url: str) -> str | None:
    """The extensions the real server agreed to, for a client offering deflate."""
    async with connect(
        url.replace("http", "ws", 1),
        subprotocols=[Subprotocol("graphql-transport-ws")],
        compression="deflate",
    ) as ws:
        assert ws.response is not None
        return ws.response.headers.get("Sec-WebSocket-Extensions")


async def test_compression_is_off_unless_turned_on(database_url: str, tmp_path: Path) -> None:
    with running(database_url, tmp_path) as server:
        assert await negotiated(server.graphql) is None
    with running(database_url, tmp_path, websocket_compression="true") as server:
        assert "permessage-deflate" in (await negotiated(server.graphql) or "")
