"""The WebSocket protocol handlers: strawberry's, plus what a public endpoint needs.

- A frame that is not a JSON object of the protocol's shape is a protocol error (close
  4400 with a reason), never a crash inside the handler.
- Every operation a socket starts re-reads its token first: a revoked token cannot start
  anything, whatever happened to the revocation message (closed 4403).
- A subscribe (or start) message may carry `payload.extensions.persistedQuery` instead of
  a `query`, as over HTTP (ownergraph/persisted.py); a miss answers with an error message.
- The per-connection operation limit answers with an error that carries
  `extensions.code`, like every other error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from kernel.errors import DomainError, Validation
from kernel.messages import N_
from resolvers.context import Context
from schema.errors import format_error
from schema.live_frames import Sink, current_sink, current_stream

if TYPE_CHECKING:
    from subscriptions.revocation import RevocationWatch

NOT_AN_OBJECT = "A WebSocket message must be a JSON object with a string `type`."
BAD_PAYLOAD = (
    "A subscribe message needs a string `id` and a `payload` object with a `query` "
    "(or `extensions.persistedQuery`)."
)


def _shape_error(message: object, start: str) -> str | None:
    """Why `message` is not a well-formed protocol message, or None."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return NOT_AN_OBJECT
    if message["type"] != start:
        return None
    payload = message.get("payload")
    if (
        not isinstance(message.get("id"), str)
        or not isinstance(payload, dict)
        or (
            not isinstance(payload.get("query"), str)
            and not (payload.get("query") is None and _persisted(payload))
        )
        or not isinstance(payload.get("variables") or {}, dict)
        or not isinstance(payload.get("operationName") or "", str)
    ):
        return BAD_PAYLOAD
    return None


def _persisted(payload: dict[str, Any]) -> bool:
    extensions = payload.get("extensions")
    return isinstance(extensions, dict) and "persistedQuery" in extensions


def _formatted(exc: DomainError) -> dict[str, Any]:
    return dict(format_error(GraphQLError(exc.message, original_error=exc)).formatted)


def _limit_error(limit: int) -> dict[str, Any]:
    return _formatted(
        Validation(
            N_(
                "This connection already runs {limit} operations, the most allowed; complete "
                "one or open another connection.",
                limit=limit,
            ),
            limit=limit,
        )
    )


async def _resolve_persisted(handler: Any, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Puts the text to run in `payload["query"]`; the error to send instead, if any."""
    persisted = handler.view.persisted
    if persisted is None:
        return None
    try:
        payload["query"] = await persisted.resolve(payload.get("query"), payload.get("extensions"))
    except DomainError as exc:
        return _formatted(exc)
    return None


def _watch(handler: Any) -> RevocationWatch:
    watch: RevocationWatch = handler.view.revocations
    return watch


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws."""

    async def handle_message(self, message: Any) -> None:
        if reason := _shape_error(message, "subscribe"):
            await self.handle_invalid_message(reason)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: Any) -> None:
        if self.connection_acknowledged:
            if not await _watch(self).ensure_live(self.context):
                return  # closed 4403
            limit = self.max_subscriptions_per_connection
            if limit is not None and len(self.operations) >= limit:
                error = {"id": message["id"], "type": "error", "payload": [_limit_error(limit)]}
                await self.send_message(error)  # type: ignore[arg-type]
                return
            if problem := await _resolve_persisted(self, message["payload"]):
                error = {"id": message["id"], "type": "error", "payload": [problem]}
                await self.send_message(error)  # type: ignore[arg-type]
                return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Any) -> None:
        # The operation's own task: the feed may write its `next` messages itself
        # (schema/live_frames.py).
        sink = current_sink.set(Sink(self, operation))
        try:
            await super().run_operation(operation)
        finally:
            # The task keeps its context: no cycle through the operation back to it.
            current_sink.reset(sink)
            current_stream.set(None)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol (subscriptions-transport-ws)."""

    async def handle_message(self, message: Any) -> None:
        if reason := _shape_error(message, "start"):
            await self.websocket.close(code=4400, reason=reason)
            return
        await super().handle_message(message)

    async def handle_start(self, message: Any) -> None:
        if self.connection_acknowledged:
            if not await _watch(self).ensure_live(self.context):
                return
            limit = self.max_subscriptions_per_connection
            ident = message["id"]
            if limit is not None and ident not in self.tasks and len(self.tasks) >= limit:
                error = {"id": ident, "type": "error", "payload": _limit_error(limit)}
                await self.send_message(error)  # type: ignore[arg-type]
                return
            if problem := await _resolve_persisted(self, message["payload"]):
                error = {"id": ident, "type": "error", "payload": problem}
                await self.send_message(error)  # type: ignore[arg-type]
                return
        await super().handle_start(message)
