"""OpenTelemetry spans through the real app, caught by the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kernel.clock import FrozenClock
from tests.conftest import serve

CUSTOMER = "query Named($id: ID!) { customer(id: $id) { name contacts { phone } } }"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the global provider is set only once
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # later tests' spans are not kept


@pytest.mark.parametrize("resolvers", [False, True])
async def test_an_operation_is_a_server_span_with_its_steps(
    database_url: str,
    clock: FrozenClock,
    tmp_path: Path,
    spans: InMemorySpanExporter,
    resolvers: bool,
) -> None:
    async with serve(database_url, clock, tmp_path, tracing=True, trace_resolvers=resolvers) as api:
        [customer] = await api.owned("alice@demo.test")
        await api.ok(CUSTOMER, {"id": str(customer)}, as_user="alice@demo.test")
    finished = spans.get_finished_spans()
    [operation] = [s for s in finished if s.name == "GraphQL Query: Named"]
    assert operation.kind is trace.SpanKind.SERVER
    children = {
        s.name for s in finished if s.parent and s.parent.span_id == operation.context.span_id
    }
    assert {"GraphQL Parsing", "GraphQL Validation"} <= children
    fields = [s for s in finished if s.name.startswith("GraphQL Resolving")]
    if resolvers:
        assert "GraphQL Resolving: customer" in {s.name for s in fields}
        # Argument values (ids, contact data) are never recorded.
        assert not any(k.startswith("graphql.param") for s in fields for k in s.attributes or {})
    else:
        assert fields == []


async def test_tracing_off_makes_no_span(
    database_url: str, clock: FrozenClock, tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    async with serve(database_url, clock, tmp_path, tracing=False) as api:
        await api.ok("{ me { name } }", as_user="alice@demo.test")
    assert spans.get_finished_spans() == ()


def test_tracing_on_without_opentelemetry_stops_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not a bare ImportError from deep inside the app factory: the setting says why."""
    import importlib.util

    from pydantic import ValidationError

    from kernel.settings import Settings

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("opentelemetry") else real(name, *a),
    )
    with pytest.raises(ValidationError, match="tracing needs OpenTelemetry"):
        Settings(tracing=True)
    assert Settings(tracing=None).tracing is None
