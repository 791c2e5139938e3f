"""Overdue follow-ups, as set-based SQL like db/jobs.py.

- **Escalation.** A customer whose owner was reminded of a follow-up (FOLLOW_UP_DUE or
  CADENCE_DUE) and has not logged one `escalate_after_days` after it fell due gets one
  OVERDUE_ESCALATION reminder for the owner's manager (the manager of the owner's team,
  or of the team above when the owner manages their own). Once per due time:
  `overdue_escalated_at` records the due time escalated, as `follow_up_reminded_at`
  does for the owner's reminder (a change of owner clears both).
- **Release.** With `overdue_release_after_days` set, a customer still not followed up
  that many days after it fell due goes to the public pool by the recycle job's path,
  its RECYCLED event recording the rule "overdue".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from db.enums import ReminderKind, ReminderStatus
from db.jobs import FOLLOW_UP_KINDS, pool_customers
from db.models import Customer, Reminder, Team, User
from db.setsql import const, json_object
from db.types import UTCDateTime

OVERDUE_RULE = "overdue"


def unescalated() -> ColumnElement[bool]:
    """Owned and not escalated for its current due time (the condition of the partial
    index ix_customer_follow_up_unescalated, word for word)."""
    escalated = col(Customer.overdue_escalated_at)
    return and_(
        col(Customer.owner_id).is_not(None),
        or_(escalated.is_(None), escalated < col(Customer.next_follow_up_due)),
    )


def _overdue(now: datetime, days: int) -> list[ColumnElement[bool]]:
    """Owned, its owner reminded of its due time, and that time `days` or more ago (a
    follow-up logged since would have moved the due time on)."""
    return [
        col(Customer.owner_id).is_not(None),
        col(Customer.next_follow_up_due) <= now - timedelta(days=days),
        col(Customer.follow_up_reminded_at) == col(Customer.next_follow_up_due),
    ]


async def escalate_overdue(
    session: AsyncSession, *, now: datetime, after_days: int, limit: int
) -> int:
    """Up to `limit` overdue customers each give their owner's manager one PENDING
    OVERDUE_ESCALATION reminder; returns how many were written. Customers whose owner
    has no manager above them are marked too, so no batch reads them again."""
    pick = (
        select(col(Customer.id))
        .where(unescalated(), *_overdue(now, after_days))
        # In the partial index's order, as the follow-up reminders are picked.
        .order_by(col(Customer.next_follow_up_due))
        .limit(limit)
    )
    ids = [int(i) for i in (await session.execute(pick)).scalars() if i is not None]
    if not ids:
        return 0
    owner, team, parent = aliased(User), aliased(Team), aliased(Team)
    manager = case(
        (col(team.manager_id) != col(Customer.owner_id), col(team.manager_id)),
        else_=col(parent.manager_id),
    )
    source = (
        select(func.max(col(Reminder.id)))
        .where(
            col(Reminder.customer_id) == col(Customer.id),
            col(Reminder.user_id) == col(Customer.owner_id),
            col(Reminder.kind).in_(FOLLOW_UP_KINDS),
            col(Reminder.due_at) == col(Customer.next_follow_up_due),
        )
        .scalar_subquery()
    )
    due_date = _day(session, col(Customer.next_follow_up_due))
    rows = (
        select(
            manager,
            col(Customer.id),
            literal(str(ReminderKind.OVERDUE_ESCALATION)),
            const(session, now, UTCDateTime()),
            literal(str(ReminderStatus.PENDING)),
            literal("")
            + col(owner.name)
            + literal(" has not followed up with ")
            + col(Customer.name)
            + literal(", due ")
            + due_date
            + literal(f", for {after_days} days."),
            json_object(
                session,
                owner=col(owner.name),
                customer=col(Customer.name),
                due=due_date,
                days=const(session, after_days, Integer()),
            ),
            source,
            const(session, now, UTCDateTime()),
        )
        .join(owner, col(owner.id) == col(Customer.owner_id))
        .join(team, col(team.id) == col(owner.team_id))
        .outerjoin(parent, col(parent.id) == col(team.parent_id))
        .where(col(Customer.id).in_(ids), manager.is_not(None))
    )
    written = await session.execute(
        insert(Reminder).from_select(
            [
                "user_id",
                "customer_id",
                "kind",
                "due_at",
                "status",
                "message",
                "params",
                "ref_id",
                "created_at",
            ],
            rows,
        )
    )
    await session.execute(
        update(Customer)
        .where(col(Customer.id).in_(ids))
        .values(overdue_escalated_at=col(Customer.next_follow_up_due))
        .execution_options(synchronize_session=False)
    )
    return int(written.rowcount or 0)  # type: ignore[attr-defined]


async def release_overdue(
    session: AsyncSession, *, now: datetime, after_days: int, limit: int
) -> int:
    """Up to `limit` customers overdue by `after_days` go to the public pool, one
    RECYCLED event each with the rule "overdue"."""
    pick = (
        select(col(Customer.id))
        .where(*_overdue(now, after_days), col(Customer.pending_transfer_id).is_(None))
        .order_by(col(Customer.next_follow_up_due))
        .limit(limit)
    )
    ids = [int(i) for i in (await session.execute(pick)).scalars() if i is not None]
    reason = literal(f"No follow-up for {after_days} days after one fell due.")
    return await pool_customers(
        session,
        ids,
        now=now,
        rule=OVERDUE_RULE,
        reason=reason,
        still_due=and_(*_overdue(now, after_days)),
    )


def _day(session: AsyncSession, value: Any) -> ColumnElement[str]:
    """'YYYY-MM-DD' (UTC) of a stored time."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", value), "YYYY-MM-DD")
    return func.date(value)
