"""The public pool (公海) and direct assignment: assign, release, claim.

Each change of owner writes one event, resets the recycle clock and bumps the version in
the transaction that makes it. Races: SQLite serialises writers (BEGIN IMMEDIATE); on
PostgreSQL the conditional UPDATEs below decide who wins, and the new owner's row lock
keeps capacity counts honest. Locks are taken user row first, then customer row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from authz.relations import BIT
from db.customers import ScopedRow, customers_by_ids
from db.enums import EventKind
from db.events import record_event
from db.models import Collaborator, Customer, OwnershipEvent
from db.ownership import after_owner_change, owner_columns
from db.pools import PoolInfo
from kernel.errors import (
    Conflict,
    CooldownActive,
    CustomerLocked,
    Forbidden,
    NotFound,
    PoolEmbargo,
    Validation,
)
from kernel.messages import N_
from resolvers import validation
from resolvers.access import customer_for, get_customer, minimal_view
from resolvers.assignment import OWNER_ROLES, Candidate, candidate, require_room
from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.limits import require_daily_room
from resolvers.pools import administers, embargo_until, pool_visible

CLAIM_RULE = "pool_claim"
ASSIGN_RULE = "manual"
RELEASE_RULE = "release"
DEFAULT_REASON_CODE = "other"
TAKEN = N_("This customer was already claimed by someone else.")
PENDING_TRANSFER = N_("A transfer of this customer is waiting for approval; decide it first.")
# A claim that lost a race this recently hears CONFLICT rather than NOT_FOUND: the
# customer was in the pool, which the claimant could see, moments ago.
RACE_WINDOW = timedelta(minutes=5)


async def _take_owner(
    session: AsyncSession,
    customer: Customer,
    owner: Candidate | None,
    now: datetime,
    *,
    expect_owner: int | None,
    pool_id: int | None = None,
    protected_until: datetime | None = None,
) -> dict[str, Any]:
    """Move `customer` to `owner` (None: the pool) if it is still with `expect_owner`.
    Returns the event details: a collaborator who becomes owner gives up that role and
    their credit share joins the owner's, so shares keep summing to 100."""
    values = owner_columns(
        owner.user.id if owner else None,
        owner.user.team_id if owner else None,
        now,
        previous=expect_owner,
        pool_id=pool_id,
    )
    values["version"] = col(Customer.version) + 1
    if owner is not None and protected_until is not None:
        values["protected_until"] = protected_until
    moved = await session.execute(
        update(Customer)
        .where(
            col(Customer.id) == customer.id,
            col(Customer.owner_id).is_(None)
            if expect_owner is None
            else col(Customer.owner_id) == expect_owner,
            col(Customer.pending_transfer_id).is_(None),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        if expect_owner is None:
            raise Conflict(TAKEN)
        raise Conflict(N_("The customer changed hands meanwhile. Reload and try again."))
    assert customer.id is not None
    await after_owner_change(session, [customer.id], now)
    details: dict[str, Any] = {}
    if owner is not None and owner.user.id is not None:
        joined = await _absorb_collaborator(session, customer, owner.user.id)
        if joined is not None:
            details = {
                "collaborator_removed": joined,
                "owner_credit_share": customer.owner_credit_share + joined["credit_share"],
            }
    return details


async def _absorb_collaborator(
    session: AsyncSession, customer: Customer, user_id: int
) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(col(Collaborator.role), col(Collaborator.credit_share)).where(
                col(Collaborator.customer_id) == customer.id, col(Collaborator.user_id) == user_id
            )
        )
    ).first()
    if row is None:
        return None
    role, share = row
    await session.execute(
        delete(Collaborator).where(
            col(Collaborator.customer_id) == customer.id, col(Collaborator.user_id) == user_id
        )
    )
    await session.execute(
        update(Customer)
        .where(col(Customer.id) == customer.id)
        .values(owner_credit_share=col(Customer.owner_credit_share) + share)
        .execution_options(synchronize_session=False)
    )
    return {"user_id": user_id, "role": role, "credit_share": share}


