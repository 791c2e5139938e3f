"""Portfolios: moving many customers at once, set-based, and a user's departure.

A move works on the customers marked with one transfer request (`pending_transfer_id`),
so however many customers move, it is the same handful of statements: one INSERT ...
SELECT writes every event, one UPDATE moves every customer. A departure (handOverPortfolio,
deactivateUser) is recorded as an approved DEPARTURE transfer, which is also the marker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    outerjoin,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import (
    CollaboratorAccess,
    EventKind,
    ReminderStatus,
    Role,
    TransferKind,
    TransferStatus,
)
from db.events import OWNERSHIP_CHANNEL, lock_event_order
from db.models import (
    ApiToken,
    Approval,
    Collaborator,
    Customer,
    OwnershipEvent,
    Reminder,
    TransferItem,
    TransferRequest,
    User,
)
from db.outbox import queue_message
from db.ownership import OPEN_REMINDERS, after_owner_change, cancel_transfers, owner_columns
from db.pools import pool_of_team
from db.setsql import const as _const
from db.setsql import json_object as _json_object
from db.types import UTCDateTime
from kernel.errors import Forbidden, NotFound, Validation
from kernel.messages import N_
from resolvers import keeping, validation
from resolvers.access import audit
from resolvers.context import Context
from resolvers.ids import parse_id, parse_optional_id
from subscriptions.bus import REVOCATIONS

# Roles that never own customers: they read, audit or judge.
NON_OWNERS = {Role.AUDITOR, Role.ARBITER, Role.PARTNER}


@dataclass(frozen=True)
class HandOver:
    moved: int
    to_user: User | None


# Set-based building blocks, shared with resolvers/transfers.py.


async def move_marked(
    session: AsyncSession,
    *,
    transfer_id: int,
    to_user: User | None,
    actor_id: int | None,
    rule: str,
    reason: str,
    now: datetime,
) -> int:
    """Move every customer marked with `transfer_id` to `to_user` (None: the pool), write
    one event per customer, clear the mark. Returns how many moved. Expects the transfer's
    items to be written. A receiving user who collaborated on a customer stops being a
    collaborator and their share folds into the owner's, so shares still sum to 100; the
    event's details say so, for replay. Then what the old owners leave behind is settled
    (db/ownership.py), other pending transfers of the customers included."""
    await lock_event_order(session)
    marked = col(Customer.pending_transfer_id) == transfer_id
    to_id = to_user.id if to_user else None
    team_id = to_user.team_id if to_user else None
    folded: ColumnElement[Any] = literal(0, Integer)
    joined: Any = Customer
    if to_user is not None:
        joined = outerjoin(
            Customer,
            Collaborator,
            and_(
                col(Collaborator.customer_id) == col(Customer.id),
                col(Collaborator.user_id) == to_id,
            ),
        )
        folded = func.coalesce(col(Collaborator.credit_share), 0)
    events = (
        select(
            col(Customer.id),
            _const(session, EventKind.TRANSFERRED if to_user else EventKind.RELEASED, String),
            col(Customer.owner_id),
            _const(session, to_id, Integer),
            _const(session, actor_id, Integer),
            _const(session, team_id, Integer),
            _const(session, rule, String),
            _const(session, reason, String),
            _const(session, now, UTCDateTime),
            _json_object(
                session,
                transfer_id=_const(session, transfer_id, Integer),
                owner_credit_share=col(Customer.owner_credit_share) + folded,
                folded_collaborator_share=folded,
            ),
            # To the pool: the pool of the old owner's team (as owner_columns moves it).
            pool_of_team(col(Customer.team_id))
            if to_user is None
            else _const(session, None, Integer),
            _const(session, None if to_user else "other", String),
        )
        .select_from(joined)
        .where(marked)
        .order_by(col(Customer.id))
    )
    columns = ["customer_id", "kind", "from_user_id", "to_user_id", "actor_id", "team_id"]
    columns += ["rule", "reason", "at", "details", "pool_id", "reason_code"]
    written = await session.execute(insert(OwnershipEvent).from_select(columns, events))
    moved = int(written.rowcount or 0)  # type: ignore[attr-defined]
    if moved == 0:
        return 0
    items = select(col(TransferItem.customer_id)).where(
        col(TransferItem.transfer_id) == transfer_id
    )
    values = owner_columns(to_id, team_id, now, previous=col(Customer.owner_id))
    values.update(pending_transfer_id=None, version=col(Customer.version) + 1)
    if to_user is not None:
        share = (
            select(col(Collaborator.credit_share))
            .where(
                col(Collaborator.customer_id) == col(Customer.id),
                col(Collaborator.user_id) == to_id,
            )
            .scalar_subquery()
        )
        values["owner_credit_share"] = col(Customer.owner_credit_share) + func.coalesce(share, 0)
    await session.execute(
        update(Customer).where(marked).values(**values).execution_options(synchronize_session=False)
    )
    if to_user is not None:
        await session.execute(
            delete(Collaborator)
            .where(col(Collaborator.user_id) == to_id, col(Collaborator.customer_id).in_(items))
            .execution_options(synchronize_session=False)
        )
    await after_owner_change(
        session, col(Customer.id).in_(items), now, except_transfer_id=transfer_id
    )
    last = await session.scalar(select(func.max(col(OwnershipEvent.id))))
    queue_message(session, OWNERSHIP_CHANNEL, {"id": last})
    return moved


@dataclass(frozen=True)
class Keep:
    """What an executed transfer keeps (resolvers/keeping.py): the old owner as a
    collaborator in `role` (None: not at all) with `access`, and whether their follow-up
    reminders move to the new owner (else they are cancelled)."""

    role: str | None = None
    access: str = CollaboratorAccess.READ
    move_reminders: bool = True


async def move_keeping(
    session: AsyncSession,
    *,
    transfer_id: int,
    from_user: User,
    to_user: User | None,
    keep: Keep,
    actor_id: int | None,
    rule: str,
    reason: str,
    now: datetime,
) -> int:
    """`move_marked`, keeping what `keep` says; to the pool nothing is kept."""
    assert from_user.id is not None
    to_id = to_user.id if to_user is not None else None
    if to_id is not None and keep.move_reminders:
        await keeping.move_reminders(session, transfer_id=transfer_id, giver=from_user.id, to=to_id)
    moved = await move_marked(
        session,
        transfer_id=transfer_id,
        to_user=to_user,
        actor_id=actor_id,
        rule=rule,
        reason=reason,
        now=now,
    )
    if to_id is not None and keep.move_reminders:
        await keeping.keep_reminded(session, transfer_id=transfer_id, to=to_id)
    if to_id is not None and keep.role is not None and moved:
        await keeping.keep_previous_owner(
            session,
            transfer_id=transfer_id,
            previous=from_user,
            role=keep.role,
            access=keep.access,
            actor_id=actor_id,
            rule=rule,
            now=now,
        )
    return moved


def check_owner(user: User, what: str = N_("The successor")) -> None:
    if not user.active:
        raise Validation(
            N_("{what} {name} has been deactivated.", what=what, name=user.name), field="toUserId"
        )
    if user.role in NON_OWNERS:
        raise Validation(
            N_(
                "{what} {name} ({role}) cannot own customers.",
                what=what,
                name=user.name,
                role=user.role,
            )
        )


# Departures.


async def _user(session: AsyncSession, ident: int | None, *, lock: bool = False) -> User | None:
    if ident is None:
        return None
    stmt = select(User).where(col(User.id) == ident)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(key_share=True)  # FOR NO KEY UPDATE: see transfers
    return (await session.execute(stmt)).scalar_one_or_none()


async def _successor(
    ctx: Context, session: AsyncSession, leaver: User, raw_id: object | None
) -> User | None:
    successor = await _user(session, parse_optional_id(raw_id, "user"))
    if raw_id is not None and successor is None:
        raise NotFound("user", raw_id)
    if successor is None:
        return None
    if successor.id == leaver.id:
        raise Validation(N_("The successor must be someone else."), field="toUserId")
    check_owner(successor)
    if not ctx.plan.allows_user("user", "hand_over", successor):
        raise Forbidden(N_("You may not hand customers over to {name}.", name=successor.name))
    return successor


async def _hand_over(
    ctx: Context,
    session: AsyncSession,
    leaver: User,
    successor: User | None,
    reason: str,
    keep_as: str | None = None,
    keep_access: str = CollaboratorAccess.READ,
) -> int:
    """Move the whole portfolio of `leaver` in the caller's transaction. A successor's
    capacity is deliberately not enforced: a departure must never leave customers dark,
    and the manager can rebalance afterwards."""
    now = ctx.now()
    actor = ctx.plan.principal.user_id
    if actor is None:
        raise Forbidden(N_("Portfolios are handed over by people, not partner tokens."))
    departure = TransferRequest(
        from_user_id=leaver.id,
        to_user_id=successor.id if successor else None,
        requested_by_id=actor,
        kind=TransferKind.DEPARTURE,
        reason=reason,
        status=TransferStatus.APPROVED,
        created_at=now,
        decided_at=now,
    )
    session.add(departure)
    await session.flush()
    assert departure.id is not None
    session.add(
        Approval(transfer_id=departure.id, approver_id=actor, approved=True, decided_at=now)
    )
    # Mark first: the marked rows are locked until commit, so a concurrent transfer request
    # for them waits and then finds a new owner. Requests pending on them are cancelled
    # once they move (move_marked).
    await session.execute(
        update(Customer)
        .where(col(Customer.owner_id) == leaver.id)
        .values(pending_transfer_id=departure.id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        insert(TransferItem).from_select(
            ["transfer_id", "customer_id"],
            select(_const(session, departure.id, Integer), col(Customer.id)).where(
                col(Customer.pending_transfer_id) == departure.id
            ),
        )
    )
    return await move_keeping(
        session,
        transfer_id=departure.id,
        from_user=leaver,
        to_user=successor,
        keep=Keep(keep_as, keep_access, ctx.settings.transfer_reminders == "move"),
        actor_id=actor,
        rule="departure",
        reason=reason,
        now=now,
    )


async def hand_over_portfolio(
    ctx: Context,
    from_user_id: object,
    to_user_id: object | None,
    reason: str,
    keep_previous_owner_as: str | None = None,
    keep_previous_owner_access: str = CollaboratorAccess.READ,
) -> HandOver:
    """Departure: every customer of `from_user_id` to the successor, or to the pool; with
    `keep_previous_owner_as`, the leaver stays on each as a collaborator (not in the pool:
    a pooled customer has no owner to collaborate with)."""
    plan = ctx.plan
    plan.require("user", "hand_over")
    reason = validation.reason(reason)
    async with ctx.transaction() as session:
        leaver = await _user(session, parse_id(from_user_id, "user"), lock=True)
        if leaver is None:
            raise NotFound("user", from_user_id)
        if not plan.allows_user("user", "hand_over", leaver):
            raise Forbidden(N_("You may not hand over {name}'s portfolio.", name=leaver.name))
        successor = await _successor(ctx, session, leaver, to_user_id)
        if keep_previous_owner_as is not None and successor is None:
            raise Validation(
                N_("Only a successor can keep the previous owner on as a collaborator."),
                field="keepPreviousOwnerAs",
            )
        keep_as = str(keep_previous_owner_as) if keep_previous_owner_as is not None else None
        moved = await _hand_over(
            ctx, session, leaver, successor, reason, keep_as, str(keep_previous_owner_access)
        )
        audit(ctx, session, "portfolio.hand_over", None, user_id=leaver.id, moved=moved)
    return HandOver(moved, successor)


async def deactivate_user(
    ctx: Context, user_id: object, hand_over_to_user_id: object | None = None
) -> User:
    """The user loses every token at once (and live sockets, via the revocations channel);
    their portfolio goes to the successor or the pool; transfers they are party to end."""
    plan = ctx.plan
    plan.require("user", "deactivate")
    now = ctx.now()
    async with ctx.transaction() as session:
        user = await _user(session, parse_id(user_id, "user"), lock=True)
        if user is None:
            raise NotFound("user", user_id)
        if not plan.allows_user("user", "deactivate", user):
            raise Forbidden(N_("You may not deactivate {name}.", name=user.name))
        if user.id == plan.principal.user_id:
            raise Validation(N_("You cannot deactivate yourself."), field="id")
        if not user.active:
            raise Validation(N_("{name} is already deactivated.", name=user.name), field="id")
        successor = await _successor(ctx, session, user, hand_over_to_user_id)
        await session.execute(
            update(User).where(col(User.id) == user.id).values(active=False, deactivated_at=now)
        )
        await session.execute(
            update(ApiToken)
            .where(col(ApiToken.user_id) == user.id, col(ApiToken.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        undecided = select(col(Approval.transfer_id)).where(
            col(Approval.approver_id) == user.id, col(Approval.approved).is_(None)
        )
        await cancel_transfers(
            session,
            or_(col(TransferRequest.to_user_id) == user.id, col(TransferRequest.id).in_(undecided)),
            now,
        )
        await session.execute(
            update(Reminder)
            .where(col(Reminder.user_id) == user.id, col(Reminder.status).in_(OPEN_REMINDERS))
            .values(status=ReminderStatus.CANCELLED)
        )
        reason = f"{user.name} deactivated"
        moved = await _hand_over(ctx, session, user, successor, reason)
        audit(ctx, session, "user.deactivate", None, user_id=user.id, moved=moved)
        queue_message(session, REVOCATIONS, {"user_id": user.id})
    reloaded = await ctx.loaders.user_by_id.load(user.id or 0)
    assert reloaded is not None
    return reloaded
