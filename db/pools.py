"""Pools (公海) as data and as SQL: their rules, which pool an owner's customers go to, and
when a customer is due to go there.

`recycle_due` is the one rule of recycling: the `recycleDueAt` of every customer and the
recycle job (db/jobs.py) are both built from it, so they never disagree. Times in it are
whole milliseconds since the epoch (exact on both backends: SQLite keeps milliseconds,
PostgreSQL's epoch is numeric).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from db.enums import Stage
from db.models import Customer, OwnershipEvent, Pool, PoolAdmin, PoolTeam, Team
from kernel.settings import Settings

DAY_MS = 86_400_000
TIERS = ("A", "B", "C")
CLOSED = Stage.ACTIVE
# Customer fields a pool may hide while a customer sits in it (GraphQL name -> attribute).
HIDEABLE = {
    "industry": "industry",
    "region": "region",
    "size": "size",
    "source": "source",
    "tags": "tags",
    "taxId": "tax_id",
    "dealValue": "deal_value",
    "contacts": "contacts",
    "createdBy": "created_by",
    "collaborators": "collaborators",
    "lastFollowUpAt": "last_follow_up_at",
    "nextFollowUpDue": "next_follow_up_due",
    "latestFollowUp": "latest_follow_up",
    "followUps": "follow_ups",
}


@dataclass(frozen=True)
class Rules:
    """A pool's rules in effect: what the pool sets, else the setting of the same name."""

    recycle_after_no_follow_up_days: dict[str, int]
    recycle_after_no_deal_days: int | None
    exempt_closed_deals: bool
    warn_days_before: int
    daily_claim_limit: int | None
    reclaim_cooldown_days: int
    new_arrival_embargo_hours: int
    hidden_fields: tuple[str, ...]
    protection_days: int

    @classmethod
    def of(cls, stored: Mapping[str, Any], settings: Settings) -> Rules:
        defaults: dict[str, Any] = {
            "recycle_after_no_follow_up_days": dict(settings.recycle_days),
            "recycle_after_no_deal_days": settings.recycle_after_no_deal_days,
            "exempt_closed_deals": settings.exempt_closed_deals,
            "warn_days_before": settings.recycle_warning_days,
            "daily_claim_limit": settings.daily_claim_limit,
            "reclaim_cooldown_days": settings.reclaim_cooldown_days,
            "new_arrival_embargo_hours": settings.new_arrival_embargo_hours,
            "hidden_fields": (),
            "protection_days": settings.protection_days,
        }
        values = {k: stored[k] if k in stored else v for k, v in defaults.items()}
        values["recycle_after_no_follow_up_days"] = {
            str(t): int(n) for t, n in dict(values["recycle_after_no_follow_up_days"]).items()
        }
        values["hidden_fields"] = tuple(values["hidden_fields"])
        return cls(**values)


@dataclass(frozen=True)
class PoolInfo:
    id: int
    name: str
    is_default: bool
    stored: dict[str, Any]
    rules: Rules
    team_ids: tuple[int, ...]
    admin_ids: frozenset[int]
    created_at: datetime


@dataclass(frozen=True)
class Pools:
    """Every pool, read once (a request's or a job run's); there are few."""

    by_id: dict[int, PoolInfo]
    default_id: int
    # Teams' materialised paths, to find the most specific pool of a team.
    paths: dict[int, str] = field(default_factory=dict)

    def of_team(self, team_id: int | None) -> PoolInfo:
        """The pool an owner in this team releases into: the pool naming the nearest of
        the team and its ancestors, else the default pool (as `pool_of_team` in SQL)."""
        path = self.paths.get(team_id) if team_id is not None else None
        best: tuple[int, int] | None = None
        if path is not None:
            for pool in self.by_id.values():
                for t in pool.team_ids:
                    p = self.paths.get(t)
                    if p is not None and path.startswith(p):
                        key = (-len(p), pool.id)
                        best = key if best is None or key < best else best
        return self.by_id[best[1] if best else self.default_id]

    def member_of(self, pool: PoolInfo, user_id: int | None, team_ids: frozenset[int]) -> bool:
        """As `member_pools` in SQL: a pool without teams, one naming one of `team_ids`
        (the caller's teams and those above them), or one they administer."""
        if user_id is not None and user_id in pool.admin_ids:
            return True
        return not pool.team_ids or any(t in team_ids for t in pool.team_ids)


