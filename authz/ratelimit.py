"""Rate limits: buckets of cost points that refill at a steady rate (the way Shopify meters
its GraphQL API), one per token and one per client IP.

A bucket of `points` restoring `restore_rate` points a second is the `limits` library's
sliding-window counter of `points` per window of points / restore_rate seconds, each
request hitting it with its cost. A token's bucket pays for what the token runs; an IP's
bucket pays for unauthenticated operations and failed sign-ins, so guessing tokens costs
the guesser. With a Redis URL the counters live in Redis and every worker and host of one
deployment shares them; otherwise they live in this process. When Redis does not answer,
each worker limits on its own until it does, rather than refusing everyone.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import cast

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.storage.base import SlidingWindowCounterSupport
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from authz.principal import Principal
from kernel.errors import RateLimited
from kernel.messages import N_
from kernel.settings import Settings

log = logging.getLogger("ownergraph")

# After Redis fails to answer, seconds each worker limits on its own before trying again.
SHARED_RETRY_SECONDS = 5


@dataclass(frozen=True)
class Bucket:
    name: str
    points: int
    restore_rate: float

    @property
    def window(self) -> int:
        """Seconds a full bucket takes to refill (whole seconds: the library's unit)."""
        return max(1, round(self.points / self.restore_rate))

    @property
    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.points, self.window, namespace=self.name)


