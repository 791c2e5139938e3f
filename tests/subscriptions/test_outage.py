"""A broker outage loses neither a revocation nor an event: two workers sharing the
database and a Redis of this test's own, which the test stops and restarts mid-stream.
And two deployments sharing one Redis do not hear each other."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from httpx_ws import WebSocketDisconnect

from kernel.clock import FrozenClock
from kernel.settings import Settings
from ownergraph.app import create_app
from tests.conftest import PG, SECRET, Api, _pg_admin, _pg_url, serve
from tests.subscriptions.test_bus import REDIS_URL, _redis_answers
from tests.subscriptions.test_live import (
    DISPUTE_UPDATED,
    OPEN_DISPUTE,
    OWNERSHIP_CHANGED,
    WAIT,
    Live,
    connect,
    create,
    ids,
    last_event,
    revoke,
    token_id,
    told,
)

REVOKE = """
mutation Revoke($id: ID!) { revokeApiToken(id: $id) }
"""


class RedisServer:
    """A redis-server of this test's own, on a free port, that it may stop and start."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    try:
                        if await client.ping():
                            return
                    except redis.ConnectionError:
                        await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=WAIT)
            self._process = None


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    await server.start()
    yield server
    server.stop()


@asynccontextmanager
async def workers(*settings: Settings, clock: FrozenClock) -> AsyncIterator[list[Api]]:
    """One app (one worker) per settings, each over httpx."""
    apps = [create_app(s, clock=clock) for s in settings]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        for app in apps
    ]
    try:
        yield [Api(app, client) for app, client in zip(apps, clients, strict=True)]
    finally:
        for app, client in zip(apps, clients, strict=True):
            await client.aclose()
            await app.state.services.bus.close()
            await app.state.services.db.dispose()


async def connected(*apis: Api) -> None:
    """Until every worker's bus is subscribed on the broker again."""
    async with asyncio.timeout(WAIT):
        while not all(api.services.bus.connected for api in apis):
            await asyncio.sleep(0.02)


async def until_closed(live: Live) -> tuple[int, list[dict[str, Any]]]:
    """Everything the socket delivers until it is closed, and the close code."""
    received = []
    async with asyncio.timeout(WAIT):
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                message = await live.ws.receive_json()
                if message["type"] == "next":
                    received.append(message["payload"]["data"])
    return closed.value.code, received


def settings_for(database_url: str, tmp_path: Path, broadcast_url: str, **more: Any) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret=SECRET,
        data_dir=tmp_path,
        broadcast_url=broadcast_url,
        **more,
    )


async def test_a_broker_restart_loses_no_revocation_and_no_event(
    database_url: str, clock: FrozenClock, tmp_path: Path, private_redis: RedisServer
) -> None:
    config = settings_for(database_url, tmp_path, private_redis.url, revocation_check_seconds=0.2)
    async with workers(config, config, clock=clock) as (one, two):
        start = await create(one, "alice@demo.test", "start")
        _, cursor = await last_event(one, start)
        jwt = await one.token("alice@demo.test")
        async with connect(two.app, jwt) as on_two, connect(one.app, jwt) as on_one:
            op = await on_two.subscribe(OWNERSHIP_CHANGED, {"since": cursor})
            before = [await create(one, "alice@demo.test", f"before {i}") for i in range(2)]
            received = [await on_two.next(op) for _ in before]

            private_redis.stop()
            await private_redis.start()
            await connected(one, two)
            # The first publishes after the restart meet dead pooled connections; each
            # event still wakes the subscriber on the other worker.
            after = [await create(one, "alice@demo.test", f"after {i}") for i in range(2)]
            received += [await on_two.next(op) for _ in after]
            # Revoked with no message at all (as if it were lost): both workers' re-reads
            # close the sockets, with no further event to deliver.
            checks = [_watch(api).checks for api in (one, two)]
            await revoke(one, jwt, announce=False)
            code_two, rest = await until_closed(on_two)
            code_one, _ = await until_closed(on_one)
            assert all(_watch(api).checks > n for api, n in zip((one, two), checks, strict=True))

        expected = [(await last_event(one, c))[0] for c in (*before, *after)]
        assert (code_two, code_one) == (4403, 4403)
        assert ids(received) == expected
        assert rest == []  # nothing twice

        # Resuming from the first cursor delivers each event exactly once, then goes on.
        async with connect(two.app, await two.token("alice@demo.test")) as again:
            op = await again.subscribe(OWNERSHIP_CHANGED, {"since": cursor})
            replayed = [await again.next(op) for _ in expected]
            sentinel = await create(one, "alice@demo.test", "sentinel")
            following = await again.next(op)
        assert ids(replayed) == expected
        assert ids([following]) == [(await last_event(one, sentinel))[0]]


