"""Liveness (/health: the process answers, no I/O) and readiness (/ready: the database and,
when configured, Redis answer in time; 503 otherwise, so a proxy or orchestrator sends
traffic elsewhere)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

import redis.asyncio as redis
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from resolvers.context import Services

log = logging.getLogger("ownergraph.ready")

TIMEOUT = 2.0  # seconds per dependency: a probe must answer before the prober gives up


async def health(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


class Readiness:
    def __init__(self, services: Services) -> None:
        self.services = services
        url = services.settings.broadcast_url
        self._redis = redis.Redis.from_url(url, client_name="ownergraph:ready") if url else None

    async def endpoint(self, _: Request) -> JSONResponse:
        checks = {"database": await self._check(self._database())}
        if self._redis is not None:
            checks["redis"] = await self._check(self._redis.ping())
        ready = all(state == "ok" for state in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def _database(self) -> None:
        async with self.services.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def _check(self, probe: Awaitable[object]) -> str:
        try:
            await asyncio.wait_for(probe, TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            log.warning("readiness check failed: %s", exc.__class__.__name__)
            return "unavailable"
        return "ok"
