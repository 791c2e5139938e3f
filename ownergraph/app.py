"""The app factory: composes settings, database, bus, policy and schema into one ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.unset import UNSET

from authz.enforcer import load_enforcer
from db.engine import open_database
from kernel.clock import Clock, SystemClock
from kernel.settings import Settings, get_settings
from ownergraph.runtime import tune_gc
from ownergraph.scheduler import Scheduler
from resolvers.context import Context, Services, authorize, build_context
from schema.errors import format_error
from schema.root import build_schema
from subscriptions.bus import Bus, LocalBus
from subscriptions.revocation import watching_revocations


class OwnergraphView(GraphQL[Context, None]):
    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(build_schema(services.settings), **kwargs)
        self.services = services

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if not isinstance(request, WebSocket):
            # The request's one session (opened by the token check) is closed however the
            # request ends, a body that is not JSON included.
            ctx = await self.get_context(request) if context is UNSET else context
            try:
                return await super().run(request, ctx, root_value)
            finally:
                await ctx.close()
        # One context per connection, watched for revocation from before sign-in to close.
        ctx = await self.get_context(request)
        async with watching_revocations(ctx):
            return await super().run(request, ctx, root_value)

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        if isinstance(request, WebSocket):
            return Context(self.services, websocket=request)  # authenticated in on_ws_connect
        return await build_context(self.services, request.headers.get("authorization"))

    def encode_json(self, data: object) -> str:
        # Text, not bytes: graphql-transport-ws frames must be text frames.
        return orjson.dumps(data).decode()

    async def process_result(self, request: Request, result: Any) -> Any:
        # Parse errors skip the schema extensions; format them the same way here.
        if result.errors:
            result.errors = [format_error(e) for e in result.errors]
        return await super().process_result(request, result)

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        header = params.get("authorization") or params.get("Authorization")
        await authorize(context, header if isinstance(header, str) else None)
        if context.principal is None:
            raise ConnectionRejectionError({"message": str(context.auth_error or "Sign in first.")})
        return None


def make_bus(settings: Settings) -> Bus:
    if settings.broadcast_url:
        from subscriptions.redis_bus import RedisBus

        return RedisBus(settings.broadcast_url)
    return LocalBus()


def make_services(
    settings: Settings, *, clock: Clock | None = None, bus: Bus | None = None
) -> Services:
    """The long-lived parts, for the app and for CLI commands that act through resolvers."""
    return Services(
        db=open_database(settings.database_url),
        settings=settings,
        clock=clock or SystemClock(),
        bus=bus or make_bus(settings),
        enforcer=load_enforcer(),
    )


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, bus: Bus | None = None
) -> Starlette:
    settings = settings or get_settings()
    services = make_services(settings, clock=clock, bus=bus)
    view = OwnergraphView(
        services,
        graphql_ide="graphiql" if settings.introspection else None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
    )

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        scheduler = Scheduler(services).start()
        if settings.tune_gc:
            tune_gc()
        try:
            yield
        finally:
            await scheduler.stop()
            await services.bus.close()
            await services.db.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            Route("/health", health),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app