@dataclass(frozen=True)
class Quota:
    """A bucket's state after a charge (or a look)."""

    limit: int
    remaining: int
    restore_rate: float
    # Seconds until the refused charge would fit; None when it was accepted.
    retry_after: int | None = None
    # Points the charge took.
    charged: int = 0

    def refusal(self, what: str) -> RateLimited:
        return RateLimited(
            N_(
                "Rate limit reached: {what} has {remaining:,} of {limit:,} points left, "
                "restoring {restore_rate:,g} a second. Try again in {retry_after} s.",
                what=what,
                remaining=self.remaining,
                limit=self.limit,
                restore_rate=self.restore_rate,
                retry_after=self.retry_after,
            ),
            retryAfter=self.retry_after,
        )


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.token = Bucket("token", settings.rate_limit_points, settings.rate_limit_restore_rate)
        self.ip = Bucket("ip", settings.ip_rate_limit_points, settings.ip_rate_limit_restore_rate)
        self.failed_auth_cost = settings.failed_auth_cost
        self._local = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._shared: SlidingWindowCounterRateLimiter | None = None
        self._shared_retry_at = 0.0
        self._pool = None
        if settings.broadcast_url:
            import redis.asyncio

            self._pool = redis.asyncio.ConnectionPool.from_url(
                settings.broadcast_url, socket_connect_timeout=1, socket_timeout=1
            )
            prefix = settings.rate_limit_prefix or settings.channel_prefix() + "limits:"
            storage = RedisStorage(
                "async+" + settings.broadcast_url,
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix=prefix,
                connection_pool=self._pool,  # type: ignore[arg-type]  # passed to redis-py
            )
            self._shared = SlidingWindowCounterRateLimiter(storage)

    def bucket_for(self, principal: Principal | None, client: str | None) -> tuple[Bucket, str]:
        """The bucket that pays for an operation: its token's, or its IP's when it has none."""
        if principal is None:
            return self.ip, client or "unknown"
        if principal.token_id is not None:
            return self.token, str(principal.token_id)
        return self.token, f"{principal.role}:{principal.user_id or principal.partner_id}"

    async def charge(self, bucket: Bucket, key: str, cost: int) -> Quota:
        """Take `cost` points, or refuse and say when they would be there. A cost above the
        bucket's size takes a full bucket (the complexity limit bounds it, not this)."""
        amount = max(1, min(cost, bucket.points))
        return await self._on_storage(lambda limiter: self._charge(limiter, bucket, key, amount))

    async def take_up_to(self, bucket: Bucket, key: str, cost: int) -> Quota:
        """Take `cost` points, or all the bucket has left when that is less."""
        quota = await self.charge(bucket, key, cost)
        if quota.retry_after is not None and quota.remaining:
            quota = await self.charge(bucket, key, quota.remaining)
        return quota

    async def settle(self, bucket: Bucket, key: str, charge: Quota, actual: int) -> Quota:
        """Bring a charge to what the operation really cost, as Shopify does: points back
        when it built less than estimated (a hit of negative cost: the library's counters
        are plain sums), more when it built more, as far as the bucket has them."""
        if actual > charge.charged:
            return await self.take_up_to(bucket, key, actual - charge.charged)
        back = charge.charged - actual

        async def give_back(limiter: SlidingWindowCounterRateLimiter) -> Quota:
            await limiter.hit(bucket.item, key, cost=-back)
            # One round trip fewer than looking again; concurrent charges show next time.
            remaining = min(charge.limit, charge.remaining + back)
            return replace(charge, remaining=remaining, charged=actual)

        return await self._on_storage(give_back)

    async def charge_failed_sign_in(self, client: str | None) -> None:
        """A failed sign-in costs its address `failed_auth_cost`, or all it has left."""
        if self.failed_auth_cost:
            await self.take_up_to(*self.bucket_for(None, client), self.failed_auth_cost)

    async def look(self, bucket: Bucket, key: str) -> Quota:
        """The bucket's state, without taking anything; refused when it is empty."""
        return await self._on_storage(lambda limiter: self._look(limiter, bucket, key, 1))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()

    async def _on_storage(
        self, run: Callable[[SlidingWindowCounterRateLimiter], Awaitable[Quota]]
    ) -> Quota:
        """Run on the shared storage, or on this worker's while Redis does not answer
        (then Redis is tried again after a pause, not on every request)."""
        if self._shared is not None and time.monotonic() >= self._shared_retry_at:
            try:
                return await run(self._shared)
            except StorageError as exc:
                log.warning(
                    "rate limits: Redis does not answer (%s); each worker limits on its own "
                    "for the next %d s",
                    exc,
                    SHARED_RETRY_SECONDS,
                )
                self._shared_retry_at = time.monotonic() + SHARED_RETRY_SECONDS
        return await run(self._local)

    async def _charge(
        self, limiter: SlidingWindowCounterRateLimiter, bucket: Bucket, key: str, amount: int
    ) -> Quota:
        if amount == 0 or await limiter.hit(bucket.item, key, cost=amount):
            quota = await self._look(limiter, bucket, key, 0)
            return replace(quota, charged=amount)
        quota = await self._look(limiter, bucket, key, amount)
        # Refused by a charge that raced this one: there may be room again in a moment.
        return quota if quota.retry_after is not None else replace(quota, retry_after=1)

    async def _look(
        self, limiter: SlidingWindowCounterRateLimiter, bucket: Bucket, key: str, amount: int
    ) -> Quota:
        """The bucket's state; with `amount` > 0, refused unless `amount` fits now."""
        storage = cast(SlidingWindowCounterSupport, limiter.storage)
        window = bucket.window
        previous, previous_ttl, current, current_ttl = await storage.get_sliding_window(
            bucket.item.key_for(key), window
        )
        used = math.floor(previous * previous_ttl / window) + current
        # Points given back can outnumber those taken in the current window.
        remaining = min(bucket.points, max(0, bucket.points - used))
        retry_after = None
        if amount and remaining < amount:
            room = bucket.points - amount
            wait = _wait(previous, previous_ttl, current, current_ttl, window, room)
            retry_after = max(1, math.ceil(wait))
        return Quota(bucket.points, remaining, bucket.points / window, retry_after)


def _wait(
    previous: int, previous_ttl: float, current: int, current_ttl: float, window: int, room: int
) -> float:
    """Seconds until the sliding-window count falls to `room`. The count is the previous
    window's hits weighted by how much of it still overlaps, plus the current window's."""
    if current <= room and previous:
        # The previous window's weight falls first, within the current window.
        return max(0.0, previous_ttl - window * (room - current) / previous)
    # Only once the current window ends does its count start to fall.
    window_left = max(0.0, current_ttl - window)
    return window_left + window * (1 - room / current)
