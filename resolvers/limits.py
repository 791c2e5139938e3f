"""Daily claim limits: claims per user per pool per calendar day of the organisation's time
zone (settings.org_time_zone), counted from the CLAIMED events themselves, so nothing can
drift. The claimant's row is locked before counting (resolvers/pool.claim_customer), so
concurrent claims of one user are counted one after the other on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import col

from db.enums import EventKind
from db.models import OwnershipEvent
from db.pools import PoolInfo
from kernel.errors import ClaimLimitReached
from kernel.messages import N_
from resolvers.context import Context


def day_start(now: datetime, zone: str) -> datetime:
    """The latest local midnight at or before `now`, in UTC."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    return datetime.combine(local.date(), time(0), tzinfo=tz).astimezone(UTC)


async def claims_today(session: object, user_id: int, pool_id: int, since: datetime) -> int:
    found = await session.scalar(  # type: ignore[attr-defined]
        select(func.count())
        .select_from(OwnershipEvent)
        .where(
            col(OwnershipEvent.actor_id) == user_id,
            col(OwnershipEvent.kind) == EventKind.CLAIMED,
            col(OwnershipEvent.at) >= since,
            col(OwnershipEvent.pool_id) == pool_id,
        )
    )
    return int(found or 0)


async def claims_left(
    ctx: Context, session: object, user_id: int, pool: PoolInfo, now: datetime
) -> int | None:
    """None: the pool sets no daily limit."""
    limit = pool.rules.daily_claim_limit
    if limit is None:
        return None
    since = day_start(now, ctx.settings.org_time_zone)
    return max(limit - await claims_today(session, user_id, pool.id, since), 0)


async def require_daily_room(
    ctx: Context, session: object, user_id: int, pool: PoolInfo, now: datetime
) -> None:
    left = await claims_left(ctx, session, user_id, pool, now)
    if left is not None and left <= 0:
        raise ClaimLimitReached(
            N_(
                "You have claimed {limit} customers from {pool} today, its daily limit; "
                "claim more tomorrow.",
                limit=pool.rules.daily_claim_limit,
                pool=pool.name,
            ),
            period="day",
            limit=pool.rules.daily_claim_limit,
        )
