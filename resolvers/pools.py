"""Pools (公海) as the API sees them: listing, creating and changing them (ADMIN), moving a
customer between pools (their admins), and the rules that decide a release's target pool.

A pool the caller does not belong to is answered as missing, exactly like a customer
(authz/relations.py gives the row scope the same membership in SQL).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from authz.relations import BIT
from db.enums import EventKind, Role, Tier
from db.events import record_event
from db.models import Customer, Pool, PoolAdmin, PoolTeam, Team, User
from db.pools import HIDEABLE, PoolInfo, Pools, is_postgres, recycle_due, to_ms
from kernel.errors import Conflict, Forbidden, NotFound, Validation
from kernel.messages import N_
from resolvers.access import customer_for
from resolvers.context import Context
from resolvers.ids import parse_id

MOVE_RULE = "pool_move"
NAME_LENGTH = 120
# Rules a client may clear with an explicit null (off); any other rule cleared goes back
# to its setting.
NULLABLE = frozenset({"recycle_after_no_deal_days", "daily_claim_limit"})
RULES = (
    "recycle_after_no_follow_up_days",
    "recycle_after_no_deal_days",
    "exempt_closed_deals",
    "warn_days_before",
    "daily_claim_limit",
    "reclaim_cooldown_days",
    "new_arrival_embargo_hours",
    "hidden_fields",
    "protection_days",
)


def sees_every_pool(ctx: Context) -> bool:
    return bool(ctx.plan.table.get(("customer", "read"), 0) & BIT["any"])


def visible_pools(ctx: Context, pools: Pools) -> list[PoolInfo]:
    """The pools the caller belongs to (all of them for a role that reads every customer);
    none for a role without the pool relation (partners)."""
    if sees_every_pool(ctx):
        return list(pools.by_id.values())
    if not ctx.plan.table.get(("customer", "read"), 0) & BIT["pool"]:
        return []
    facts = ctx.plan.facts
    return [
        p for p in pools.by_id.values() if pools.member_of(p, facts.user_id, facts.pool_team_ids)
    ]


def pool_visible(ctx: Context, pools: Pools, pool_id: object) -> PoolInfo:
    ident = parse_id(pool_id, "pool")
    found = pools.by_id.get(ident)
    if found is None or found not in visible_pools(ctx, pools):
        raise NotFound("pool", pool_id)
    return found


def administers(ctx: Context, pool: PoolInfo) -> bool:
    principal = ctx.plan.principal
    return principal.role == Role.ADMIN or principal.user_id in pool.admin_ids


async def list_pools(ctx: Context) -> list[PoolInfo]:
    return visible_pools(ctx, await ctx.pools())


async def get_pool(ctx: Context, pool_id: object) -> PoolInfo:
    return pool_visible(ctx, await ctx.pools(), pool_id)


def check_rules(rules: Mapping[str, Any]) -> dict[str, Any]:
    """The rules a client gave (snake-case keys, only those given), checked and in their
    stored form; an explicit None stays None (db/pools.Rules: off, or back to default)."""
    out: dict[str, Any] = {}
    for key, value in rules.items():
        if key not in RULES:
            raise Validation(N_("Unknown pool rule {key}.", key=key), field=key)
        if value is None:
            out[key] = None
            continue
        if key == "recycle_after_no_follow_up_days":
            days: dict[str, int] = {}
            for tier, n in value:
                if n <= 0:
                    raise Validation(N_("Days per tier must be positive."), field="days")
                days[str(Tier(tier))] = int(n)
            out[key] = days
        elif key == "hidden_fields":
            unknown = sorted(set(value) - set(HIDEABLE))
            if unknown:
                raise Validation(
                    N_(
                        "Unknown hidden fields {unknown}; hideable: {hideable}.",
                        unknown=unknown,
                        hideable=sorted(HIDEABLE),
                    ),
                    field="hiddenFields",
                )
            out[key] = sorted(set(value))
        elif key == "exempt_closed_deals":
            out[key] = bool(value)
        else:
            least = 1 if key == "recycle_after_no_deal_days" else 0
            if int(value) < least:
                raise Validation(
                    N_("{key} must be at least {least}.", key=key, least=least), field=key
                )
            out[key] = int(value)
    return out


def merge_rules(stored: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """A rule left out keeps its value; an explicit null clears a nullable rule (off) and
    returns any other to its setting."""
    merged = dict(stored)
    for key, value in check_rules(given).items():
        if value is None and key not in NULLABLE:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


async def _ids_of(session: Any, model: Any, ids: Sequence[object], what: str) -> list[int]:
    parsed = sorted({parse_id(i, what) for i in ids})
    if parsed:
        found = set((await session.execute(select(model.id).where(model.id.in_(parsed)))).scalars())
        missing = [i for i in parsed if i not in found]
        if missing:
            raise NotFound(what, missing[0])
    return parsed


async def _save(
    ctx: Context,
    build: Callable[[Any], Awaitable[Pool]],
    team_ids: Sequence[object] | None,
    admin_ids: Sequence[object] | None,
) -> int:
    """`build` makes the row from what the transaction reads (the pool as stored now)."""
    async with ctx.transaction() as session:
        pool = await build(session)
        if pool.id is None:
            session.add(pool)
        else:
            await session.merge(pool)
        try:
            await session.flush()
        except IntegrityError:
            raise Conflict(N_("A pool named {name!r} exists already.", name=pool.name)) from None
        if team_ids is not None:
            teams = await _ids_of(session, Team, team_ids, "team")
            await session.execute(delete(PoolTeam).where(col(PoolTeam.pool_id) == pool.id))
            if teams:
                await session.execute(
                    insert(PoolTeam), [{"pool_id": pool.id, "team_id": t} for t in teams]
                )
        if admin_ids is not None:
            users = await _ids_of(session, User, admin_ids, "user")
            await session.execute(delete(PoolAdmin).where(col(PoolAdmin.pool_id) == pool.id))
            if users:
                await session.execute(
                    insert(PoolAdmin), [{"pool_id": pool.id, "user_id": u} for u in users]
                )
    assert pool.id is not None
    return pool.id


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_LENGTH:
        raise Validation(
            N_("A pool's name takes 1 to {length} characters.", length=NAME_LENGTH), field="name"
        )
    return name


async def create_pool(
    ctx: Context,
    *,
    name: str,
    team_ids: Sequence[object] | None,
    admin_ids: Sequence[object] | None,
    rules: Mapping[str, Any],
) -> PoolInfo:
    ctx.plan.require("pool", "manage")
    pool = Pool(
        name=_name(name), is_default=False, rules=merge_rules({}, rules), created_at=ctx.now()
    )

    async def build(session: Any) -> Pool:
        return pool

    saved = await _save(ctx, build, team_ids or [], admin_ids or [])
    return (await ctx.pools()).by_id[saved]


async def update_pool(
    ctx: Context,
    pool_id: object,
    *,
    name: str,
    team_ids: Sequence[object] | None,
    admin_ids: Sequence[object] | None,
    rules: Mapping[str, Any],
) -> PoolInfo:
    """Sets the name, and the teams and admins when given; merges the rules."""
    ctx.plan.require("pool", "manage")
    ident = parse_id(pool_id, "pool")
    name = _name(name)

    async def build(session: Any) -> Pool:
        # Read in the transaction: two admins' updates merge their rules, neither is lost.
        current = await session.scalar(select(Pool).where(col(Pool.id) == ident).with_for_update())
        if current is None:
            raise NotFound("pool", pool_id)
        return Pool(
            id=ident,
            name=name,
            is_default=current.is_default,
            rules=merge_rules(dict(current.rules or {}), rules),
            created_at=current.created_at,
        )

    saved = await _save(ctx, build, team_ids, admin_ids)
    return (await ctx.pools()).by_id[saved]


async def move_pool_customer(ctx: Context, customer_id: object, to_pool_id: object) -> int:
    """From one pool to another, by an admin of both (or ADMIN): one POOL_MOVED event; the
    customer is new to its pool again (the embargo restarts)."""
    now = ctx.now()
    async with ctx.transaction() as session:
        pools = await ctx.pools(session)
        target = pool_visible(ctx, pools, to_pool_id)
        scoped = await customer_for(ctx, session, customer_id, "read")
        customer = scoped.customer
        assert customer.id is not None
        source = pools.by_id.get(customer.pool_id) if customer.pool_id is not None else None
        if customer.owner_id is not None or source is None:
            raise Conflict(N_("Only a customer in a pool can be moved between pools."))
        if not (administers(ctx, source) and administers(ctx, target)):
            raise Forbidden(N_("Only an admin of both pools may move customers between them."))
        if source.id == target.id:
            raise Validation(
                N_("The customer is in {pool} already.", pool=target.name), field="toPoolId"
            )
        moved = await session.execute(
            update(Customer)
            .where(col(Customer.id) == customer.id, col(Customer.pool_id) == source.id)
            .values(
                pool_id=target.id,
                pool_entered_at=now,
                updated_at=now,
                version=col(Customer.version) + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(N_("The customer left the pool meanwhile. Reload and try again."))
        await record_event(
            session,
            customer_id=customer.id,
            kind=EventKind.POOL_MOVED,
            at=now,
            actor_id=ctx.plan.principal.user_id,
            pool_id=target.id,
            rule=MOVE_RULE,
            reason=f"{source.name} → {target.name}",
            details={"from_pool_id": source.id},
        )
    return customer.id


def embargo_until(pool: PoolInfo, entered: datetime | None) -> datetime | None:
    hours = pool.rules.new_arrival_embargo_hours
    if not hours or entered is None:
        return None
    return entered + timedelta(hours=hours)


async def due_before(ctx: Context, when: datetime) -> ColumnElement[bool]:
    """recycleDueBefore: the same rule as `recycleDueAt` and the recycle job."""
    due = recycle_due(await ctx.pools(), is_postgres(await ctx.session())).at
    return due < to_ms(when)
