"""OpenTelemetry tracing through strawberry's OpenTelemetryExtension, when the `otel`
extra is installed (`pip install 'ownergraph[otel]'`).

Each operation is a SERVER span with its parsing and validation as children; with
OWNERGRAPH_TRACE_RESOLVERS=true every resolved field is a span too (that costs: plain
leaves are then resolved one by one, see schema/execution.py). Argument values are never
recorded (they carry contact data). `ownergraph serve` exports the spans over OTLP/HTTP
as the standard OTEL_* variables say (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME…),
unless a tracer provider is already set up (e.g. by `opentelemetry-instrument`).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import Any

from strawberry.extensions import SchemaExtension

from kernel.settings import Settings

log = logging.getLogger("ownergraph")


def installed() -> bool:
    return importlib.util.find_spec("opentelemetry") is not None


def _no_arguments(args: dict[str, Any], info: Any) -> dict[str, Any]:
    return {}


def tracing_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """The tracing extension (the app puts it first, so its spans hold each step whole)."""
    if settings.tracing is False or (settings.tracing is None and not installed()):
        return []
    from strawberry.extensions.tracing import OpenTelemetryExtension

    if settings.trace_resolvers:
        fields = OpenTelemetryExtension
    else:

        class OperationSpans(OpenTelemetryExtension):
            """Operation, parsing and validation spans; no span per field."""

            resolve = SchemaExtension.resolve  # type: ignore[assignment]

        fields = OperationSpans
    return [lambda: fields(arg_filter=_no_arguments)]


def configure_exporter() -> None:
    """OTLP/HTTP export from the OTEL_* variables, when the SDK and exporter are there
    and nothing has set a tracer provider yet."""
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider()  # its resource reads OTEL_SERVICE_NAME and friends
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    log.info("tracing: spans exported over OTLP/HTTP")
