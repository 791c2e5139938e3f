"""The app factory: composes settings, database, bus, policy and schema into one ASGI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import SchemaExtension
from strawberry.subscriptions import (
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
from strawberry.types.unset import UNSET

from authz.enforcer import load_enforcer
from authz.ratelimit import RateLimiter
from db.engine import open_database
from kernel.clock import Clock, SystemClock
from kernel.errors import Unauthenticated
from kernel.messages import N_, render
from kernel.settings import Settings, get_settings
from ownergraph.dashboard import DashboardPage
from ownergraph.demo_login import DemoLogin
from ownergraph.exports_route import export_routes
from ownergraph.http import GraphQLOverHTTP
from ownergraph.language import Language
from ownergraph.logs import RequestLog, configure_logging, request_id_middleware
from ownergraph.metrics import Metrics, MetricsMiddleware
from ownergraph.origins import OriginPolicy
from ownergraph.persisted import PersistedQueries
from ownergraph.probes import Readiness, health
from ownergraph.runtime import Freezer, tune_gc
from ownergraph.scheduler import Scheduler
from ownergraph.tracing import configure_exporter, tracing_extensions
from ownergraph.websocket import LegacyWSHandler, TransportWSHandler
from resolvers.context import Context, Services, authorize, build_context
from schema.root import build_schema
from subscriptions.bus import Bus, LocalBus
from subscriptions.revocation import RevocationWatch


class OwnergraphView(GraphQLOverHTTP):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self,
        services: Services,
        extensions: Sequence[Callable[[], SchemaExtension]] = (),
        outer_extensions: Sequence[Callable[[], SchemaExtension]] = (),
        **kwargs: Any,
    ) -> None:
        schema = build_schema(services.settings, extensions, outer_extensions)
        super().__init__(
            schema,
            max_subscriptions_per_connection=services.settings.max_subscriptions_per_connection,
            **kwargs,
        )
        self.services = services
        self.persisted = PersistedQueries(
            services.db, schema._schema, services.clock, services.settings
        )
        self.revocations = RevocationWatch(
            services.db,
            services.bus,
            services.clock,
            interval=services.settings.revocation_check_seconds,
        )

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if not isinstance(request, WebSocket):
            # The request's one session (opened by the token check) is closed however the
            # request ends, a body that is not JSON included.
            ctx = await self.get_context(request) if context is UNSET else context
            try:
                response = await super().run(request, ctx, root_value)
            finally:
                await ctx.close()
            if ctx.retry_after is not None:  # a rate limit refused the operation
                response.status_code = 429
                response.headers["Retry-After"] = str(ctx.retry_after)
            return response
        # One context per connection, watched for revocation from before sign-in to close.
        ctx = await self.get_context(request)
        async with self.revocations.watching(ctx):
            return await super().run(request, ctx, root_value)

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        if isinstance(request, WebSocket):
            # Authenticated in on_ws_connect.
            return Context(self.services, websocket=request, client_ip=_client_ip(request))
        return await build_context(
            self.services, request.headers.get("authorization"), client_ip=_client_ip(request)
        )

    def encode_json(self, data: object) -> str:
        # Text, not bytes: graphql-transport-ws frames must be text frames.
        return orjson.dumps(data).decode()

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        header = params.get("authorization") or params.get("Authorization")
        await authorize(context, header if isinstance(header, str) else None)
        if context.principal is None:
            if not isinstance(header, str) and self.services.limiter is not None:
                # A socket that brings no token fails to sign in too (authorize charged the rest).
                await self.services.limiter.charge_failed_sign_in(context.client_ip)
            refused = context.auth_error or Unauthenticated(N_("Sign in first."))
            raise ConnectionRejectionError({"message": render(refused.message, refused.code)})
        return None


def _client_ip(request: Request | WebSocket) -> str | None:
    return request.client.host if request.client else None


def make_bus(settings: Settings) -> Bus:
    if settings.broadcast_url:
        from subscriptions.redis_bus import RedisBus

        return RedisBus(
            settings.broadcast_url,
            prefix=settings.channel_prefix(),
            poll_seconds=settings.bus_poll_seconds,
        )
    return LocalBus()


def make_services(
    settings: Settings, *, clock: Clock | None = None, bus: Bus | None = None
) -> Services:
    """The long-lived parts, for the app and for CLI commands that act through resolvers."""
    return Services(
        db=open_database(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout,
        ),
        settings=settings,
        clock=clock or SystemClock(),
        bus=bus or make_bus(settings),
        enforcer=load_enforcer(audited_roles=tuple(settings.audited_roles)),
        limiter=RateLimiter(settings),
    )


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, bus: Bus | None = None
) -> Starlette:
    settings = settings or get_settings()
    services = make_services(settings, clock=clock, bus=bus)
    metrics = Metrics()
    metrics.count_statements(services.db.engine)
    services.bus.observe_lag = metrics.bus_lag.observe
    origins = OriginPolicy.of(settings)
    view = OwnergraphView(
        services,
        extensions=[metrics.extension],
        outer_extensions=tracing_extensions(settings),
        graphql_ide="graphiql" if settings.introspection_enabled else None,
        subscription_protocols=(
            GRAPHQL_TRANSPORT_WS_PROTOCOL,
            GRAPHQL_WS_PROTOCOL,
            MULTIPART_SUBSCRIPTION_PROTOCOL,
        ),
    )
    view.origins = origins
    readiness = Readiness(services)
    graphiql = view.graphiql if settings.introspection else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        scheduler = Scheduler(services, on_report=metrics.job_report).start()
        freezer = None
        if settings.tune_gc:
            tune_gc()
            freezer = asyncio.create_task(Freezer().run(), name="ownergraph-gc-freezer")
        try:
            yield
        finally:
            if freezer is not None:
                freezer.cancel()
            await scheduler.stop()
            await readiness.close()
            await services.bus.close()
            if services.limiter is not None:
                await services.limiter.close()
            await services.db.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            Route("/health", health),
            *export_routes(services),
            Route("/ready", readiness.endpoint),
            Route("/metrics", metrics.endpoint),
            *(graphiql.routes() if graphiql else []),
            *DashboardPage().routes(),
            *DemoLogin(services).routes(),
        ],
        # Outermost first: every line logged and every response carries the request id.
        middleware=[
            request_id_middleware(),
            Middleware(RequestLog),
            origins.cors(),
            Middleware(MetricsMiddleware, metrics=metrics),
            Middleware(Language, default=settings.default_locale),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = metrics
    return app


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the app, for `ownergraph serve` and the benchmarks alike."""
    return {
        "factory": True,
        "access_log": False,
        "ws_per_message_deflate": settings.websocket_compression,
    }


def served() -> Starlette:
    """The app as `ownergraph serve` runs it in each worker: logging configured first."""
    settings = get_settings()
    configure_logging(settings)
    if settings.tracing is not False:
        configure_exporter()
    return create_app(settings)
