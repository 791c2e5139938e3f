"""What an operator watches: /health, /ready, /metrics, request ids and logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from prometheus_client.parser import text_string_to_metric_families

from kernel.clock import FrozenClock
from kernel.settings import Settings
from ownergraph.logs import configure_logging
from ownergraph.scheduler import Scheduler
from tests.conftest import Api, _pg_admin, serve
from tests.ownergraph.server import free_port
from tests.subscriptions.test_bus import REDIS_URL

ME = "query Me { me { email } }"
BROKEN = "query Broken { me { nope } }"


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from a /metrics page (0 when it is not there yet)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def metrics(api: Api) -> str:
    answer = await api.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


async def test_health_does_no_io(api: Api) -> None:
    before = len(api.statements)
    answer = await api.client.get("/health")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    assert len(api.statements) == before


async def test_ready_fails_when_the_database_is_gone(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    if database_url.startswith("sqlite"):
        # A SQLite file is "gone" when its folder is: a missing file would be created.
        folder = tmp_path / "db"
        folder.mkdir()
        shutil.copyfile(database_url.split("///", 1)[1], folder / "test.db")
        database_url = f"sqlite+aiosqlite:///{folder / 'test.db'}"
    async with serve(database_url, clock, tmp_path) as api:
        ready = await api.client.get("/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}
        if database_url.startswith("sqlite"):
            shutil.rmtree(folder)
        else:
            name = database_url.rsplit("/", 1)[1]
            await _pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)')
        await api.services.db.engine.dispose()
        gone = await api.client.get("/ready")
        assert gone.status_code == 503
        assert gone.json()["checks"]["database"] == "unavailable"
        assert (await api.client.get("/health")).status_code == 200


async def test_ready_checks_redis_when_configured(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with serve(database_url, clock, tmp_path, broadcast_url=dead) as api:
        answer = await api.client.get("/ready")
        assert answer.status_code == 503
        assert answer.json()["checks"] == {"database": "ok", "redis": "unavailable"}
    async with serve(database_url, clock, tmp_path, broadcast_url=REDIS_URL) as api:
        answer = await api.client.get("/ready")
        # Redis is optional on a developer's machine; when it answers, /ready says so.
        assert answer.json()["checks"]["database"] == "ok"
        assert answer.json()["checks"]["redis"] in {"ok", "unavailable"}
        assert answer.status_code == (200 if answer.json()["checks"]["redis"] == "ok" else 503)


async def test_metrics_count_a_request_and_its_statements(api: Api) -> None:
    before = await metrics(api)
    token = await api.token("alice@demo.test")
    statements = len(api.statements)
    await api.ok(ME, token=token)
    ran = len(api.statements) - statements
    await api.gql(BROKEN, token=token)
    after = await metrics(api)

    ops = "ownergraph_graphql_operations_total"
    assert (
        sample(after, ops, operation="Me", outcome="ok")
        == sample(before, ops, operation="Me", outcome="ok") + 1
    )
    invalid = {"operation": "invalid", "outcome": "GRAPHQL_VALIDATION_FAILED"}
    assert sample(after, ops, **invalid) == sample(before, ops, **invalid) + 1
    latency = "ownergraph_graphql_operation_duration_seconds_count"
    assert sample(after, latency, operation="Me") == sample(before, latency, operation="Me") + 1
    per_request = "ownergraph_sql_statements_per_request"
    assert sample(after, per_request + "_count") == sample(before, per_request + "_count") + 2
    assert ran > 0
    assert sample(after, per_request + "_sum") >= sample(before, per_request + "_sum") + ran


async def test_operation_names_cannot_flood_the_metrics(api: Api) -> None:
    for _ in range(3):
        name = "Q" + uuid.uuid4().hex
        await api.gql(f"query {name} {{ __typename }}")
    text = await metrics(api)
    names = {
        s.labels["operation"]
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "ownergraph_graphql_operations_total"
    }
    assert len(names) == 3
    api.app.state.metrics._names.update(f"N{i}" for i in range(1000))
    await api.gql("query YetAnother { __typename }")
    after = await metrics(api)
    assert (
        sample(after, "ownergraph_graphql_operations_total", operation="other", outcome="ok") == 1
    )


async def test_active_websockets_gauge(api: Api) -> None:
    token = await api.token("alice@demo.test")
    transport = ASGIWebSocketTransport(api.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        async with aconnect_ws(
            "http://test/graphql", client, subprotocols=["graphql-transport-ws"]
        ) as ws:
            payload = {"authorization": f"Bearer {token}"}
            await ws.send_json({"type": "connection_init", "payload": payload})
            assert (await ws.receive_json())["type"] == "connection_ack"
            assert api.app.state.metrics.websockets._value.get() == 1
        async with asyncio.timeout(10):
            while api.app.state.metrics.websockets._value.get() != 0:
                await asyncio.sleep(0.01)


async def test_job_runs_are_counted(api: Api) -> None:
    metrics = api.app.state.metrics
    scheduler = Scheduler(api.services, on_report=metrics.job_report)
    scheduler.services.settings.scheduler_interval_seconds = 3600
    scheduler.start()
    try:
        async with asyncio.timeout(10):
            while metrics.job_runs.labels("done")._value.get() == 0:
                await asyncio.sleep(0.01)
    finally:
        await scheduler.stop()
    assert metrics.job_runs.labels("failed")._value.get() == 0


async def test_request_ids_in_responses_and_logs(api: Api) -> None:
    stream = io.StringIO()
    handler = configure_logging(Settings(log_format="json"), stream=stream)
    try:
        given = await api.client.post(
            "/graphql", json={"query": ME}, headers={"x-request-id": "req-42.abc"}
        )
        made = await api.client.get("/health")
        forged = await api.client.get("/ready", headers={"x-request-id": "two words\nINFO"})
    finally:
        logging.getLogger().removeHandler(handler)
    assert given.headers["x-request-id"] == "req-42.abc"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["x-request-id"])

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert all({"event", "level", "timestamp", "request_id"} <= line.keys() for line in lines)
    request_line = [line for line in lines if line["logger"] == "ownergraph.http"]
    assert request_line and request_line[0]["request_id"] == "req-42.abc"
    assert "POST /graphql 200" in request_line[0]["event"]


async def test_text_logs_carry_the_request_id(api: Api) -> None:
    stream = io.StringIO()
    handler = configure_logging(Settings(log_format="text"), stream=stream)
    try:
        await api.client.get("/graphql?query={__typename}", headers={"x-request-id": "rid-7"})
    finally:
        logging.getLogger().removeHandler(handler)
    assert re.search(r"INFO ownergraph\.http \[rid-7\] GET /graphql 200", stream.getvalue())


async def test_a_client_that_disconnects_mid_request_leaves_no_traceback(
    api: Api, caplog: Any
) -> None:
    sent: list[dict[str, Any]] = []
    messages = iter(
        [
            {"type": "http.request", "body": b'{"query":', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"host", b"test")],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
    }
    with caplog.at_level(logging.INFO):
        await api.app(scope, receive, send)
    assert sent == []  # nobody left to answer
    assert any("disconnected" in r.getMessage() for r in caplog.records)
    assert all(r.exc_info is None for r in caplog.records)


@pytest.mark.parametrize("broker", ["local", "redis"])
async def test_metrics_time_the_bus_from_publish_to_delivery(
    database_url: str, clock: FrozenClock, tmp_path: Path, broker: str
) -> None:
    from tests.subscriptions.test_live import (
        LATEST_EVENT,
        OWNERSHIP_CHANGED,
        connect,
        create,
        started,
    )

    settings = {"broadcast_url": REDIS_URL} if broker == "redis" else {}
    async with serve(database_url, clock, tmp_path, **settings) as api:
        before = sample(await metrics(api), "ownergraph_bus_lag_seconds_count")
        async with connect(api.app, await api.token("alice@demo.test")) as live:
            statements = len(api.statements)
            op = await live.subscribe(OWNERSHIP_CHANGED)
            await started(api, LATEST_EVENT, statements)
            await create(api, "alice@demo.test", "lag")
            assert (await live.next(op))["ownershipChanged"]["kind"] == "CREATED"
        after = sample(await metrics(api), "ownergraph_bus_lag_seconds_count")
    assert after == before + 1
