"""No cyclic garbage from deliveries: once subscribers have received events and gone,
nothing of their executions, contexts or payloads is left for the cycle collector
(graphql-core's executor is a cycle by construction; schema/execution.py breaks it)."""

from __future__ import annotations

import gc
from collections import Counter
from contextlib import AsyncExitStack

from tests.conftest import Api
from tests.subscriptions.test_live import connect, create, last_event

SUBSCRIBE = """
subscription S($since: String) { ownershipChanged(since: $since) { id kind customer { id name } } }
"""
# Where the objects a delivery makes come from: none of them may be left for the collector.
# (SQLAlchemy's statement objects are cycles of their own, made per batch, not per
# subscriber; the test client's own tasks are not the server's.)
OURS = ("resolvers.", "schema.", "subscriptions.", "db.", "authz.", "graphql.", "strawberry.")


async def _round(api: Api, cursor: str, subscribers: int, events: int) -> None:
    async with AsyncExitStack() as stack:
        lives = []
        for _ in range(subscribers):
            live = await stack.enter_async_context(
                connect(api.app, await api.token("alice@demo.test"))
            )
            await live.subscribe(SUBSCRIBE, {"since": cursor})
            lives.append(live)
        for i in range(events):
            await create(api, "alice@demo.test", f"garbage {i}")
        for live in lives:
            for _ in range(events):
                message = await live.message_any()
                assert message["type"] == "next", message


async def test_subscribers_that_went_leave_no_cyclic_garbage(api: Api) -> None:
    start = await create(api, "alice@demo.test", "garbage start")
    _, cursor = await last_event(api, start)
    await _round(api, cursor, 2, 1)  # warm: first-use caches, validation of the document
    _, cursor = await last_event(api, await create(api, "alice@demo.test", "garbage warm"))
    gc.collect()
    gc.disable()
    try:
        await _round(api, cursor, 10, 3)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
        gc.enable()
    left = {name: n for name, n in found.items() if name.startswith(OURS)}
    assert left == {}, found.most_common(20)
