"""Follow-ups: logging one resets the recycle clock and sets when the next is due."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import col

from db.enums import ReminderKind, ReminderStatus
from db.models import Customer, FollowUp, Reminder
from kernel.errors import Validation
from kernel.messages import N_
from resolvers.access import audit, customer_for
from resolvers.context import Context
from resolvers.customers import next_due

# A follow-up logged "now" on a phone whose clock runs a little fast is still now.
FUTURE_TOLERANCE = timedelta(minutes=5)
SUPERSEDED = (
    ReminderKind.FOLLOW_UP_DUE,
    ReminderKind.CADENCE_DUE,
    ReminderKind.RECYCLE_WARNING,
    # The manager's, about the follow-up just logged.
    ReminderKind.OVERDUE_ESCALATION,
)


async def log_follow_up(
    ctx: Context,
    *,
    customer_id: object,
    channel: str,
    summary: str,
    outcome: str | None = None,
    at: datetime | None = None,
    next_follow_up_at: datetime | None = None,
) -> FollowUp:
    """Only the owner, collaborators and their managers may log (policy.csv `follow_up`)."""
    now = ctx.now()
    at = at or now
    summary = summary.strip()
    if not summary:
        raise Validation(N_("A follow-up needs a summary."), field="summary")
    if len(summary) > 4000 or (outcome and len(outcome) > 4000):
        raise Validation(N_("Summary and outcome are at most 4000 characters."), field="summary")
    if at > now + FUTURE_TOLERANCE:
        raise Validation(N_("A follow-up cannot be logged in the future."), field="at")
    if next_follow_up_at is not None and next_follow_up_at <= at:
        raise Validation(N_("The next follow-up must come after this one."), field="nextFollowUpAt")
    async with ctx.transaction() as session:
        scoped = await customer_for(ctx, session, customer_id, "follow_up")
        customer = scoped.customer
        follow_up = FollowUp(
            customer_id=customer.id or 0,
            author_id=ctx.plan.principal.user_id or 0,
            at=at,
            channel=str(channel),
            summary=summary,
            outcome=outcome,
            next_follow_up_at=next_follow_up_at,
        )
        session.add(follow_up)
        latest = max(at, customer.last_follow_up_at or at)
        await session.execute(
            update(Customer)
            .where(col(Customer.id) == customer.id)
            .values(
                last_follow_up_at=latest,
                recycle_clock_at=func.max(col(Customer.recycle_clock_at), latest)
                if session.get_bind().dialect.name == "sqlite"
                else func.greatest(col(Customer.recycle_clock_at), latest),
                next_follow_up_due=next_due(ctx, customer.tier, latest, next_follow_up_at),
                updated_at=now,
            )
        )
        await session.execute(
            update(Reminder)
            .where(
                col(Reminder.customer_id) == customer.id,
                col(Reminder.kind).in_(SUPERSEDED),
                col(Reminder.status).in_((ReminderStatus.PENDING, ReminderStatus.SNOOZED)),
            )
            .values(status=ReminderStatus.CANCELLED)
        )
        audit(ctx, session, "follow_up.log", customer.id, channel=str(channel))
        await session.flush()
    return follow_up