async def test_while_the_broker_is_down_revocation_and_events_still_arrive(
    database_url: str, clock: FrozenClock, tmp_path: Path, private_redis: RedisServer
) -> None:
    config = settings_for(
        database_url,
        tmp_path,
        private_redis.url,
        revocation_check_seconds=0.2,
        bus_poll_seconds=0.2,
    )
    async with workers(config, config, clock=clock) as (one, two):
        start = await create(one, "alice@demo.test", "start")
        _, cursor = await last_event(one, start)
        jwt = await one.token("alice@demo.test")
        admin = await one.token("admin@demo.test")
        async with connect(two.app, jwt) as live:
            op = await live.subscribe(OWNERSHIP_CHANGED, {"since": cursor})
            first = await create(one, "alice@demo.test", "first")
            received = [await live.next(op)]

            private_redis.stop()
            # Written while no message can travel: the subscriber polls the event table.
            during = [await create(one, "alice@demo.test", f"during {i}") for i in range(2)]
            received += [await live.next(op) for _ in during]
            checks = _watch(two).checks
            await one.ok(REVOKE, {"id": await token_id(one, jwt)}, token=admin)
            code, rest = await until_closed(live)

        expected = [(await last_event(one, c))[0] for c in (first, *during)]
        assert code == 4403
        assert _watch(two).checks > checks  # closed by the re-read, not by a message
        assert ids(received) == expected
        assert rest == []


async def test_dispute_updates_arrive_while_the_broker_is_down(
    database_url: str, clock: FrozenClock, tmp_path: Path, private_redis: RedisServer
) -> None:
    config = settings_for(database_url, tmp_path, private_redis.url, bus_poll_seconds=0.2)
    async with workers(config, config, clock=clock) as (one, two):
        customers = [await create(one, "alice@demo.test", f"contested {i}") for i in range(2)]
        for customer in customers:
            await told(one, "bob@demo.test", customer)  # his right to dispute it
        async with connect(two.app, await two.token("alice@demo.test")) as live:
            op = await live.subscribe(DISPUTE_UPDATED)
            await connected(two)
            private_redis.stop()
            during = await one.ok(
                OPEN_DISPUTE, {"customerId": customers[0]}, as_user="bob@demo.test"
            )
            first = (await live.next(op))["disputeUpdated"]
            # Re-read at every poll and after the reconnect, but delivered once: the next
            # delivery is the next dispute.
            await private_redis.start()
            await connected(two)
            after = await one.ok(
                OPEN_DISPUTE, {"customerId": customers[1]}, as_user="bob@demo.test"
            )
            second = (await live.next(op))["disputeUpdated"]
        assert first["id"] == during["openDispute"]["id"]
        assert first["claimant"] == {"email": "bob@demo.test"}
        assert second["id"] == after["openDispute"]["id"]


def _watch(api: Api) -> Any:
    """The app's revocation watch (the view behind its /graphql route)."""
    for route in api.app.routes:
        if getattr(route, "path", None) == "/graphql" and hasattr(route.app, "revocations"):
            return route.app.revocations
    raise AssertionError("no GraphQL view")


# Deployments sharing one Redis.


@pytest.fixture
async def other_database_url(
    database_url: str, templates: dict[str, str], tmp_path: Path
) -> AsyncIterator[str]:
    """A second deployment's database: another copy of the seeded demo, same backend."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "other.db"
        shutil.copyfile(templates["sqlite"], path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    assert PG
    name = f"og_t_{uuid.uuid4().hex[:10]}"
    await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{templates["postgresql"]}"')
    try:
        yield _pg_url(name)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_deployments_sharing_a_redis_do_not_hear_each_other(
    database_url: str, other_database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    if not await _redis_answers():
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    async with (
        serve(database_url, clock, tmp_path / "a", broadcast_url=REDIS_URL) as a,
        serve(other_database_url, clock, tmp_path / "b", broadcast_url=REDIS_URL) as b,
    ):
        # The same token id in both deployments: both databases are copies of one.
        in_a, in_b = await a.token("alice@demo.test"), await b.token("alice@demo.test")
        assert await token_id(a, in_a) == await token_id(b, in_b)
        start = await create(b, "alice@demo.test", "start")
        _, cursor = await last_event(b, start)
        async with connect(a.app, in_a) as live_a, connect(b.app, in_b) as live_b:
            op = await live_b.subscribe(OWNERSHIP_CHANGED, {"since": cursor})
            admin = await a.token("admin@demo.test")
            await a.ok(REVOKE, {"id": await token_id(a, in_a)}, token=admin)
            assert (await until_closed(live_a))[0] == 4403
            # B's socket of the same token id is still open and still delivering.
            later = await create(b, "alice@demo.test", "later")
            assert ids([await live_b.next(op)]) == [(await last_event(b, later))[0]]
