"""Assignment: who gets a customer that nobody entered for themselves.

The ordered rules of DESIGN.md rule 2 (`choose_owner`), the team strategies they use
(also used by the lifecycle handoff), and the capacity check every new owner passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import Role, Stage
from db.models import AssignmentRule, AuditEntry, Customer, User
from kernel.errors import ClaimLimitReached, Conflict
from kernel.messages import N_
from resolvers.context import Context

POOL_RULE = "pool"
# Audit action written when a customer reaches ACTIVE (resolvers/lifecycle.py); the
# weighted strategy counts these as recent wins.
WON_ACTION = "customer.won"
PERFORMANCE_WINDOW = timedelta(days=90)
# Who may own customers at all, and who takes them from a team strategy.
OWNER_ROLES = (Role.REP, Role.SERVICE, Role.MANAGER)
TEAM_ROLES = (Role.REP, Role.SERVICE)


class Strategy(StrEnum):
    USER = "user"
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"
    WEIGHTED = "weighted"


@dataclass(frozen=True)
class Candidate:
    """A possible owner and how many customers they own now."""

    user: User
    owned: int

    @property
    def has_room(self) -> bool:
        return self.user.capacity is None or self.owned < self.user.capacity


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def candidate(
    session: AsyncSession, user_id: int, *, lock: bool = False, closed_deals: bool = True
) -> Candidate | None:
    """The user and their owned count. `lock` takes the user's row lock first (PostgreSQL),
    so concurrent claims and assignments to one user are counted one after the other.
    `closed_deals`: do customers that reached ACTIVE count (a setting)?"""
    stmt = select(User).where(col(User.id) == user_id).execution_options(populate_existing=True)
    if lock and _postgres(session):
        # NO KEY UPDATE: rows inserted with a foreign key to this user (events, audit
        # entries) take KEY SHARE locks, which FOR UPDATE would make wait, and deadlock.
        stmt = stmt.with_for_update(key_share=True)
    user = (await session.execute(stmt)).scalar_one_or_none()
    if user is None:
        return None
    counted = select(func.count()).select_from(Customer).where(col(Customer.owner_id) == user_id)
    if not closed_deals:
        counted = counted.where(col(Customer.stage) != Stage.ACTIVE)
    owned = await session.scalar(counted)
    return Candidate(user, int(owned or 0))


def require_room(c: Candidate, *, you: bool = False) -> None:
    if c.has_room:
        return
    if you:
        refused = N_(
            "You own {owned} customers; the limit is {capacity}.",
            owned=c.owned,
            capacity=c.user.capacity,
        )
    else:
        refused = N_(
            "{name} owns {owned} customers; the limit is {capacity}.",
            name=c.user.name,
            owned=c.owned,
            capacity=c.user.capacity,
        )
    raise ClaimLimitReached(
        refused,
        limit=c.user.capacity,
        owned=c.owned,
    )


async def team_candidates(session: AsyncSession, team_id: int) -> list[Candidate]:
    """Active reps and service staff of the team with room left, in id order."""
    owned = (
        select(func.count())
        .select_from(Customer)
        .where(col(Customer.owner_id) == col(User.id))
        .correlate(User)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(User, owned)
        .where(
            col(User.team_id) == team_id, col(User.active).is_(True), col(User.role).in_(TEAM_ROLES)
        )
        .order_by(col(User.id))
        .execution_options(populate_existing=True)
    )
    return [c for user, n in rows if (c := Candidate(user, int(n))).has_room]


async def recent_wins(session: AsyncSession, team_id: int, since: datetime) -> dict[int, int]:
    """Customers of the team that reached ACTIVE with each user as owner since `since`."""
    owner = col(AuditEntry.detail)["owner_id"].as_integer()
    team = col(AuditEntry.detail)["team_id"].as_integer()
    rows = await session.execute(
        select(owner, func.count(func.distinct(col(AuditEntry.customer_id))))
        .where(col(AuditEntry.action) == WON_ACTION, col(AuditEntry.at) >= since, team == team_id)
        .group_by(owner)
    )
    return {int(user_id): int(n) for user_id, n in rows if user_id is not None}


async def pick_in_team(
    session: AsyncSession,
    strategy: str,
    team_id: int,
    *,
    now: datetime,
    after_user_id: int | None = None,
    exclude: frozenset[int] = frozenset(),
    eligible: Callable[[User], bool] = lambda _user: True,
) -> User | None:
    """One eligible member of the team by `strategy`, or None when nobody has room.

    round_robin: the next member after `after_user_id` in id order, wrapping around;
    least_loaded: fewest owned customers, ties by id; weighted: lowest owned / (1 + recent
    wins), ties by id. Unknown strategies count as least_loaded. Only members `eligible`
    accepts are considered.
    """
    candidates = [
        c
        for c in await team_candidates(session, team_id)
        if c.user.id not in exclude and eligible(c.user)
    ]
    if not candidates:
        return None
    if strategy == Strategy.ROUND_ROBIN:
        after = after_user_id if after_user_id is not None else -1
        return next((c for c in candidates if (c.user.id or 0) > after), candidates[0]).user
    if strategy == Strategy.WEIGHTED:
        wins = await recent_wins(session, team_id, now - PERFORMANCE_WINDOW)
        return min(
            candidates,
            key=lambda c: (Fraction(c.owned, 1 + wins.get(c.user.id or 0, 0)), c.user.id),
        ).user
    return min(candidates, key=lambda c: (c.owned, c.user.id)).user


def _folded(value: str | None) -> str | None:
    return value.strip().casefold() if value is not None else None


def serves(rule: AssignmentRule, customer: Customer, user: User) -> bool:
    """The user serves the customer's region and industry, as far as the rule asks."""
    for asked, want, have in (
        (rule.by_region, customer.region, user.regions),
        (rule.by_industry, customer.industry, user.industries),
    ):
        if asked and _folded(want) not in {_folded(v) for v in have or []}:
            return False
    return True


