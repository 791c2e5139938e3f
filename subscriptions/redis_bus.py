"""The event bus across workers and hosts, over Redis pub/sub.

Each worker keeps one Redis connection pattern-subscribed to `ownergraph:*` and fans the
messages out to its local subscribers (a `LocalBus`), so a thousand WebSockets cost one
Redis connection, not a thousand. Messages are JSON. A message is a wake-up call: the
state it announces is in the database, so after a lost connection local subscribers get
`RESYNC` and re-read instead of trusting that nothing happened.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import redis.asyncio as redis
from redis.exceptions import RedisError

from subscriptions.bus import RESYNC, LocalBus, Message

log = logging.getLogger("ownergraph.bus")

PREFIX = "ownergraph:"


class RedisBus:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = PREFIX,
        ready_timeout: float = 5.0,
        idle_ping_seconds: float = 15.0,
    ) -> None:
        # Named after the prefix, so an operator can tell the bus's connections apart.
        self._client = redis.Redis.from_url(url, decode_responses=True, client_name=f"{prefix}bus")
        self._prefix = prefix
        self._ready_timeout = ready_timeout
        self._idle_ping_seconds = idle_ping_seconds
        self._local = LocalBus()
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def publish(self, channel: str, message: Message) -> None:
        # Publishing follows a commit: failing the request now would report a change that
        # happened as one that did not. Subscribers catch up from the database.
        try:
            await self._client.publish(self._prefix + channel, json.dumps(message, default=str))
        except (RedisError, OSError):
            log.warning("could not publish to %s%s", self._prefix, channel, exc_info=True)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        async with self._local.subscribe(channel) as messages:
            await self._listening()
            yield messages

    def subscriber_count(self, channel: str) -> int:
        return self._local.subscriber_count(channel)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._local.close()
        await self._client.aclose()

    async def _listening(self) -> None:
        """Start the reader once; wait until Redis confirmed the subscription, so every
        message published from now on reaches this worker."""
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="ownergraph-redis-bus")
        if self._ready.is_set():
            return
        try:
            async with asyncio.timeout(self._ready_timeout):
                await self._ready.wait()
        except TimeoutError:
            # Redis is down: serve anyway; subscribers get RESYNC once it is back.
            log.warning("Redis did not confirm the subscription in %ss", self._ready_timeout)

    async def _read(self) -> None:
        backoff = 0.1
        confirmed = False
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.psubscribe(self._prefix + "*")
                while True:
                    raw = await pubsub.get_message(timeout=self._idle_ping_seconds)
                    if raw is None:
                        await pubsub.ping()  # a dead connection shows itself on write
                    elif raw["type"] == "psubscribe":
                        backoff = 0.1
                        if confirmed:
                            await self._resync()
                        confirmed = True
                        self._ready.set()
                    elif raw["type"] == "pmessage":
                        await self._deliver(raw["channel"], raw["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("lost the Redis bus; reconnecting in %.1fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with suppress(Exception):
                    await pubsub.aclose()

    async def _deliver(self, channel: str, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("ignored a non-JSON message on %s", channel)
            return
        if isinstance(message, dict):
            await self._local.publish(channel.removeprefix(self._prefix), message)

    async def _resync(self) -> None:
        for channel in self._local.channels():
            await self._local.publish(channel, dict(RESYNC))
