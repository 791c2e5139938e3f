"""Collaborators and credit shares: the owner's share plus every collaborator's is 100."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.customers import ScopedRow
from db.enums import CollaboratorAccess, EventKind
from db.events import record_event
from db.models import Collaborator, Customer, User
from kernel.errors import NotFound, Validation, VersionConflict
from kernel.messages import N_
from resolvers import validation
from resolvers.access import customer_for, get_customer
from resolvers.context import Context
from resolvers.ids import parse_id


async def _set_share(
    ctx: Context, session: AsyncSession, customer: Customer, owner_share: int
) -> None:
    """The new owner share and version, guarded by the version read under the row lock."""
    result = await session.execute(
        update(Customer)
        .where(col(Customer.id) == customer.id, col(Customer.version) == customer.version)
        .values(owner_credit_share=owner_share, version=customer.version + 1, updated_at=ctx.now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise VersionConflict(N_("The customer changed meanwhile. Reload and try again."))


async def add_collaborator(
    ctx: Context,
    customer_id: object,
    user_id: object,
    role: str,
    credit_share: int,
    access: str = CollaboratorAccess.WRITE,
    expires_at: datetime | None = None,
) -> ScopedRow:
    """Add a collaborator (or change an existing one's role, share, access and expiry).
    Their share comes out of the owner's, who keeps at least `min_owner_share`; READ access
    sees the customer, WRITE also follows up and edits (policy.csv); at `expires_at` the
    scheduler removes them (db/jobs.remove_expired_collaborators)."""
    if not 0 <= credit_share <= 100:
        raise Validation(N_("A credit share is a percentage from 0 to 100."), field="creditShare")
    if expires_at is not None and expires_at.tzinfo is None:
        raise Validation(N_("expiresAt needs a time zone, e.g. 2026-07-01T00:00:00Z."))
    if expires_at is not None and expires_at <= ctx.now():
        raise Validation(N_("expiresAt must be in the future."), field="expiresAt")
    async with ctx.transaction() as session:
        customer = (await customer_for(ctx, session, customer_id, "collaborate")).customer
        assert customer.id is not None
        user = await session.get(User, parse_id(user_id, "user"))
        if user is None:
            raise NotFound("user", user_id)
        assert user.id is not None
        if not user.active:
            raise Validation(N_("{name} has been deactivated.", name=user.name), field="userId")
        if customer.owner_id is None:
            raise Validation(N_("A customer in the pool has no owner to share credit with."))
        if user.id == customer.owner_id:
            raise Validation(N_("The owner cannot also be a collaborator."), field="userId")
        existing = await session.get(Collaborator, (customer.id, user.id))
        if existing is None:
            count = await session.scalar(
                select(func.count())
                .select_from(Collaborator)
                .where(col(Collaborator.customer_id) == customer.id)
            )
            validation.room_for(count or 0, ctx.settings.max_collaborators, "collaborators")
        previous = existing.credit_share if existing else 0
        owner_share = customer.owner_credit_share + previous - credit_share
        # The owner keeps some credit: no change may take them below the floor (one that
        # does not lower their share, such as a change of access, always may).
        floor = min(ctx.settings.min_owner_share, customer.owner_credit_share)
        if owner_share < floor:
            raise Validation(
                N_(
                    "The owner holds a credit share of {value}%, keeps at least "
                    "{min_owner_share}%, and so cannot give {credit_share}%.",
                    value=customer.owner_credit_share + previous,
                    min_owner_share=ctx.settings.min_owner_share,
                    credit_share=credit_share,
                ),
                field="creditShare",
                ownerCreditShare=customer.owner_credit_share,
                minOwnerShare=ctx.settings.min_owner_share,
            )
        await _set_share(ctx, session, customer, owner_share)
        if existing:
            existing.role, existing.credit_share = str(role), credit_share
            existing.access, existing.expires_at = str(access), expires_at
        else:
            session.add(
                Collaborator(
                    customer_id=customer.id,
                    user_id=user.id,
                    role=str(role),
                    credit_share=credit_share,
                    access=str(access),
                    expires_at=expires_at,
                )
            )
        await record_event(
            session,
            customer_id=customer.id,
            kind=EventKind.COLLABORATOR_ADDED,
            at=ctx.now(),
            actor_id=ctx.plan.principal.user_id,
            team_id=customer.team_id,
            reason=f"{user.name} joined as {role} ({access}) with {credit_share}% of the "
            f"credit; the owner keeps {owner_share}%.",
            details={
                "user_id": user.id,
                "role": str(role),
                "access": str(access),
                "credit_share": credit_share,
                "owner_credit_share": owner_share,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
    return await get_customer(ctx, customer.id)


async def remove_collaborator(ctx: Context, customer_id: object, user_id: object) -> ScopedRow:
    """Remove a collaborator; their share goes back to the owner."""
    ident = parse_id(user_id, "user")
    async with ctx.transaction() as session:
        customer = (await customer_for(ctx, session, customer_id, "collaborate")).customer
        assert customer.id is not None
        row = (
            await session.execute(
                select(Collaborator).where(
                    col(Collaborator.customer_id) == customer.id, col(Collaborator.user_id) == ident
                )
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound("collaborator", user_id)
        owner_share = customer.owner_credit_share + row.credit_share
        name = await session.scalar(select(col(User.name)).where(col(User.id) == ident))
        await _set_share(ctx, session, customer, owner_share)
        await session.execute(
            delete(Collaborator).where(
                col(Collaborator.customer_id) == customer.id, col(Collaborator.user_id) == ident
            )
        )
        await record_event(
            session,
            customer_id=customer.id,
            kind=EventKind.COLLABORATOR_REMOVED,
            at=ctx.now(),
            actor_id=ctx.plan.principal.user_id,
            team_id=customer.team_id,
            reason=f"{name} ({row.role}, {row.credit_share}%) removed; "
            f"the owner has {owner_share}% of the credit.",
            details={
                "user_id": ident,
                "role": row.role,
                "access": row.access,
                "credit_share": row.credit_share,
                "owner_credit_share": owner_share,
            },
        )
    return await get_customer(ctx, customer.id)
