"""Prometheus metrics (prometheus-client), served at /metrics.

Each app has its own registry (tests build many apps). With several worker processes set
PROMETHEUS_MULTIPROC_DIR, as prometheus-client's multiprocess mode asks, and /metrics
reports every worker's sum.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from schema.errors import code_of

# Operation names come from clients: past this many, new ones count as "other".
MAX_OPERATION_NAMES = 200
NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
REQUEST_ERRORS = {"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_COMPLEX"}
# The SQL statements of the request being served (a list, so tasks it spawns add to it).
_statements: ContextVar[list[int] | None] = ContextVar("ownergraph_statements", default=None)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.operations = Counter(
            "ownergraph_graphql_operations",
            "GraphQL operations by operation name and outcome (ok or the first error code).",
            ["operation", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "ownergraph_graphql_operation_duration_seconds",
            "Time from parsing to the result, by operation name (subscriptions excluded).",
            ["operation"],
            registry=r,
        )
        self.statements = Histogram(
            "ownergraph_sql_statements_per_request",
            "SQL statements one HTTP request to /graphql ran.",
            buckets=(0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144),
            registry=r,
        )
        self.websockets = Gauge(
            "ownergraph_websockets_active",
            "WebSocket connections open now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.bus_lag = Histogram(
            "ownergraph_bus_lag_seconds",
            "Time from an event's publish, right after its commit, to its delivery to a "
            "subscriber in this process (through Redis: wall clocks of two hosts).",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.job_runs = Counter(
            "ownergraph_job_runs",
            "Background job rounds by outcome (done, skipped: another worker had the lock, "
            "failed).",
            ["outcome"],
            registry=r,
        )
        self.job_rows = Counter(
            "ownergraph_job_rows",
            "Rows the background jobs changed, by kind (recycled, warned, reminded, fired).",
            ["kind"],
            registry=r,
        )
        self._names: set[str] = set()

    def operation_label(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if not NAME.fullmatch(name):
            return "other"
        if name not in self._names and len(self._names) >= MAX_OPERATION_NAMES:
            return "other"
        self._names.add(name)
        return name

    def job_report(self, report: Any | None) -> None:
        """Called by the scheduler after each round (None: the round failed)."""
        if report is None:
            self.job_runs.labels("failed").inc()
            return
        self.job_runs.labels("skipped" if report.skipped else "done").inc()
        for kind in ("recycled", "warned", "reminded", "fired"):
            if count := getattr(report, kind):
                self.job_rows.labels(kind).inc(count)

    def count_statements(self, engine: AsyncEngine) -> None:
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def count(*_: Any) -> None:
            statements = _statements.get()
            if statements is not None:
                statements.append(1)

    def extension(self) -> SchemaExtension:
        return RecordOperation(self)

    async def endpoint(self, _: Request) -> Response:
        registry = self.registry
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class RecordOperation(SchemaExtension):
    """Counts every operation (HTTP and WebSocket) with its outcome, and times queries
    and mutations."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        ec = self.execution_context
        errors = ec.result.errors if ec.result is not None else ec.pre_execution_errors
        outcome = code_of(errors[0]) if errors else "ok"
        name = (
            "invalid"
            if outcome in REQUEST_ERRORS
            else self.metrics.operation_label(ec.operation_name)
        )
        self.metrics.operations.labels(name, outcome).inc()
        if ec.graphql_document is not None and _is_subscription(ec):
            return
        self.metrics.latency.labels(name).observe(time.perf_counter() - started)


def _is_subscription(ec: Any) -> bool:
    try:
        return bool(ec.operation_type.value == "subscription")
    except RuntimeError:
        return False


class MetricsMiddleware:
    """Open WebSockets, and SQL statements per GraphQL HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            self.metrics.websockets.inc()
            try:
                await self.app(scope, receive, send)
            finally:
                self.metrics.websockets.dec()
            return
        if scope["type"] != "http" or scope["path"] != "/graphql":
            await self.app(scope, receive, send)
            return
        statements: list[int] = []
        token = _statements.set(statements)
        try:
            await self.app(scope, receive, send)
        finally:
            _statements.reset(token)
            self.metrics.statements.observe(len(statements))