async def assign_customer(
    ctx: Context, customer_id: object, to_user_id: object, reason: str
) -> ScopedRow:
    """A manager within their team (customers of the team or the pool, to members of the
    team), a director within the subtree, an admin anywhere. Needs no approval."""
    reason = validation.reason(reason)
    plan = ctx.plan
    target_id = parse_id(to_user_id, "user")
    now = ctx.now()
    async with ctx.transaction() as session:
        target = await candidate(session, target_id, lock=True)
        scoped, pool = await _assignable(ctx, session, customer_id)
        customer = scoped.customer
        assert customer.id is not None
        teams = plan.team_ids_for("customer", "assign")
        if target is None:
            raise NotFound("user", to_user_id)
        if pool is not None:
            # A pool admin hands its customers to the pool's members.
            pools = await ctx.pools(session)
            path = pools.paths.get(target.user.team_id or 0, "")
            above = frozenset(int(p) for p in path.strip("/").split("/") if p.isdigit())
            if not pools.member_of(pool, target.user.id, above):
                raise Forbidden(
                    N_("{name} is not a member of {pool}.", name=target.user.name, pool=pool.name)
                )
        elif teams is not None and target.user.team_id not in teams:
            raise Forbidden(N_("You may assign customers only to people in your teams."))
        if customer.pending_transfer_id is not None:
            raise Conflict(PENDING_TRANSFER)
        if not target.user.active:
            raise Validation(N_("{name} is deactivated.", name=target.user.name), field="toUserId")
        if target.user.role not in OWNER_ROLES:
            raise Validation(
                N_("{name} cannot own customers.", name=target.user.name), field="toUserId"
            )
        if customer.owner_id == target_id:
            raise Validation(
                N_("{name} already owns this customer.", name=target.user.name), field="toUserId"
            )
        require_room(target)
        previous = customer.owner_id
        details = await _take_owner(session, customer, target, now, expect_owner=previous)
        await record_event(
            session,
            customer_id=customer.id,
            kind=EventKind.ASSIGNED,
            at=now,
            from_user_id=previous,
            to_user_id=target_id,
            actor_id=plan.principal.user_id,
            team_id=target.user.team_id,
            rule=ASSIGN_RULE,
            reason=reason,
            details=details,
            pool_id=customer.pool_id if previous is None else None,
        )
    if pool is not None:
        try:
            return await get_customer(ctx, customer.id)
        except NotFound:  # a pool admin who handed it out no longer sees it: id and name
            return minimal_view(customer)
    return await get_customer(ctx, customer.id)


async def _assignable(
    ctx: Context, session: AsyncSession, customer_id: object
) -> tuple[ScopedRow, PoolInfo | None]:
    """The customer, if the caller may assign it: by the policy, or as an admin of the pool
    it sits in (then that pool, whose members it may go to)."""
    try:
        return await customer_for(ctx, session, customer_id, "assign"), None
    except Forbidden:
        scoped = await customer_for(ctx, session, customer_id, "read")
        customer = scoped.customer
        pools = await ctx.pools(session)
        pool = pools.by_id.get(customer.pool_id) if customer.pool_id is not None else None
        if customer.owner_id is not None or pool is None or not administers(ctx, pool):
            raise
        return scoped, pool


async def release_to_pool(
    ctx: Context,
    customer_id: object,
    reason: str,
    reason_code: str | None = None,
    pool_id: object | None = None,
) -> ScopedRow:
    """The owner gives a customer up (or a manager, director or admin does it for them),
    into the pool of the owner's team or into `pool_id`, one the releaser belongs to."""
    reason = validation.reason(reason)
    code = release_reason(ctx, reason_code)
    now = ctx.now()
    async with ctx.transaction() as session:
        scoped = await customer_for(ctx, session, customer_id, "release")
        customer = scoped.customer
        assert customer.id is not None
        previous = customer.owner_id
        if previous is None:
            raise Conflict(N_("This customer is already in the public pool."))
        if customer.pending_transfer_id is not None:
            raise Conflict(PENDING_TRANSFER)
        if is_locked(customer, now):
            raise CustomerLocked(N_("The owner locked this customer; unlock it first."))
        pools = await ctx.pools(session)
        target = (
            pool_visible(ctx, pools, pool_id)
            if pool_id is not None
            else pools.of_team(customer.team_id)
        )
        await _take_owner(session, customer, None, now, expect_owner=previous, pool_id=target.id)
        await record_event(
            session,
            customer_id=customer.id,
            kind=EventKind.RELEASED,
            at=now,
            from_user_id=previous,
            actor_id=ctx.plan.principal.user_id,
            rule=RELEASE_RULE,
            reason=reason,
            details={"from_team_id": customer.team_id},
            pool_id=target.id,
            reason_code=code,
        )
    return await get_customer(ctx, customer.id)


def release_reason(ctx: Context, code: str | None) -> str:
    """A configured reason code; absent, `other` (unless the setting requires one)."""
    codes = ctx.settings.release_reason_codes
    if code is None:
        if ctx.settings.require_release_reason_code:
            raise Validation(
                N_("Say why with reasonCode, one of {known}.", known=", ".join(sorted(codes))),
                field="reasonCode",
                codes=sorted(codes),
            )
        return DEFAULT_REASON_CODE
    if code not in codes:
        raise Validation(
            N_(
                "Unknown reasonCode {code!r}; use one of {known}.",
                code=code,
                known=", ".join(sorted(codes)),
            ),
            field="reasonCode",
            codes=sorted(codes),
        )
    return code