async def load_pools(session: Any, settings: Settings) -> Pools:
    """Three statements, whatever the number of customers."""
    rows = list((await session.execute(select(Pool).order_by(col(Pool.id)))).scalars())
    teams: dict[int, list[int]] = {}
    for pool_id, team_id in await session.execute(
        select(col(PoolTeam.pool_id), col(PoolTeam.team_id)).order_by(col(PoolTeam.team_id))
    ):
        teams.setdefault(pool_id, []).append(team_id)
    admins: dict[int, set[int]] = {}
    for pool_id, user_id in await session.execute(
        select(col(PoolAdmin.pool_id), col(PoolAdmin.user_id))
    ):
        admins.setdefault(pool_id, set()).add(user_id)
    paths = {int(i): str(p) for i, p in await session.execute(select(col(Team.id), col(Team.path)))}
    by_id = {
        p.id: PoolInfo(
            id=p.id,
            name=p.name,
            is_default=p.is_default,
            stored=dict(p.rules or {}),
            rules=Rules.of(p.rules or {}, settings),
            team_ids=tuple(teams.get(p.id, ())),
            admin_ids=frozenset(admins.get(p.id, ())),
            created_at=p.created_at,
        )
        for p in rows
        if p.id is not None
    }
    default = next((p.id for p in by_id.values() if p.is_default), None)
    if default is None:
        raise RuntimeError("no default pool: run the migrations (ownergraph migrate)")
    return Pools(by_id, default, paths)


# --- SQL -------------------------------------------------------------------------------


def pool_of_team(team_id: Any) -> ColumnElement[int]:
    """In SQL, for a team id column or value: the pool naming the nearest of the team and
    its ancestors, else the default pool. Correlated, so it works in set-based UPDATEs and
    INSERT ... SELECTs (the old team of a row being pooled)."""
    own = aliased(Team)
    named = aliased(Team)
    nearest = (
        select(col(PoolTeam.pool_id))
        .join(named, col(named.id) == col(PoolTeam.team_id))
        .join(own, col(own.path).startswith(col(named.path)))
        .where(col(own.id) == team_id)
        .order_by(func.length(col(named.path)).desc(), col(PoolTeam.pool_id))
        .limit(1)
        .scalar_subquery()
    )
    default = select(col(Pool.id)).where(col(Pool.is_default).is_(True)).scalar_subquery()
    return func.coalesce(nearest, default)


def epoch_ms(value: Any, postgres: bool) -> ColumnElement[int]:
    """Whole milliseconds since 1970 of a time column (NULL stays NULL)."""
    if postgres:
        return cast(func.round(func.extract("epoch", value) * 1000), BigInteger)
    return cast(func.round((func.julianday(value) - 2440587.5) * 86_400_000.0), BigInteger)


def to_ms(value: datetime) -> int:
    return int(round(value.timestamp() * 1000))


def from_ms(value: int | float | None) -> datetime | None:
    if value is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(value))


def _least(a: Any, b: Any) -> Any:
    """The earlier of two times, either may be NULL (then the other)."""
    if a is None:
        return b
    if b is None:
        return a
    return case((a.is_(None), b), (b.is_(None), a), (a < b, a), else_=b)


def _postponed(due: Any, until: Any) -> Any:
    """`due`, or `until` when later; a NULL due stays NULL (never)."""
    return case((due.is_(None), null()), (until.is_(None), due), (until > due, until), else_=due)


