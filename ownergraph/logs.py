"""Logs: one line per request, the request id on every line, JSON (structlog) when
OWNERGRAPH_LOG_FORMAT=json, and no traceback for a client that went away mid-request.

The request id is asgi-correlation-id's: taken from `X-Request-ID` when the client (or the
proxy in front) sends a sane one, made up otherwise, and echoed on every response.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import IO, Any

import structlog
from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.settings import Settings

log = logging.getLogger("ownergraph.http")

# What we echo: no spaces or control characters that could forge a log line.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


def request_id_middleware() -> Middleware:
    return Middleware(
        CorrelationIdMiddleware,
        header_name="X-Request-ID",
        validator=lambda value: REQUEST_ID.fullmatch(value) is not None,
    )


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = correlation_id.get() or "-"
        return True


def _add_request_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    event["request_id"] = correlation_id.get()
    return event


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """Route every logger (ours, uvicorn's, SQLAlchemy's) through one handler on the root
    logger. Calling it again replaces that handler and leaves others (pytest's) alone."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    if settings.log_format == "json":
        shared: list[Any] = [
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_request_id,
        ]
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ],
            )
        )
        structlog.configure(
            processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            logger_factory=structlog.stdlib.LoggerFactory(),
            cache_logger_on_first_use=True,
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "ownergraph", False)]:
        root.removeHandler(old)
    handler.ownergraph = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Our request line says more than uvicorn's access line; casbin logs its whole policy.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("casbin").setLevel(logging.WARNING)
    return handler


class RequestLog:
    """One line per HTTP request; a client that disconnects before its body arrived is a
    line, not a traceback (nobody is left to answer)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        level = logging.DEBUG if scope["path"] in QUIET_PATHS else logging.INFO
        try:
            await self.app(scope, receive, sending)
        except ClientDisconnect:
            log.info("%s %s: the client disconnected mid-request", scope["method"], scope["path"])
            return
        log.log(
            level,
            "%s %s %s %.1f ms",
            scope["method"],
            scope["path"],
            status,
            (time.perf_counter() - started) * 1000,
        )
