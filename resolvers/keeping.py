"""What a transfer keeps when it executes, set-based like the move itself
(resolvers/portfolio.move_marked): the previous owner on as a collaborator, and the
follow-up reminders of the customers, which go to the new owner.

The previous owner kept on gets no credit share (0%): the credit follows the work from now
on, and an owner wanting to share it adds the collaborator with a share explicitly. Their
access is the request's (READ by default). Follow-up history is the customer's and never
moves; the plan (`next_follow_up_due`) is the customer's too, so it passes with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, and_, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import EventKind, ReminderKind
from db.events import OWNERSHIP_CHANNEL
from db.models import Collaborator, Customer, OwnershipEvent, Reminder, TransferItem, User
from db.outbox import queue_message
from db.ownership import OPEN_REMINDERS
from db.setsql import const as _const
from db.setsql import json_object as _json_object
from db.types import UTCDateTime

FOLLOW_UP_REMINDERS = (ReminderKind.FOLLOW_UP_DUE, ReminderKind.CADENCE_DUE)
# The previous owner kept on as a collaborator starts with no credit (see above).
KEPT_SHARE = 0


def _items(transfer_id: int) -> Any:
    return select(col(TransferItem.customer_id)).where(col(TransferItem.transfer_id) == transfer_id)


async def move_reminders(session: AsyncSession, *, transfer_id: int, giver: int, to: int) -> None:
    """Before the move: the giver's open follow-up reminders of the customers become the
    receiver's (after_owner_change would cancel them otherwise)."""
    await session.execute(
        update(Reminder)
        .where(
            col(Reminder.customer_id).in_(_items(transfer_id)),
            col(Reminder.user_id) == giver,
            col(Reminder.kind).in_(FOLLOW_UP_REMINDERS),
            col(Reminder.status).in_(OPEN_REMINDERS),
        )
        .values(user_id=to)
        .execution_options(synchronize_session=False)
    )


async def keep_reminded(session: AsyncSession, *, transfer_id: int, to: int) -> None:
    """After the move, which restarts the follow-up reminding: a customer whose reminder of
    its current due time moved along is reminded already, so the job does not remind the
    new owner of it a second time."""
    moved = exists(
        select(1).where(
            col(Reminder.customer_id) == col(Customer.id),
            col(Reminder.user_id) == to,
            col(Reminder.kind).in_(FOLLOW_UP_REMINDERS),
            col(Reminder.status).in_(OPEN_REMINDERS),
            col(Reminder.due_at) == col(Customer.next_follow_up_due),
        )
    )
    await session.execute(
        update(Customer)
        .where(col(Customer.id).in_(_items(transfer_id)), moved)
        .values(follow_up_reminded_at=col(Customer.next_follow_up_due))
        .execution_options(synchronize_session=False)
    )


async def keep_previous_owner(
    session: AsyncSession,
    *,
    transfer_id: int,
    previous: User,
    role: str,
    access: str,
    actor_id: int | None,
    rule: str,
    now: datetime,
) -> None:
    """After the move: the previous owner collaborates on every moved customer, one
    COLLABORATOR_ADDED event each (after its TRANSFERRED one; the caller holds the event
    order lock since the move). Shares are unchanged: the kept owner has 0%."""
    moved = and_(
        col(Customer.id).in_(_items(transfer_id)),
        col(Customer.previous_owner_id) == previous.id,
    )
    reason = f"{previous.name} stays on as {role} ({access}), with {KEPT_SHARE}% of the credit."
    events = (
        select(
            col(Customer.id),
            _const(session, EventKind.COLLABORATOR_ADDED, String),
            _const(session, actor_id, Integer),
            col(Customer.team_id),
            _const(session, rule, String),
            _const(session, reason, String),
            _const(session, now, UTCDateTime),
            _json_object(
                session,
                user_id=_const(session, previous.id, Integer),
                role=_const(session, role, String),
                access=_const(session, access, String),
                credit_share=_const(session, KEPT_SHARE, Integer),
                owner_credit_share=col(Customer.owner_credit_share),
                transfer_id=_const(session, transfer_id, Integer),
            ),
        )
        .where(moved)
        .order_by(col(Customer.id))
    )
    columns = ["customer_id", "kind", "actor_id", "team_id", "rule", "reason", "at", "details"]
    await session.execute(insert(OwnershipEvent).from_select(columns, events))
    await session.execute(
        insert(Collaborator).from_select(
            ["customer_id", "user_id", "role", "credit_share", "access"],
            select(
                col(Customer.id),
                _const(session, previous.id, Integer),
                _const(session, role, String),
                _const(session, KEPT_SHARE, Integer),
                _const(session, access, String),
            ).where(moved),
        )
    )
    last = await session.scalar(select(func.max(col(OwnershipEvent.id))))
    queue_message(session, OWNERSHIP_CHANNEL, {"id": last})
