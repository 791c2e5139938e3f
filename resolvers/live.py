"""The subscription resolvers: async generators of rows, filtered per subscriber.

Visibility is decided when a row is delivered, by the same plan as queries, plus the
people an ownership change concerns: a rep whose customer is transferred away receives
that event, and nothing about it afterwards. Ownership events come from the worker's
feed (subscriptions/feed.py), which reads each batch once for every subscriber.

Each read uses its own short session, never the connection's shared one; nested fields
of a delivered row load through fresh loaders (see `_delivering`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Hashable, Sequence
from contextlib import aclosing, asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import ReminderStatus
from db.models import Customer, Dispute, DisputeChange, OwnershipEvent, Reminder
from kernel.errors import Forbidden, Unauthenticated, Validation
from kernel.messages import N_
from resolvers import disputes
from resolvers.access import customer_for
from resolvers.ids import parse_optional_id
from subscriptions.bus import DISPUTES, REMINDERS, Message
from subscriptions.feed import Direct, Follower, feed_for
from subscriptions.replay import WAKE, follow, listening
from subscriptions.revocation import end_revoked, token_is_live

if TYPE_CHECKING:
    from resolvers.context import Context

BATCH = 500

# One delivery at a time per connection: its subscriptions share one context, and a
# delivery refreshes that context's session and loaders.
_delivery_locks: weakref.WeakKeyDictionary[Context, asyncio.Lock] = weakref.WeakKeyDictionary()


# A delivered event whose customer the feed did not read (caught up from the table).
UNKNOWN: Any = object()


async def ownership_changed(
    ctx: Context,
    *,
    customer_id: object | None = None,
    team_id: object | None = None,
    since: int | None = None,
    direct: Direct | None = None,
) -> AsyncGenerator[tuple[OwnershipEvent, Any], None]:
    """Ownership events after `since` (an event id; None = from now on), then live, from
    the worker's feed (subscriptions/feed.py), each with its customer as the feed read it
    for this plan (a ScopedRow, None when not visible, or UNKNOWN). `direct`: how the
    feed may hand this subscription a finished message instead (schema/live_frames.py)."""
    follower = Follower(
        ctx.plan,
        customer_id=parse_optional_id(customer_id, "customer"),
        team_id=parse_optional_id(team_id, "team"),
        direct=direct,
    )
    if follower.customer_id is not None:
        async with ctx.services.db.read() as session:
            await customer_for(ctx, session, follower.customer_id, "read", lock=False)
    feed = feed_for(ctx.services.db, ctx.bus, ctx.now)
    async with feed.following(follower, since=since) as rows:
        try:
            async for event in rows:
                # The feed's read of the customer, shared by every subscriber with this
                # plan (None: not visible); events caught up from the table load it.
                known = follower.customers.pop(event.id or 0, UNKNOWN)
                async with _delivering(ctx):
                    yield event, known
        except Unauthenticated:
            await end_revoked(ctx.websocket)


async def reminder_due(ctx: Context, *, since: int | None = None) -> AsyncGenerator[Reminder, None]:
    """The caller's reminders as they fire, in firing order. `since` is the id of a
    reminder the caller received; None = from now on."""
    user_id = ctx.plan.principal.user_id
    if user_id is None:
        raise Forbidden(N_("Reminders belong to people, not partner tokens."))

    def route(message: Message) -> Hashable | None:
        return WAKE if message.get("user_id") in (user_id, None) else None

    async with listening(ctx.bus, {REMINDERS: route}) as inbox:
        async with ctx.services.db.read() as session:
            start = await _reminder_start(session, user_id, since)

        async def read_after(position: tuple[datetime, int]) -> Sequence[Reminder]:
            fired_at, ident = position
            stmt = (
                select(Reminder)
                .where(
                    col(Reminder.user_id) == user_id,
                    col(Reminder.status) == ReminderStatus.FIRED,
                    col(Reminder.fired_at).is_not(None),
                    or_(
                        col(Reminder.fired_at) > fired_at,
                        and_(col(Reminder.fired_at) == fired_at, col(Reminder.id) > ident),
                    ),
                )
                .order_by(col(Reminder.fired_at), col(Reminder.id))
                .limit(BATCH)
            )
            return await _read_live(ctx, stmt)

        rows = follow(
            inbox, read_after, start, lambda r: (r.fired_at or start[0], r.id or 0), batch=BATCH
        )
        async with aclosing(rows):
            async for reminder in rows:
                async with _delivering(ctx):
                    yield reminder


async def dispute_updated(
    ctx: Context, *, customer_id: object | None = None, since: int | None = None
) -> AsyncGenerator[tuple[int, Dispute], None]:
    """Disputes as they change, each with its change's position in the dispute change log
    (db/ownership.announce_disputes): after `since` (a position delivered before; None =
    from now on), then live. A dispute changed several times before it is read is
    delivered once, as it is then, at its latest change. Announcements only wake the
    reader, so a lost one (the bus says `resync`) loses nothing."""
    plan = ctx.plan
    disputes.require_staff(ctx)
    customer = parse_optional_id(customer_id, "customer")
    user_id = plan.principal.user_id
    seen = [plan.customer_scope()]
    if user_id is not None:
        seen += [col(Dispute.claimant_id) == user_id, col(Dispute.respondent_id) == user_id]

    def route(message: Message) -> Hashable | None:
        if customer is not None and not message.get("resync"):
            return WAKE if message.get("customer_id") == customer else None
        return WAKE

    async with listening(ctx.bus, {DISPUTES: route}) as inbox:
        async with ctx.services.db.read() as session:
            if customer is not None:
                await customer_for(ctx, session, customer, "read", lock=False)
            start = since
            if start is None:
                start = int(await session.scalar(select(func.max(col(DisputeChange.id)))) or 0)

        async def read_after(position: int) -> Sequence[tuple[int, Dispute]]:
            latest = (
                select(
                    col(DisputeChange.dispute_id).label("dispute_id"),
                    func.max(col(DisputeChange.id)).label("change"),
                )
                .where(col(DisputeChange.id) > position)
                .group_by(col(DisputeChange.dispute_id))
                .subquery()
            )
            stmt = (
                select(latest.c.change, Dispute)
                .join(Dispute, col(Dispute.id) == latest.c.dispute_id)
                .join(Customer, col(Customer.id) == col(Dispute.customer_id))
                .where(or_(*seen))
                .order_by(latest.c.change)
                .limit(BATCH)
            )
            if customer is not None:
                stmt = stmt.where(col(Dispute.customer_id) == customer)
            found = await _read_live(ctx, stmt, scalars=False)
            return [(int(change), dispute) for change, dispute in found]

        rows = follow(inbox, read_after, start, lambda row: row[0], batch=BATCH)
        async with aclosing(rows):
            async for change in rows:
                async with _delivering(ctx):
                    yield change


async def _read_live(ctx: Context, stmt: Select[Any], *, scalars: bool = True) -> list[Any]:
    """Rows for a delivery, in a short session of their own, if the caller's token is
    still good: the first column's values, or (`scalars=False`) whole rows as tuples."""
    principal = ctx.plan.principal
    async with ctx.services.db.read() as session:
        live = await token_is_live(session, principal, ctx.now())
        result = await session.execute(stmt) if live else None
        if result is None:
            rows: list[Any] = []
        elif scalars:
            rows = list(result.scalars())
        else:
            rows = [tuple(row) for row in result.all()]
    if not live:
        await end_revoked(ctx.websocket)
    return rows


