"""The event bus: in-process, and across workers over Redis (skipped when Redis does not
answer, unless CI=true)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis

from subscriptions.bus import RESYNC, LocalBus
from subscriptions.redis_bus import RedisBus

REDIS_URL = os.environ.get("OWNERGRAPH_TEST_REDIS", "redis://127.0.0.1:6379/0")


async def _redis_answers() -> bool:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


@pytest.fixture
async def redis_url() -> str:
    if not await _redis_answers():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but Redis does not answer at {REDIS_URL}")
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
async def workers(redis_url: str) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    """Two workers' buses on one Redis, under a prefix of this test's own."""
    prefix = f"ownergraph-test-{uuid.uuid4().hex[:8]}:"
    one, two = RedisBus(redis_url, prefix=prefix), RedisBus(redis_url, prefix=prefix)
    yield one, two
    await one.close()
    await two.close()


async def _next(messages: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    async with asyncio.timeout(5):
        return await anext(messages)


async def _nothing_within(messages: AsyncIterator[dict[str, Any]], seconds: float) -> bool:
    task = asyncio.ensure_future(anext(messages))
    done, _ = await asyncio.wait({task}, timeout=seconds)
    task.cancel()
    return not done


# In-process.


async def test_local_bus_delivers_to_every_subscriber_in_order() -> None:
    bus = LocalBus()
    async with bus.subscribe("ownership") as first, bus.subscribe("ownership") as second:
        for ident in (1, 2, 3):
            await bus.publish("ownership", {"id": ident})
        assert [(await _next(first))["id"] for _ in range(3)] == [1, 2, 3]
        assert [(await _next(second))["id"] for _ in range(3)] == [1, 2, 3]


async def test_local_bus_keeps_channels_apart() -> None:
    bus = LocalBus()
    async with bus.subscribe("ownership") as ownership, bus.subscribe("disputes") as disputes:
        await bus.publish("disputes", {"id": 7, "customer_id": 1})
        assert await _next(disputes) == {"id": 7, "customer_id": 1}
        assert await _nothing_within(ownership, 0.05)


async def test_local_bus_delivers_only_what_comes_after_subscribing() -> None:
    bus = LocalBus()
    await bus.publish("ownership", {"id": 1})
    async with bus.subscribe("ownership") as messages:
        await bus.publish("ownership", {"id": 2})
        assert (await _next(messages))["id"] == 2


async def test_local_bus_forgets_a_subscriber_that_left() -> None:
    bus = LocalBus()
    async with bus.subscribe("ownership"):
        assert bus.subscriber_count("ownership") == 1
        assert bus.channels() == ["ownership"]
    assert bus.subscriber_count("ownership") == 0
    assert bus.channels() == []
    await bus.publish("ownership", {"id": 1})  # nobody listening is not an error


# Across workers.


async def test_redis_bus_workers_see_each_others_messages(
    workers: tuple[RedisBus, RedisBus],
) -> None:
    one, two = workers
    async with one.subscribe("ownership") as on_one, two.subscribe("ownership") as on_two:
        await one.publish("ownership", {"id": 1, "customer_id": 5, "team_id": None})
        await two.publish("ownership", {"id": 2, "customer_id": 6, "team_id": 3})
        for messages in (on_one, on_two):
            assert await _next(messages) == {"id": 1, "customer_id": 5, "team_id": None}
            assert await _next(messages) == {"id": 2, "customer_id": 6, "team_id": 3}


async def test_redis_bus_keeps_channels_apart(workers: tuple[RedisBus, RedisBus]) -> None:
    one, two = workers
    async with two.subscribe("ownership") as ownership, two.subscribe("revocations") as revoked:
        await one.publish("revocations", {"token_id": 9})
        assert await _next(revoked) == {"token_id": 9}
        assert await _nothing_within(ownership, 0.1)
    assert two.subscriber_count("ownership") == 0


async def test_redis_bus_publishes_json_under_the_ownergraph_prefix(redis_url: str) -> None:
    channel = f"test-{uuid.uuid4().hex[:8]}"
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    pubsub = raw.pubsub()
    bus = RedisBus(redis_url)
    try:
        await pubsub.subscribe(f"ownergraph:{channel}")
        async with asyncio.timeout(5):
            assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"  # type: ignore[index]
        await bus.publish(channel, {"id": 42, "user_id": 3})
        async with asyncio.timeout(5):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
        assert message is not None
        sent = json.loads(message["data"])
        # Stamped with the publish time, for the bus-lag metric (subscribers never see it).
        assert isinstance(sent.pop("_sent_at"), float)
        assert sent == {"id": 42, "user_id": 3}
    finally:
        await pubsub.aclose()
        await raw.aclose()
        await bus.close()


async def test_redis_bus_tells_subscribers_to_resync_after_a_lost_connection(
    workers: tuple[RedisBus, RedisBus], redis_url: str
) -> None:
    one, two = workers
    async with one.subscribe("ownership") as messages, two.subscribe("ownership"):
        raw = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            # Drop this test's workers' subscriber connections, as a network blip would.
            name = f"{one._prefix}bus"
            for client in await raw.client_list(_type="pubsub"):
                if client["name"] == name:
                    await raw.client_kill_filter(_id=client["id"])
        finally:
            await raw.aclose()
        assert await _next(messages) == RESYNC
        await two.publish("ownership", {"id": 3})
        assert await _next(messages) == {"id": 3}
