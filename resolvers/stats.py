"""Workload balance for managers: who owns how much, what is overdue, how even it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlmodel import col

from db.enums import EventKind, Role
from db.models import Customer, OwnershipEvent, User
from kernel.errors import NotFound
from resolvers.context import Context
from resolvers.ids import parse_optional_id

OWNING_ROLES = (Role.REP, Role.SERVICE, Role.MANAGER)


@dataclass(frozen=True)
class OwnerLoad:
    owner: User
    customers: int
    overdue: int


@dataclass(frozen=True)
class Stats:
    owners: list[OwnerLoad]
    pool_size: int
    overdue_follow_ups: int
    gini_of_load: float
    changes_last30_days: int
    # Reason code -> releases and recycles in the last 30 days (in the teams asked about).
    releases_by_reason: dict[str, int]


def gini(values: list[int]) -> float:
    """0 when every owner carries the same load, towards 1 when one carries it all."""
    n, total = len(values), sum(values)
    if n == 0 or total == 0:
        return 0.0
    ordered = sorted(values)
    weighted = sum((i + 1) * v for i, v in enumerate(ordered))
    return round((2 * weighted) / (n * total) - (n + 1) / n, 4)


async def ownership_stats(ctx: Context, team_id: object | None = None) -> Stats:
    plan = ctx.plan
    plan.require("stats", "read")
    allowed = plan.team_ids_for("stats", "read")  # None: every team
    wanted = parse_optional_id(team_id, "team")
    if wanted is not None and allowed is not None and wanted not in allowed:
        raise NotFound("team", team_id)
    teams = {wanted} if wanted is not None else allowed
    now = ctx.now()
    session = await ctx.session()

    users = select(User).where(col(User.active).is_(True), col(User.role).in_(OWNING_ROLES))
    if teams is not None:
        users = users.where(col(User.team_id).in_(sorted(teams)))
    owners = list((await session.execute(users.order_by(col(User.id)))).scalars())
    counts = {
        owner_id: (int(n), int(late or 0))
        for owner_id, n, late in await session.execute(
            select(
                col(Customer.owner_id),
                func.count(),
                func.count().filter(col(Customer.next_follow_up_due) < now),
            )
            .where(col(Customer.owner_id).in_([u.id for u in owners]))
            .group_by(col(Customer.owner_id))
        )
    }
    loads = [OwnerLoad(u, *counts.get(u.id, (0, 0))) for u in owners]

    pool = await session.scalar(
        select(func.count()).where(
            col(Customer.owner_id).is_(None), col(Customer.merged_into_id).is_(None)
        )
    )
    changes = select(func.count()).where(col(OwnershipEvent.at) >= now - timedelta(days=30))
    if teams is not None:
        changes = changes.where(col(OwnershipEvent.team_id).in_(sorted(teams)))
    released = (
        select(col(OwnershipEvent.reason_code), func.count())
        .where(
            col(OwnershipEvent.at) >= now - timedelta(days=30),
            col(OwnershipEvent.kind).in_((EventKind.RELEASED, EventKind.RECYCLED)),
        )
        .group_by(col(OwnershipEvent.reason_code))
    )
    if teams is not None:
        # Counted against the owner who lost the customer: pool events name no team.
        released = released.where(col(OwnershipEvent.from_user_id).in_([u.id for u in owners]))
    by_reason = {str(code or "other"): 0 for code in ctx.settings.release_reason_codes}
    for code, n in await session.execute(released):
        key = str(code or "other")
        by_reason[key] = by_reason.get(key, 0) + int(n)
    return Stats(
        releases_by_reason=by_reason,
        owners=loads,
        pool_size=int(pool or 0),
        overdue_follow_ups=sum(load.overdue for load in loads),
        gini_of_load=gini([load.customers for load in loads]),
        changes_last30_days=int(await session.scalar(changes) or 0),
    )
