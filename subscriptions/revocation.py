"""Revoked tokens and deactivated users or partners lose their live connections (4403).

Revocation must not hang on one pub/sub message, so each worker's `RevocationWatch`
closes a socket when any of these finds its token dead:

- a message on the `revocations` channel naming its token, user or partner (at once);
- a re-read of every open socket's token, in one statement, every `interval` seconds
  and whenever the bus says messages may have been lost (`RESYNC`); a user whose role
  or team changed counts as signed out too (their plan is stale);
- a re-read of the one token before every operation the socket starts (`ensure_live`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from authz.principal import Principal
from db.engine import Database
from db.models import ApiToken, Partner, User
from kernel.clock import Clock
from kernel.errors import Unauthenticated
from kernel.messages import N_
from subscriptions.bus import REVOCATIONS, Bus, Message

log = logging.getLogger("ownergraph.subscriptions")

CLOSE_REVOKED = 4403
# After closing, how long a subscription waits for the server to end it.
CLOSE_GRACE_SECONDS = 10.0


class Watched(Protocol):
    """A live connection: who it acts for (None until signed in) and its socket."""

    principal: Principal | None
    websocket: Any


def names(message: Message, principal: Principal) -> bool:
    """Does a revocation message concern this principal?"""
    return any(
        value is not None and message.get(key) == value
        for key, value in (
            ("token_id", principal.token_id),
            ("user_id", principal.user_id),
            ("partner_id", principal.partner_id),
        )
    )


@dataclass(frozen=True)
class TokenState:
    usable: bool  # not revoked, not expired, its user or partner still active
    role: str | None  # its user's role and team now (None for a partner's token)
    team_id: int | None


async def token_states(
    session: AsyncSession, token_ids: Collection[int], now: datetime
) -> dict[int, TokenState]:
    """These tokens as they are now: one indexed read, however many."""
    if not token_ids:
        return {}
    rows = await session.execute(
        select(
            col(ApiToken.id),
            col(ApiToken.revoked_at),
            col(ApiToken.expires_at),
            col(User.active),
            col(User.role),
            col(User.team_id),
            col(Partner.active),
        )
        .outerjoin(User, col(User.id) == col(ApiToken.user_id))
        .outerjoin(Partner, col(Partner.id) == col(ApiToken.partner_id))
        .where(col(ApiToken.id).in_(sorted(token_ids)))
    )
    return {
        ident: TokenState(
            usable=revoked_at is None
            and (expires_at is None or expires_at > now)
            and user_active is not False
            and partner_active is not False,
            role=role,
            team_id=team_id,
        )
        for ident, revoked_at, expires_at, user_active, role, team_id, partner_active in rows
        if ident is not None
    }


def holds(principal: Principal, states: Mapping[int, TokenState]) -> bool:
    """Does the principal a connection signed in as still hold? Its token must be usable,
    and its user's role and team what they were: a plan built for a role the user lost
    must not keep answering (the client signs in again and gets a fresh plan)."""
    if principal.token_id is None:
        return True
    state = states.get(principal.token_id)
    if state is None or not state.usable:
        return False
    return principal.user_id is None or (
        state.role == principal.role and state.team_id == principal.team_id
    )


async def token_is_live(session: AsyncSession, principal: Principal, now: datetime) -> bool:
    if principal.token_id is None:
        return True
    return holds(principal, await token_states(session, [principal.token_id], now))


async def close_socket(websocket: Any, reason: str = "Token revoked") -> None:
    if websocket is None:
        return
    # Closing twice, or after the client left, is nothing to report.
    with suppress(Exception):
        await websocket.close(code=CLOSE_REVOKED, reason=reason)


async def end_revoked(websocket: Any) -> None:
    """Stop a subscription whose token died: close the socket, and let the protocol
    handler cancel the subscription when the client acknowledges. Without a socket
    (called directly), raise."""
    if websocket is None:
        raise Unauthenticated(N_("The token has been revoked."))
    await close_socket(websocket)
    await asyncio.sleep(CLOSE_GRACE_SECONDS)
    raise Unauthenticated(N_("The token has been revoked."))


class RevocationWatch:
    """One per worker: watches every open socket of it, with one bus subscription and one
    periodic statement for all of them. Runs while at least one socket is open."""

    def __init__(self, db: Database, bus: Bus, clock: Clock, *, interval: float) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._interval = interval
        self._sockets: set[Watched] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()
        self.checks = 0  # periodic and resync re-reads so far (for tests and metrics)

    @asynccontextmanager
    async def watching(self, socket: Watched) -> AsyncIterator[None]:
        """For the life of one WebSocket connection."""
        self._sockets.add(socket)
        if not self._tasks:
            self._listening.clear()
            self._tasks = [
                asyncio.create_task(self._follow_bus(), name="ownergraph-revocations"),
            ]
            if self._interval > 0:
                recheck = self._recheck_every_interval()
                self._tasks.append(asyncio.create_task(recheck, name="ownergraph-recheck"))
        await self._listening.wait()
        try:
            yield
        finally:
            self._sockets.discard(socket)
            if not self._sockets:
                await self._stop()

    async def ensure_live(self, socket: Watched) -> bool:
        """Re-read this socket's token now; close the socket if it died."""
        principal = socket.principal
        if principal is None or principal.token_id is None:
            return principal is not None
        try:
            async with self._db.read() as session:
                live = await token_is_live(session, principal, self._clock.now())
        except Exception:
            # The database is away: the operation will fail on its own; the periodic
            # re-read closes the socket once the token can be read as dead.
            log.warning("could not re-read a token before an operation", exc_info=True)
            return True
        if not live:
            await close_socket(socket.websocket)
        return live

    async def recheck(self) -> int:
        """Re-read every open socket's token; close those that died. How many closed."""
        self.checks += 1
        watched = [
            (s, s.principal.token_id)
            for s in list(self._sockets)
            if s.principal is not None and s.principal.token_id is not None
        ]
        if not watched:
            return 0
        async with self._db.read() as session:
            states = await token_states(session, {t for _, t in watched}, self._clock.now())
        dead = [s for s, _ in watched if s.principal is None or not holds(s.principal, states)]
        for socket in dead:
            self._sockets.discard(socket)
            await close_socket(socket.websocket)
        return len(dead)

    async def _follow_bus(self) -> None:
        try:
            async with self._bus.subscribe(REVOCATIONS) as messages:
                self._listening.set()
                await self._on_messages(messages)
        finally:
            self._listening.set()  # nobody waits forever; the periodic re-read remains

    async def _on_messages(self, messages: AsyncIterator[Message]) -> None:
        async for message in messages:
            if message.get("resync"):
                await self._recheck_safely()
                continue
            for socket in list(self._sockets):
                if socket.principal is not None and names(message, socket.principal):
                    self._sockets.discard(socket)
                    await close_socket(socket.websocket)

    async def _recheck_every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._recheck_safely()

    async def _recheck_safely(self) -> None:
        try:
            await self.recheck()
        except Exception:
            # The database is away too: keep the sockets, try again next time.
            log.warning("could not re-read the tokens of open sockets", exc_info=True)

    async def _stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
