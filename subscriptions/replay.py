"""Replay then follow, with no gap and no duplicate by construction.

A bus message is only a wake-up call. What a subscriber receives is read from the
database after its cursor, so:

- the subscriber listens on the bus *before* it reads its starting point; whatever
  commits later wakes it up, whatever committed earlier is in the first read;
- a burst of messages is one wake-up (the inbox keeps a set, not a queue);
- rows come in cursor order and the cursor only moves forward, so nothing is sent twice;
  event ids commit in id order (db/events.lock_event_order), so nothing is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Mapping,
    Sequence,
)
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from typing import TypeVar

from subscriptions.bus import Bus, Message

P = TypeVar("P")
R = TypeVar("R")

# What a message means to one subscriber: a key worth waking up for, or None to ignore it.
Route = Callable[[Message], Hashable | None]

WAKE = "wake"  # the key for "something changed, read again"


class Inbox:
    """Keys of the messages received since the last `take`; a repeat is kept once."""

    def __init__(self) -> None:
        self._keys: set[Hashable] = set()
        self._arrived = asyncio.Event()

    def put(self, key: Hashable) -> None:
        self._keys.add(key)
        self._arrived.set()

    async def take(self) -> set[Hashable]:
        """Wait for at least one key, then return all of them."""
        await self._arrived.wait()
        self._arrived.clear()
        keys, self._keys = self._keys, set()
        return keys


@asynccontextmanager
async def listening(bus: Bus, routes: Mapping[str, Route]) -> AsyncIterator[Inbox]:
    """Subscribed to every channel of `routes` when this enters; messages pile up in the
    inbox (as the keys their route gives) until taken."""
    inbox = Inbox()
    async with AsyncExitStack() as stack:
        tasks = []
        for channel, route in routes.items():
            messages = await stack.enter_async_context(bus.subscribe(channel))
            tasks.append(asyncio.create_task(_pump(messages, route, inbox)))
        try:
            yield inbox
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task


async def _pump(messages: AsyncIterator[Message], route: Route, inbox: Inbox) -> None:
    async for message in messages:
        key = route(message)
        if key is not None:
            inbox.put(key)


async def follow(
    inbox: Inbox,
    read_after: Callable[[P], Awaitable[Sequence[R]]],
    start: P,
    position_of: Callable[[R], P],
    *,
    batch: int,
) -> AsyncGenerator[R, None]:
    """Rows after `start` in order, then each new row as the inbox announces it.

    `read_after(position)` returns at most `batch` rows after `position`, in order.
    """
    position = start
    while True:
        rows = await read_after(position)
        for row in rows:
            position = position_of(row)
            yield row
        if len(rows) < batch:
            await inbox.take()