def matches(rule: AssignmentRule, customer: Customer) -> bool:
    """Every matcher the rule sets equals the customer's value (text case-insensitively)."""
    if rule.tier is not None and rule.tier != str(customer.tier):
        return False
    return all(
        want is None or _folded(want) == _folded(have)
        for want, have in (
            (rule.region, customer.region),
            (rule.industry, customer.industry),
            (rule.source, customer.source),
        )
    )


async def choose_owner(
    ctx: Context, session: AsyncSession, customer: Customer, *, within_team: int | None = None
) -> tuple[User | None, str]:
    """The owner picked by the first matching rule that finds someone eligible, and that
    rule's name; (None, "pool") when no rule matches or none finds anyone. With
    `within_team` (a rep's own entry) a rule picks only in that team unless it says
    `cross_team`."""
    rules = (
        await session.execute(
            select(AssignmentRule).order_by(col(AssignmentRule.position), col(AssignmentRule.id))
        )
    ).scalars()
    for rule in list(rules):
        if not matches(rule, customer):
            continue
        if within_team is not None and not rule.cross_team:
            if rule.strategy != Strategy.USER and rule.team_id != within_team:
                continue
        owner = await _apply(ctx, session, rule, customer)
        if owner is None:
            continue
        if within_team is not None and not rule.cross_team and owner.team_id != within_team:
            continue
        return owner, rule.name
    return None, POOL_RULE


async def _apply(
    ctx: Context, session: AsyncSession, rule: AssignmentRule, customer: Customer
) -> User | None:
    if rule.strategy == Strategy.USER:
        if rule.user_id is None:
            return None
        named = await candidate(session, rule.user_id, lock=True)
        eligible = (
            named is not None
            and named.user.active
            and named.user.role in OWNER_ROLES
            and named.has_room
            and serves(rule, customer, named.user)
        )
        return named.user if named is not None and eligible else None
    if rule.team_id is None:
        return None
    # The rule's row lock (PostgreSQL; SQLite writers are serial already) makes concurrent
    # creations take turns: each sees the previous one's owner and round-robin position.
    stmt = select(col(AssignmentRule.last_user_id)).where(col(AssignmentRule.id) == rule.id)
    if _postgres(session):
        stmt = stmt.with_for_update()
    position = (await session.execute(stmt)).first()
    if position is None:  # replaced by setAssignmentRules meanwhile
        return None
    last_user_id = position[0]
    full: set[int] = set()
    while True:
        picked = await pick_in_team(
            session,
            rule.strategy,
            rule.team_id,
            now=ctx.now(),
            after_user_id=last_user_id,
            exclude=frozenset(full),
            eligible=lambda user: serves(rule, customer, user),
        )
        if picked is None or picked.id is None:
            return None
        # Re-count under the user's row lock: a claim may have filled them meanwhile.
        locked = await candidate(session, picked.id, lock=True)
        if locked is not None and locked.has_room:
            break
        full.add(picked.id)
    if rule.strategy == Strategy.ROUND_ROBIN:
        moved = await session.execute(
            update(AssignmentRule)
            .where(
                col(AssignmentRule.id) == rule.id,
                col(AssignmentRule.last_user_id).is_not_distinct_from(last_user_id),
            )
            .values(last_user_id=picked.id)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(N_("The assignment rules changed at the same moment; try again."))
    return picked
