"""The event bus across workers and hosts, over Redis pub/sub.

Each worker keeps one Redis connection pattern-subscribed to `<prefix>*` and fans the
messages out to its local subscribers (a `LocalBus`), so a thousand WebSockets cost one
Redis connection, not a thousand. Messages are JSON. The prefix names the deployment
(`Settings.channel_prefix`): pub/sub ignores the db number, so two deployments sharing a
Redis must not share channel names.

A message is a wake-up call: the state it announces is in the database. So a broker
outage loses nothing that matters, as long as subscribers re-read:

- publishing retries on a fresh connection (redis-py's `Retry`), so the first publish
  after a broker restart is not lost to a dead pooled connection; what still fails is
  kept and published again once the broker is back;
- the reader reconnects and resubscribes on its own; after a reconnect local subscribers
  get `RESYNC` (messages may have been lost: re-read);
- while the broker is unreachable local subscribers get `RESYNC` every `poll_seconds`,
  so live subscriptions fall back to polling the database by cursor.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from subscriptions.bus import RESYNC, LagObserver, LocalBus, Message

log = logging.getLogger("ownergraph.bus")

PREFIX = "ownergraph:"
# Publishes that failed while the broker was away, kept to send again (oldest dropped
# first: subscribers re-read after a reconnect anyway).
PENDING_LIMIT = 1000
# When a message was first published (time.time()), carried in the payload only.
SENT_AT = "_sent_at"


class RedisBus:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = PREFIX,
        ready_timeout: float = 5.0,
        idle_ping_seconds: float = 15.0,
        poll_seconds: float = 2.0,
    ) -> None:
        # A publish follows a commit and holds up its request: a few quick retries on a
        # fresh connection (a restarted broker leaves every pooled connection dead), and
        # a PING before reusing a connection idle for long.
        self._client = redis.Redis.from_url(
            url,
            decode_responses=True,
            client_name=f"{prefix}bus",  # so an operator can tell the connections apart
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=4),
            retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
            health_check_interval=int(idle_ping_seconds),
            socket_connect_timeout=2,
            socket_keepalive=True,
        )
        self._prefix = prefix
        self._ready_timeout = ready_timeout
        self._idle_ping_seconds = idle_ping_seconds
        self._poll_seconds = poll_seconds
        self._local = LocalBus()
        self._reader: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._pending: deque[tuple[str, str]] = deque(maxlen=PENDING_LIMIT)

    @property
    def observe_lag(self) -> LagObserver | None:
        return self._local.observe_lag

    @observe_lag.setter
    def observe_lag(self, observer: LagObserver | None) -> None:
        self._local.observe_lag = observer

    @property
    def connected(self) -> bool:
        """Subscribed and listening (False before the first subscriber and while down)."""
        return self._ready.is_set()

    async def publish(self, channel: str, message: Message) -> None:
        # Publishing follows a commit: failing the request now would report a change that
        # happened as one that did not. Subscribers catch up from the database.
        data = json.dumps({**message, SENT_AT: time.time()}, default=str)
        # Known to be down: keep it for the reconnect rather than hold up the request.
        if self._poller is not None or not await self._send(self._prefix + channel, data):
            self._pending.append((self._prefix + channel, data))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        async with self._local.subscribe(channel) as messages:
            await self._listening()
            yield messages

    def subscriber_count(self, channel: str) -> int:
        return self._local.subscriber_count(channel)

    async def close(self) -> None:
        for task in (self._reader, self._poller):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        self._reader = self._poller = None
        await self._local.close()
        await self._client.aclose()

    async def _send(self, channel: str, data: str) -> bool:
        try:
            await self._client.publish(channel, data)
            return True
        except (RedisError, OSError):
            log.warning("could not publish to %s; will send it again", channel, exc_info=True)
            return False

    async def _flush_pending(self) -> None:
        while self._pending:
            channel, data = self._pending[0]
            if not await self._send(channel, data):
                return
            self._pending.popleft()

    async def _listening(self) -> None:
        """Start the reader once; wait until Redis confirmed the subscription, so every
        message published from now on reaches this worker."""
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="ownergraph-redis-bus")
        if self._ready.is_set() or self._poller is not None:
            return  # listening, or known to be down (subscribers poll meanwhile)
        try:
            async with asyncio.timeout(self._ready_timeout):
                await self._ready.wait()
        except TimeoutError:
            # Redis is down: serve anyway; subscribers poll until it is back.
            log.warning("Redis did not confirm the subscription in %ss", self._ready_timeout)

    async def _read(self) -> None:
        backoff = 0.1
        # A confirmation after the first one means the connection was replaced (by us, or
        # by redis-py's own retry); messages may have been lost meanwhile.
        confirmed = lost = False
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
                        self._up()
                        if confirmed or lost:
                            await self._flush_pending()
                            await self._resync()
                        confirmed, lost = True, False
                    elif raw["type"] == "pmessage":
                        await self._deliver(raw["channel"], raw["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("lost the Redis bus; reconnecting in %.1fs", backoff, exc_info=True)
                lost = True
                self._down()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with suppress(Exception):
                    await pubsub.aclose()

    def _up(self) -> None:
        self._ready.set()
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    def _down(self) -> None:
        self._ready.clear()
        if self._poller is None and self._poll_seconds > 0:
            self._poller = asyncio.create_task(self._poll(), name="ownergraph-bus-poll")

    async def _poll(self) -> None:
        """While the broker is away, wake every local subscriber to re-read."""
        while True:
            await asyncio.sleep(self._poll_seconds)
            await self._resync()

    async def _deliver(self, channel: str, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("ignored a non-JSON message on %s", channel)
            return
        if isinstance(message, dict):
            sent_at = message.pop(SENT_AT, None)
            stamp = float(sent_at) if isinstance(sent_at, int | float) else None
            await self._local.publish(channel.removeprefix(self._prefix), message, stamp)

    async def _resync(self) -> None:
        for channel in self._local.channels():
            await self._local.publish(channel, dict(RESYNC))
