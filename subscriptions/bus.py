"""The event bus. Messages are small JSON dicts on named channels.

Mutations publish after commit; subscribers receive every message published after they
subscribed. The in-process bus serves one worker; `RedisBus` (subscriptions/redis_bus.py)
fans out across workers and hosts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

Message = dict[str, Any]

# Channels.
OWNERSHIP = "ownership"  # {"id": event id, "customer_id": ..., "team_id": ...}
REMINDERS = "reminders"  # {"id": reminder id, "user_id": ...}
DISPUTES = "disputes"  # {"id": dispute id, "customer_id": ...}
REVOCATIONS = "revocations"  # {"token_id": ...} or {"user_id": ...} or {"partner_id": ...}
# Sent to local subscribers when messages may have been lost (a broker reconnect):
# re-read what you follow from the database.
RESYNC: Message = {"resync": True}


class Bus(Protocol):
    async def publish(self, channel: str, message: Message) -> None: ...

    def subscribe(self, channel: str) -> Any:
        """An async context manager yielding an async iterator of messages."""
        ...

    async def close(self) -> None: ...


class LocalBus:
    """In-process fan-out: one unbounded queue per subscriber."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[Message]]] = {}

    async def publish(self, channel: str, message: Message) -> None:
        for queue in list(self._queues.get(channel, ())):
            queue.put_nowait(message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        queue: asyncio.Queue[Message] = asyncio.Queue()
        self._queues.setdefault(channel, set()).add(queue)
        try:
            yield _drain(queue)
        finally:
            self._queues[channel].discard(queue)

    def subscriber_count(self, channel: str) -> int:
        return len(self._queues.get(channel, ()))

    def channels(self) -> list[str]:
        """Channels somebody listens on."""
        return [channel for channel, queues in self._queues.items() if queues]

    async def close(self) -> None:
        self._queues.clear()


async def _drain(queue: asyncio.Queue[Message]) -> AsyncIterator[Message]:
    while True:
        yield await queue.get()
