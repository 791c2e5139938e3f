"""Revoked tokens and deactivated users or partners lose their live connections.

Two checks, so neither a lost bus message nor a slow one lets a dead token keep
listening: each connection watches the `revocations` channel and closes its socket
(4403) when a message names its token, user or partner; and each delivery re-reads the
token row first (`token_is_live`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from authz.principal import Principal
from db.models import ApiToken, Partner, User
from kernel.errors import Unauthenticated
from subscriptions.bus import REVOCATIONS, Message

if TYPE_CHECKING:
    from resolvers.context import Context

log = logging.getLogger("ownergraph.subscriptions")

CLOSE_REVOKED = 4403
# After closing, how long a subscription waits for the server to end it.
CLOSE_GRACE_SECONDS = 10.0


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


async def token_is_live(session: AsyncSession, principal: Principal, now: datetime) -> bool:
    """One indexed read: not revoked, not expired, its user or partner still active."""
    if principal.token_id is None:
        return True
    row = (
        await session.execute(
            select(
                col(ApiToken.revoked_at),
                col(ApiToken.expires_at),
                col(User.active),
                col(Partner.active),
            )
            .outerjoin(User, col(User.id) == col(ApiToken.user_id))
            .outerjoin(Partner, col(Partner.id) == col(ApiToken.partner_id))
            .where(col(ApiToken.id) == principal.token_id)
        )
    ).first()
    if row is None:
        return False
    revoked_at, expires_at, user_active, partner_active = row
    return (
        revoked_at is None
        and (expires_at is None or expires_at > now)
        and user_active is not False
        and partner_active is not False
    )


async def close_socket(ctx: Context, reason: str) -> None:
    websocket: Any = ctx.websocket
    if websocket is None:
        return
    # Closing twice, or after the client left, is nothing to report.
    with suppress(Exception):
        await websocket.close(code=CLOSE_REVOKED, reason=reason)


async def end_revoked(ctx: Context) -> None:
    """Stop a subscription whose token died: close the socket, and let the protocol
    handler cancel the subscription when the client acknowledges. Without a socket
    (called directly), raise."""
    if ctx.websocket is None:
        raise Unauthenticated("The token has been revoked.")
    await close_socket(ctx, "Token revoked")
    await asyncio.sleep(CLOSE_GRACE_SECONDS)
    raise Unauthenticated("The token has been revoked.")


@asynccontextmanager
async def watching_revocations(ctx: Context) -> AsyncIterator[None]:
    """For the life of one WebSocket connection: close it when its token is revoked."""
    async with ctx.bus.subscribe(REVOCATIONS) as messages:
        task = asyncio.create_task(_watch(ctx, messages))
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


async def _watch(ctx: Context, messages: AsyncIterator[Message]) -> None:
    async for message in messages:
        principal = ctx.principal
        if principal is None:
            continue  # not signed in yet; the sign-in reads the token row itself
        if names(message, principal) or (message.get("resync") and not await _live(ctx)):
            await close_socket(ctx, "Token revoked")
            return


async def _live(ctx: Context) -> bool:
    assert ctx.principal is not None
    try:
        async with ctx.services.db.read() as session:
            return await token_is_live(session, ctx.principal, ctx.now())
    except Exception:
        log.warning("could not check a token after a bus resync", exc_info=True)
        return True
