"""Live messages written by the feed itself, for subscribers alike to one that executed.

A thousand dashboards following the same feed, seen by a handful of people, need a
handful of executions per event (schema/execution.py shares them), but each delivery
still woke its own task and walked the whole subscription stack: the resolver's
generators, graphql-core's per-event executor, strawberry's per-result extension hooks,
its message building and JSON, Starlette's send. The feed's direct path
(subscriptions/feed.py `Direct`) skips that for a subscriber who is idle: one subscriber
of each group (the same plan, language, document and event variables) is delivered the
usual way, and the others get the same `next` message, written straight to their socket.

A message is only written this way when it would be exactly the one the usual way sends:
- over graphql-transport-ws (the transport sets `current_sink` for its operation), to an
  operation still open;
- from a result that is shared (no errors, schema/execution.py) and made under no audited
  relation (each audited read writes its own entry);
- with this subscription's own extensions (its cost report, the masked fields), asked of
  its own extensions through strawberry's runner once per distinct set of masked fields,
  while no delivery of its connection runs;
- while the connection's plan is the one the subscription started with.
Anything else goes the usual way; `tests/subscriptions/test_pool_masks.py` compares the
messages of both ways byte for byte.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import orjson

from resolvers.context import Context
from resolvers.live import delivery_lock
from schema.event import OwnershipEvent
from schema.execution import Document, SharedResults, document_key, event_shape


@dataclass(eq=False)
class Sink:
    """Where one graphql-transport-ws operation's messages go (ownergraph/websocket.py)."""

    handler: Any  # strawberry's BaseGraphQLTransportWSHandler
    operation: Any  # its Operation

    def is_open(self) -> bool:
        operation = self.operation
        return not operation.completed and self.handler.operations.get(operation.id) is operation

    async def send_text(self, text: str) -> bool:
        try:
            await self.handler.websocket.ws.send_text(text)
        except Exception:  # gone: its own delivery path notices and ends the operation
            return False
        return True


# Set by the transport for the task running one operation, and by the schema for the
# operation's strawberry execution context and extensions runner.
current_sink: ContextVar[Sink | None] = ContextVar("ownergraph_live_sink", default=None)
current_stream: ContextVar[tuple[Any, Any] | None] = ContextVar(
    "ownergraph_live_stream", default=None
)


@dataclass(eq=False)
class Frames:
    """One ownershipChanged subscription's direct path (a subscriptions.feed.Direct)."""

    sink: Sink
    ctx: Context
    stream: tuple[Any, Any]  # strawberry's execution context and extensions runner
    results: SharedResults
    shape: tuple[Any, ...]
    plan: Any
    prefix: str  # '{"id":…,"type":"next","payload":{"data":'
    extensions: dict[tuple[str, ...], str] = field(default_factory=dict)

    @classmethod
    def of(cls, info: Any) -> Frames | None:
        """For the subscription `info` belongs to, when its transport can take them."""
        sink, stream, ctx = current_sink.get(), current_stream.get(), info.context
        if sink is None or stream is None or not isinstance(ctx, Context):
            return None
        raw = info._raw_info  # graphql-core's: the fragments too
        document: Document = document_key(raw.operation, raw.fragments)
        variables = raw.variable_values
        shape = event_shape(ctx, document, getattr(variables, "coerced", variables))
        if shape is None:
            return None
        ident = orjson.dumps(sink.operation.id).decode()
        prefix = '{"id":' + ident + ',"type":"next","payload":{"data":'
        return cls(sink, ctx, stream, SharedResults.of(ctx.services), shape, ctx.plan, prefix)

    def group(self, event: Any) -> Hashable | None:
        if self.ctx._plan is not self.plan or not self.sink.is_open():
            return None
        return (OwnershipEvent.share_key_of(event.id), *self.shape)

    def executed(self, group: Hashable) -> Any:
        return self.results.executed_future(group)

    async def send(self, event: Any, group: Hashable) -> bool:
        entry = self.results.get(group, time.monotonic())
        if entry is None or not entry.done.done() or not self.sink.is_open():
            return False
        outcome = entry.done.result()
        if outcome is None:
            return False
        result, masked, audited = outcome
        if audited:
            return False
        extensions = self.extensions.get(masked)
        if extensions is None:
            lock = delivery_lock(self.ctx)
            if lock.locked():
                return False
            async with lock:
                extensions = await self._extensions(masked)
        if entry.data_json is None:
            entry.data_json = orjson.dumps(result.data).decode()
        frame = self.prefix + entry.data_json + extensions + "}}"
        if not await self.sink.send_text(frame):
            return False
        self.results.sent += 1
        return True

    async def _extensions(self, masked: tuple[str, ...]) -> str:
        """`,"extensions":{…}` as this subscription's extensions report a result with
        these masked fields (strawberry's `_handle_execution_result` asks the same)."""
        execution_context, runner = self.stream
        self.ctx.masked[:] = masked
        try:
            found = await runner.get_extensions_results(execution_context)
        finally:
            self.ctx.masked.clear()
        text = ',"extensions":' + orjson.dumps(found).decode() if found else ""
        self.extensions[masked] = text
        return text