async def _reminder_start(
    session: AsyncSession, user_id: int, since: int | None
) -> tuple[datetime, int]:
    """Where in firing order to start: after the `since` reminder, or after the last one
    fired so far."""
    if since is not None:
        row = (
            await session.execute(
                select(col(Reminder.fired_at), col(Reminder.id)).where(
                    col(Reminder.id) == since, col(Reminder.user_id) == user_id
                )
            )
        ).first()
        if row is None or row.fired_at is None:
            raise Validation(
                N_("`since` must be the cursor of a reminder you received."), argument="since"
            )
        return row.fired_at, row.id
    row = (
        await session.execute(
            select(col(Reminder.fired_at), col(Reminder.id))
            .where(col(Reminder.user_id) == user_id, col(Reminder.fired_at).is_not(None))
            .order_by(col(Reminder.fired_at).desc(), col(Reminder.id).desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return datetime.min.replace(tzinfo=UTC), 0
    return row.fired_at, row.id


def delivery_lock(ctx: Context) -> asyncio.Lock:
    """Held while one of the connection's subscriptions delivers."""
    return _delivery_locks.setdefault(ctx, asyncio.Lock())


@asynccontextmanager
async def _delivering(ctx: Context) -> AsyncIterator[None]:
    """Resolve one delivered row with fresh reads, then let go of the connection."""
    async with delivery_lock(ctx):
        await ctx.refresh()
        ctx.masked.clear()
        try:
            yield
        finally:
            await ctx.flush_audits("subscription")
            await ctx.close()
