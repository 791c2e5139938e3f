"""What must follow whenever customers change hands, whichever path moved them.

Every path that changes `Customer.owner_id` (assign, claim, release, transfer, departure,
dispute award, lifecycle handoff, recycle) calls `after_owner_change` in its transaction,
after the UPDATE: pending transfers of those customers can no longer execute, disputes
against an owner who lost the customer can no longer be decided, and reminders that came
with owning it are no longer the old owner's to act on. Set-based: the same statements
however many customers moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import DisputeStatus, ReminderKind, ReminderStatus, TransferStatus
from db.events import lock_event_order
from db.models import Customer, Dispute, DisputeChange, Reminder, TransferItem, TransferRequest
from db.outbox import queue_message
from db.pools import pool_of_team

DISPUTES_CHANNEL = "disputes"  # {"id": dispute id, "customer_id": ...}
UNDECIDED = (DisputeStatus.OPEN, DisputeStatus.ESCALATED)
# On someone's list: not yet due, put off, or fired and not acknowledged.
OPEN_REMINDERS = (ReminderStatus.PENDING, ReminderStatus.SNOOZED, ReminderStatus.FIRED)
# What an owner is reminded of because they own the customer; the next owner starts afresh.
OWNER_REMINDERS = (
    ReminderKind.FOLLOW_UP_DUE,
    ReminderKind.CADENCE_DUE,
    ReminderKind.RECYCLE_WARNING,
)
CHANGED_HANDS = (
    "The customer changed hands before the dispute was decided; open a new one against the "
    "current owner if it still matters."
)


def owner_columns(
    owner_id: int | None,
    team_id: int | None,
    now: datetime,
    *,
    previous: Any = None,
    pool_id: Any = None,
) -> dict[str, Any]:
    """What every change of owner sets, the same way on every path: the owner and their
    team, since when it is owned or pooled, and the recycle clock restarts. `previous`
    (a value or a column expression) records who had it; None leaves it as it was. Going
    to the pool, it enters `pool_id` (by default the pool of its old team, db/pools.py).
    A lock ends with the ownership it was taken under; protection with going to a pool."""
    pooled = owner_id is None
    values: dict[str, Any] = {
        "pool_id": (pool_id if pool_id is not None else pool_of_team(col(Customer.team_id)))
        if pooled
        else None,
        "pool_entered_at": now if pooled else None,
        "locked_at": None,
        "locked_until": None,
        "lock_reason": None,
        "owner_id": owner_id,
        "team_id": team_id,
        "owned_since": now if owner_id is not None else None,
        "pooled_at": None if owner_id is not None else now,
        "recycle_clock_at": now,
        # The old owner's follow-up reminders are cancelled: the new one is reminded anew.
        "follow_up_reminded_at": None,
        "overdue_escalated_at": None,
        "updated_at": now,
    }
    if pooled:
        values["protected_until"] = None
    if previous is not None:
        values["previous_owner_id"] = previous
    return values


async def after_owner_change(
    session: AsyncSession,
    changed: ColumnElement[bool] | Sequence[int],
    now: datetime,
    *,
    except_transfer_id: int | None = None,
    except_dispute_id: int | None = None,
) -> None:
    """For the customers whose owner just changed (a condition on Customer, or their ids):
    cancel their pending transfers but the one executing, withdraw their undecided disputes
    against someone who no longer owns them but the one deciding, and cancel owner reminders
    held by anyone but the current owner."""
    customers = _ids(changed)
    pending: ColumnElement[bool] = col(TransferRequest.id).in_(
        select(col(TransferItem.transfer_id)).where(col(TransferItem.customer_id).in_(customers))
    )
    if except_transfer_id is not None:
        pending = and_(pending, col(TransferRequest.id) != except_transfer_id)
    await cancel_transfers(session, pending, now)
    await _withdraw_disputes(session, customers, now, except_dispute_id)
    owner = (
        select(col(Customer.owner_id))
        .where(col(Customer.id) == col(Reminder.customer_id))
        .scalar_subquery()
    )
    await session.execute(
        update(Reminder)
        .where(
            col(Reminder.customer_id).in_(customers),
            col(Reminder.kind).in_(OWNER_REMINDERS),
            col(Reminder.status).in_(OPEN_REMINDERS),
            col(Reminder.user_id).is_distinct_from(owner),
        )
        .values(status=ReminderStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )


def _ids(changed: ColumnElement[bool] | Sequence[int]) -> Select[int | None] | list[int]:
    if isinstance(changed, ColumnElement):
        # Evaluated on its own, never correlated with the statement it is nested in.
        return select(col(Customer.id)).where(changed).correlate(None)
    return list(changed)


async def _withdraw_disputes(
    session: AsyncSession,
    customers: Select[int | None] | list[int],
    now: datetime,
    except_dispute_id: int | None,
) -> None:
    """Undecided disputes whose respondent no longer owns the customer cannot be resolved
    (resolveDispute answers CONFLICT): close them, with their arbiters' reminders."""
    owner = (
        select(col(Customer.owner_id))
        .where(col(Customer.id) == col(Dispute.customer_id))
        .scalar_subquery()
    )
    stale = and_(
        col(Dispute.customer_id).in_(customers),
        col(Dispute.status).in_(UNDECIDED),
        col(Dispute.respondent_id).is_distinct_from(owner),
    )
    if except_dispute_id is not None:
        stale = and_(stale, col(Dispute.id) != except_dispute_id)
    # The customers' rows are locked by the change, and every settlement of a dispute
    # locks its customer first: the set cannot change between these two statements.
    await session.execute(
        update(Reminder)
        .where(
            col(Reminder.kind) == ReminderKind.DISPUTE_ASSIGNED,
            col(Reminder.ref_id).in_(select(col(Dispute.id)).where(stale)),
            col(Reminder.status).in_(OPEN_REMINDERS),
        )
        .values(status=ReminderStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    closed = (
        await session.execute(
            update(Dispute)
            .where(stale)
            .values(status=DisputeStatus.WITHDRAWN, resolved_at=now, note=CHANGED_HANDS)
            .returning(col(Dispute.id), col(Dispute.customer_id))
            .execution_options(synchronize_session=False)
        )
    ).all()
    await announce_disputes(session, [(int(d or 0), int(c)) for d, c in closed], now)


async def announce_disputes(
    session: AsyncSession, changed: Sequence[tuple[int, int]], now: datetime
) -> None:
    """Record that the disputes `changed` ((dispute id, customer id) pairs) changed in this
    transaction, one dispute_change row each, in commit order (the event-order lock), and
    announce them on the disputes channel after commit."""
    if not changed:
        return
    await lock_event_order(session)
    rows = [{"dispute_id": d, "at": now} for d, _ in sorted(changed)]
    await session.execute(insert(DisputeChange), rows)
    for dispute_id, customer_id in sorted(changed):
        queue_message(session, DISPUTES_CHANNEL, {"id": dispute_id, "customer_id": customer_id})


async def cancel_transfers(
    session: AsyncSession, which: ColumnElement[bool], now: datetime
) -> None:
    """Cancel the PENDING transfers matching `which` (a condition on TransferRequest):
    unmark their customers, cancel their approval reminders. Set-based."""
    ids = select(col(TransferRequest.id)).where(
        col(TransferRequest.status) == TransferStatus.PENDING, which
    )
    await session.execute(
        update(Reminder)
        .where(
            col(Reminder.kind) == ReminderKind.TRANSFER_APPROVAL,
            col(Reminder.ref_id).in_(ids),
            col(Reminder.status).in_(OPEN_REMINDERS),
        )
        .values(status=ReminderStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Customer)
        .where(col(Customer.pending_transfer_id).in_(ids))
        .values(pending_transfer_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(TransferRequest)
        .where(col(TransferRequest.status) == TransferStatus.PENDING, which)
        .values(status=TransferStatus.CANCELLED, decided_at=now)
        .execution_options(synchronize_session=False)
    )