@dataclass(frozen=True)
class Due:
    """SQL over the customer row: when it goes to the pool (ms), and why."""

    at: ColumnElement[Any]
    reason: ColumnElement[Any]


def _pool_due(rules: Rules, postgres: bool, ahead: bool) -> Due:
    clock = epoch_ms(col(Customer.recycle_clock_at), postgres)
    owned = epoch_ms(col(Customer.owned_since), postgres)
    days = rules.recycle_after_no_follow_up_days
    follow: Any = None
    if days:
        follow = case(
            *((col(Customer.tier) == t, clock + n * DAY_MS) for t, n in sorted(days.items()))
        )
    no_deal: Any = None
    if rules.recycle_after_no_deal_days is not None:
        no_deal = case(
            (
                col(Customer.stage) != CLOSED,
                owned + rules.recycle_after_no_deal_days * DAY_MS,
            )
        )
    base = _least(follow, no_deal)
    if base is None:
        return Due(null(), null())
    if rules.exempt_closed_deals:
        base = case((col(Customer.stage) == CLOSED, null()), else_=base)
    locked = case(
        (
            and_(col(Customer.locked_at).is_not(None), col(Customer.locked_until).is_(None)),
            null(),
        ),
        else_=_postponed(base, epoch_ms(col(Customer.locked_until), postgres)),
    )
    due = _postponed(locked, epoch_ms(col(Customer.protected_until), postgres))
    if ahead:
        due = due - rules.warn_days_before * DAY_MS
    follow_reason = (
        case(
            *(
                (col(Customer.tier) == t, literal(f"No follow-up for {n} days (tier {t})."))
                for t, n in sorted(days.items())
            )
        )
        if days
        else null()
    )
    deal_reason = literal(f"No deal within {rules.recycle_after_no_deal_days} days of taking it.")
    reason: Any
    if follow is None:
        reason = deal_reason
    elif no_deal is None:
        reason = follow_reason
    else:
        earlier = and_(no_deal.is_not(None), or_(follow.is_(None), no_deal < follow))
        reason = case((earlier, deal_reason), else_=follow_reason)
    return Due(due, reason)


def recycle_due(pools: Pools, postgres: bool, *, ahead: bool = False) -> Due:
    """When each owned customer goes to its owner's team's pool if nothing happens (NULL:
    never; NULL for a customer in a pool), by that pool's rules: the earlier of the tier's
    no-follow-up days and the no-deal days since the owner took it; never for a closed
    deal when the pool exempts them, nor while locked without end; not before a lock's
    end or the protection's. `ahead`: that time minus the pool's warnDaysBefore."""
    target = pool_of_team(col(Customer.team_id))
    parts = {p.id: _pool_due(p.rules, postgres, ahead) for p in pools.by_id.values()}
    owned = col(Customer.owner_id).is_not(None)
    if len(parts) == 1:
        (only,) = parts.values()
        return Due(case((owned, only.at), else_=null()), case((owned, only.reason), else_=null()))
    return Due(
        case(
            (~owned, null()),
            *((target == pid, d.at) for pid, d in sorted(parts.items())),
            else_=null(),
        ),
        case(
            (~owned, null()),
            *((target == pid, d.reason) for pid, d in sorted(parts.items())),
            else_=null(),
        ),
    )


def could_be_due(pools: Pools, now: datetime) -> ColumnElement[bool]:
    """A necessary condition of `recycle_due(...) <= now` that indexes can answer: the
    recycle clock older than the shortest days of its tier in any pool, or owned longer
    than the shortest no-deal days (locks and protection only ever postpone)."""
    branches = could_be_due_branches(pools, now)
    return or_(*branches) if branches else false()


