"""Locks: an owner keeps a customer out of recycling (and release) while it is locked,
within their `lockQuota`; the owner, their manager or ADMIN unlocks it. A lock ends by
itself at `lockedUntil` and with the ownership it was taken under (db/ownership.py).

Races: the owner's row is locked first (as claims do), so concurrent locks by one user are
counted one after the other; SQLite serialises writers anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlmodel import col

from db.enums import EventKind
from db.events import record_event
from db.models import Customer
from kernel.errors import Conflict, Forbidden, LockLimitReached, Validation
from kernel.messages import N_
from resolvers import validation
from resolvers.access import customer_for, get_customer
from resolvers.assignment import candidate
from resolvers.context import Context
from resolvers.pool import is_locked

LOCK_RULE = "lock"


def locked_now(now: datetime) -> ColumnElement[bool]:
    until = col(Customer.locked_until)
    return and_(col(Customer.locked_at).is_not(None), or_(until.is_(None), until > now))


async def locked_count(session: Any, user_id: int, now: datetime) -> int:
    found = await session.scalar(
        select(func.count())
        .select_from(Customer)
        .where(col(Customer.owner_id) == user_id, locked_now(now))
    )
    return int(found or 0)


async def lock_customer(
    ctx: Context, customer_id: object, reason: str, until: datetime | None = None
) -> int:
    plan = ctx.plan
    me = plan.principal.user_id
    reason = validation.reason(reason)
    now = ctx.now()
    if until is not None and until <= now:
        raise Validation(N_("A lock must end in the future (or not at all)."), field="until")
    if me is None:
        raise Forbidden(N_("You may not lock customers."))
    async with ctx.transaction() as session:
        owner = await candidate(session, me, lock=True)
        scoped = await customer_for(ctx, session, customer_id, "lock")
        customer = scoped.customer
        assert customer.id is not None and owner is not None
        if customer.owner_id != me:
            raise Forbidden(N_("Only the owner may lock a customer."))
        if is_locked(customer, now):
            raise Conflict(N_("This customer is locked already."))
        quota = owner.user.lock_quota
        held = await locked_count(session, me, now)
        if quota is None or held >= quota:
            raise LockLimitReached(
                N_("You may not lock customers.")
                if quota is None
                else N_(
                    "You hold {held} customers locked; your lock quota is {quota}.",
                    held=held,
                    quota=quota,
                ),
                limit=quota,
                locked=held,
            )
        await _set_lock(
            session,
            customer,
            now,
            me,
            EventKind.LOCKED,
            locked_at=now,
            locked_until=until,
            lock_reason=reason,
            reason=reason,
            details={"until": until.isoformat() if until else None},
        )
    await get_customer(ctx, customer.id)
    return customer.id


async def unlock_customer(ctx: Context, customer_id: object) -> int:
    now = ctx.now()
    async with ctx.transaction() as session:
        scoped = await customer_for(ctx, session, customer_id, "unlock")
        customer = scoped.customer
        assert customer.id is not None
        principal = ctx.plan.principal
        if not is_locked(customer, now):
            raise Conflict(N_("This customer is not locked."))
        mine = customer.owner_id == principal.user_id
        if not mine and not ctx.plan.allows("customer", "unlock_others", scoped.relations):
            raise Forbidden(N_("Only the owner, their manager or an admin may unlock it."))
        await _set_lock(
            session,
            customer,
            now,
            principal.user_id,
            EventKind.UNLOCKED,
            locked_at=None,
            locked_until=None,
            lock_reason=None,
        )
    return customer.id


async def _set_lock(
    session: Any,
    customer: Customer,
    now: datetime,
    actor_id: int | None,
    kind: EventKind,
    *,
    locked_at: datetime | None,
    locked_until: datetime | None,
    lock_reason: str | None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write the lock columns and the LOCKED / UNLOCKED event, in one transaction."""
    assert customer.id is not None
    await session.execute(
        update(Customer)
        .where(col(Customer.id) == customer.id)
        .values(
            locked_at=locked_at,
            locked_until=locked_until,
            lock_reason=lock_reason,
            updated_at=now,
            version=col(Customer.version) + 1,
        )
        .execution_options(synchronize_session=False)
    )
    await record_event(
        session,
        customer_id=customer.id,
        kind=kind,
        at=now,
        actor_id=actor_id,
        team_id=customer.team_id,
        rule=LOCK_RULE,
        reason=reason,
        details=details,
    )