def is_locked(customer: Customer, now: datetime) -> bool:
    until = customer.locked_until
    return customer.locked_at is not None and (until is None or until > now)


async def claim_customer(ctx: Context, customer_id: object) -> ScopedRow:
    """A rep takes a customer from a pool they belong to, within their capacity and the
    pool's daily limit, not during their own cooldown nor (unless a pool admin) the
    embargo on new arrivals. Of concurrent claims exactly one wins; the others get
    CONFLICT. The claimant's row is locked first, so their own claims count one by one."""
    plan = ctx.plan
    me = plan.principal.user_id
    if me is None or not plan.may("customer", "claim"):
        raise Forbidden(N_("You may not claim customers from the pool."))
    ident = parse_id(customer_id)
    now = ctx.now()
    settings = ctx.settings
    async with ctx.transaction() as session:
        claimant = await candidate(
            session, me, lock=True, closed_deals=settings.capacity_counts_closed_deals
        )
        if claimant is None:
            raise Forbidden(N_("You may not claim customers from the pool."))
        found = await customers_by_ids(
            session, [ident], scope=plan.customer_scope(), mask=plan.relation_mask()
        )
        scoped = found.get(ident)
        if scoped is None or scoped.customer.owner_id is not None:
            raise await _unclaimable(ctx, session, ident, scoped, now)
        if not plan.allows("customer", "claim", scoped.relations):
            raise Forbidden(N_("You may not claim this customer."))
        customer = scoped.customer
        if customer.pending_transfer_id is not None:
            raise Conflict(PENDING_TRANSFER)
        pools = await ctx.pools(session)
        pool = (
            pools.by_id.get(customer.pool_id or pools.default_id) or pools.by_id[pools.default_id]
        )
        _check_cooldown(customer, me, now, pool.rules.reclaim_cooldown_days)
        until = embargo_until(pool, customer.pool_entered_at)
        if until is not None and now < until and not administers(ctx, pool):
            raise PoolEmbargo(
                N_(
                    "{name} is new to {pool}; it may be claimed from {until}.",
                    name=customer.name,
                    pool=pool.name,
                    until=until.isoformat(),
                ),
                until=until.isoformat(),
            )
        require_room(claimant, you=True)
        await require_daily_room(ctx, session, me, pool, now)
        days = pool.rules.protection_days
        details = await _take_owner(
            session,
            customer,
            claimant,
            now,
            expect_owner=None,
            protected_until=now + timedelta(days=days) if days else None,
        )
        await record_event(
            session,
            customer_id=ident,
            kind=EventKind.CLAIMED,
            at=now,
            to_user_id=me,
            actor_id=me,
            team_id=claimant.user.team_id,
            rule=CLAIM_RULE,
            details=details,
            pool_id=pool.id,
        )
    return await get_customer(ctx, ident)


def _check_cooldown(customer: Customer, me: int, now: datetime, days: int) -> None:
    if customer.previous_owner_id != me or customer.pooled_at is None:
        return
    until = customer.pooled_at + timedelta(days=days)
    if now < until:
        day = until.date().isoformat()
        raise CooldownActive(
            N_(
                "You owned this customer until {value}; you may claim it again from {day}.",
                value=customer.pooled_at.date().isoformat(),
                day=day,
            ),
            until=day,
        )


async def _unclaimable(
    ctx: Context, session: AsyncSession, ident: int, scoped: ScopedRow | None, now: datetime
) -> Exception:
    """Why a customer cannot be claimed, without telling who has it."""
    me = ctx.plan.principal.user_id
    if scoped is not None:
        if scoped.customer.owner_id == me:
            return Conflict(N_("You already own this customer."))
        if await _left_pool_since(session, ident, now - RACE_WINDOW):
            return Conflict(TAKEN)
        return Conflict(N_("This customer is not in the public pool."))
    # Invisible: it may have left the pool a moment ago (we lost the race), or it may
    # never have been ours to see, which must look exactly like a customer that does not
    # exist.
    if ctx.plan.allows("customer", "claim", BIT["pool"]) and await _left_pool_since(
        session, ident, now - RACE_WINDOW
    ):
        return Conflict(TAKEN)
    return NotFound("customer", ident)


async def _left_pool_since(session: AsyncSession, customer_id: int, since: datetime) -> bool:
    last = (
        await session.execute(
            select(
                col(OwnershipEvent.kind), col(OwnershipEvent.from_user_id), col(OwnershipEvent.at)
            )
            .where(col(OwnershipEvent.customer_id) == customer_id)
            .order_by(col(OwnershipEvent.id).desc())
            .limit(1)
        )
    ).first()
    if last is None:
        return False
    kind, from_user_id, at = last
    return kind in (EventKind.CLAIMED, EventKind.ASSIGNED) and from_user_id is None and at >= since