def could_be_due_branches(pools: Pools, now: datetime) -> list[ColumnElement[bool]]:
    """The terms of `could_be_due`'s OR, each one index range."""
    shortest: dict[str, int] = {}
    no_deal: list[int] = []
    for p in pools.by_id.values():
        for t, n in p.rules.recycle_after_no_follow_up_days.items():
            shortest[t] = min(n, shortest.get(t, n))
        if p.rules.recycle_after_no_deal_days is not None:
            no_deal.append(p.rules.recycle_after_no_deal_days)
    branches: list[ColumnElement[bool]] = [
        and_(
            col(Customer.tier) == t,
            col(Customer.recycle_clock_at) < now - timedelta(days=n) + timedelta(milliseconds=1),
        )
        for t, n in sorted(shortest.items())
    ]
    if no_deal:
        since = now - timedelta(days=min(no_deal)) + timedelta(milliseconds=1)
        branches.append(col(Customer.owned_since) < since)
    return branches


def member_pools(user_id: int | None, team_ids: Sequence[int]) -> Any:
    """Ids of the pools a user belongs to, as an uncorrelated subquery: pools without
    teams, pools naming one of `team_ids` (the caller's teams and their ancestors), pools
    they administer."""
    teamed = select(col(PoolTeam.pool_id))
    parts = [select(col(Pool.id)).where(col(Pool.id).not_in(teamed))]
    if team_ids:
        parts.append(
            select(col(PoolTeam.pool_id)).where(col(PoolTeam.team_id).in_(sorted(team_ids)))
        )
    if user_id:
        parts.append(select(col(PoolAdmin.pool_id)).where(col(PoolAdmin.user_id) == user_id))
    return union(*parts)


def is_postgres(session: AsyncSession | Any) -> bool:
    return bool(session.get_bind().dialect.name == "postgresql")


async def due_times(session: Any, pools: Pools, ids: Sequence[int]) -> dict[int, datetime | None]:
    """`recycleDueAt` of these customers: one statement, whatever their number."""
    if not ids:
        return {}
    due = recycle_due(pools, is_postgres(session)).at
    rows = await session.execute(
        select(col(Customer.id), due).where(col(Customer.id).in_(sorted(set(ids))))
    )
    return {int(i): from_ms(at) for i, at in rows}


POOL_ENTERING = ("CREATED", "RELEASED", "RECYCLED", "TRANSFERRED", "DISPUTE_RESOLVED")


async def place_unpooled(session: Any) -> None:
    """Customers written straight to the tables without a pool (seeding, bulk loads, the
    first release's rows) go to the default pool, as do the events that left them there."""
    default = select(col(Pool.id)).where(col(Pool.is_default).is_(True)).scalar_subquery()
    await session.execute(
        update(Customer)
        .where(
            col(Customer.owner_id).is_(None),
            col(Customer.pool_id).is_(None),
            col(Customer.merged_into_id).is_(None),
        )
        .values(
            pool_id=default,
            pool_entered_at=func.coalesce(col(Customer.pooled_at), col(Customer.created_at)),
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(OwnershipEvent)
        .where(
            col(OwnershipEvent.pool_id).is_(None),
            col(OwnershipEvent.to_user_id).is_(None),
            col(OwnershipEvent.kind).in_(POOL_ENTERING),
        )
        .values(pool_id=default)
        .execution_options(synchronize_session=False)
    )


def pool_masks(user_id: int | None) -> list[ColumnElement[Any]]:
    """Read with a page of customers, so deciding what their pool hides costs no statement:
    the stored rules of the customer's pool, and whether the caller administers it."""
    rules = select(col(Pool.rules)).where(col(Pool.id) == col(Customer.pool_id)).scalar_subquery()
    admin = (
        select(col(PoolAdmin.user_id))
        .where(
            col(PoolAdmin.pool_id) == col(Customer.pool_id),
            col(PoolAdmin.user_id) == (user_id or 0),
        )
        .scalar_subquery()
    )
    return [rules.label("pool_rules"), admin.label("pool_admin_id")]
