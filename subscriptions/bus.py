"""The event bus. Messages are small JSON dicts on named channels.

Mutations publish after commit; subscribers receive every message published after they
subscribed. The in-process bus serves one worker; `RedisBus` (subscriptions/redis_bus.py)
fans out across workers and hosts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

Message = dict[str, Any]
# Told the seconds from each publish (right after its commit) to its delivery to a local
# subscriber: the bus lag /metrics reports. Wall-clock time, as it may cross hosts.
LagObserver = Callable[[float], None]

# Channels.
OWNERSHIP = "ownership"  # {"id": event id, "customer_id": ..., "team_id": ...}
REMINDERS = "reminders"  # {"id": reminder id, "user_id": ...}
DISPUTES = "disputes"  # {"id": dispute id, "customer_id": ...}
REVOCATIONS = "revocations"  # {"token_id": ...} or {"user_id": ...} or {"partner_id": ...}
# Sent to local subscribers when messages may have been lost (a broker reconnect):
# re-read what you follow from the database.
RESYNC: Message = {"resync": True}


class Bus(Protocol):
    observe_lag: LagObserver | None

    async def publish(self, channel: str, message: Message) -> None: ...

    def subscribe(self, channel: str) -> Any:
        """An async context manager yielding an async iterator of messages."""
        ...

    async def close(self) -> None: ...


class LocalBus:
    """In-process fan-out: one unbounded queue per subscriber."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[tuple[Message, float]]]] = {}
        self.observe_lag: LagObserver | None = None

    async def publish(self, channel: str, message: Message, sent_at: float | None = None) -> None:
        """`sent_at`: when the message was first published, if elsewhere (Redis)."""
        stamp = time.time() if sent_at is None else sent_at
        for queue in list(self._queues.get(channel, ())):
            queue.put_nowait((message, stamp))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        queue: asyncio.Queue[tuple[Message, float]] = asyncio.Queue()
        self._queues.setdefault(channel, set()).add(queue)
        try:
            yield self._drain(queue)
        finally:
            self._queues[channel].discard(queue)

    def subscriber_count(self, channel: str) -> int:
        return len(self._queues.get(channel, ()))

    def channels(self) -> list[str]:
        """Channels somebody listens on."""
        return [channel for channel, queues in self._queues.items() if queues]

    async def close(self) -> None:
        self._queues.clear()

    async def _drain(self, queue: asyncio.Queue[tuple[Message, float]]) -> AsyncIterator[Message]:
        while True:
            message, sent_at = await queue.get()
            if self.observe_lag is not None and "resync" not in message:
                self.observe_lag(max(0.0, time.time() - sent_at))
            yield message
