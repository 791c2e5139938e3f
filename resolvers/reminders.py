"""Reminders: the caller's own, acknowledged or snoozed by the caller only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import col

from db.enums import ReminderKind, ReminderStatus
from db.models import Reminder
from kernel.errors import Forbidden, NotFound, Validation
from kernel.messages import N_, Message, render
from resolvers.context import Context
from resolvers.ids import parse_id

# The most reminders one `myReminders` answer lists.
MAX_REMINDERS = 500

# What a reminder says, by kind, filled from its params in the reader's language.
TEXTS: dict[str, Message] = {
    ReminderKind.FOLLOW_UP_DUE: N_("Follow up with {customer}, as planned."),
    ReminderKind.CADENCE_DUE: N_("Time for a regular follow-up with {customer}."),
    ReminderKind.RECYCLE_WARNING: N_(
        "Follow up with {customer} before {date} or it returns to the public pool."
    ),
    ReminderKind.DISPUTE_ASSIGNED: N_(
        "Dispute over {customer}: {claimant} claims, {respondent} owns."
    ),
    ReminderKind.OVERDUE_ESCALATION: N_(
        "{owner} has not followed up with {customer}, due {due}, for {days} days."
    ),
}
TRANSFER_ONE = N_("Approve or reject the transfer of customer {customer_id} from {giver}.")
TRANSFER_MANY = N_("Approve or reject the transfer of {customers} customers from {giver}.")

# What a reminder says once its reader can no longer see its customer: what it was about,
# never which customer (the text written with it names the customer).
UNSEEN: dict[str, Message] = {
    ReminderKind.FOLLOW_UP_DUE: N_("A follow-up fell due on a customer you can no longer see."),
    ReminderKind.CADENCE_DUE: N_("A follow-up fell due on a customer you can no longer see."),
    ReminderKind.RECYCLE_WARNING: N_(
        "A customer you owned was due to return to the public pool; you can no longer see it."
    ),
    ReminderKind.TRANSFER_APPROVAL: N_(
        "A transfer you were asked to decide concerns a customer you can no longer see."
    ),
    ReminderKind.DISPUTE_ASSIGNED: N_(
        "A dispute assigned to you concerns a customer you can no longer see."
    ),
    ReminderKind.OVERDUE_ESCALATION: N_(
        "An overdue follow-up was escalated to you on a customer you can no longer see."
    ),
}
UNSEEN_OTHER = N_("This reminder concerns a customer you can no longer see.")


def written_text(reminder: Reminder) -> str:
    """The reminder's own text in the current language: from its kind and params, or the
    message stored with it when it has none."""
    params = reminder.params
    if params is None:
        return render(reminder.message)
    if reminder.kind == ReminderKind.TRANSFER_APPROVAL:
        template = TRANSFER_ONE if params.get("customers") == 1 else TRANSFER_MANY
    elif reminder.kind in TEXTS:
        template = TEXTS[reminder.kind]
    else:
        return render(reminder.message)
    return render(Message(template.template, params))


async def reminder_message(ctx: Context, reminder: Reminder) -> str:
    """The message as its reader may read it now, in the reader's language: its own text
    while the reader sees its customer, without the customer once they do not (rendered
    at read time, so a reminder fired before a transfer does not keep naming the customer
    afterwards)."""
    if reminder.customer_id is None:
        return written_text(reminder)
    if await ctx.loaders.customer_by_id.load(reminder.customer_id) is not None:
        return written_text(reminder)
    return render(UNSEEN.get(reminder.kind, UNSEEN_OTHER))


async def my_reminders(
    ctx: Context, status: str | None = None, ident: int | None = None
) -> list[Reminder]:
    user_id = ctx.plan.principal.user_id
    if user_id is None:
        raise Forbidden(N_("Reminders belong to people, not partner tokens."))
    stmt = select(Reminder).where(col(Reminder.user_id) == user_id)
    if status is not None:
        stmt = stmt.where(col(Reminder.status) == str(status))
    if ident is not None:  # one reminder, for `node(id:)`
        stmt = stmt.where(col(Reminder.id) == ident)
    stmt = stmt.order_by(col(Reminder.due_at), col(Reminder.id)).limit(MAX_REMINDERS)
    return list((await (await ctx.session()).execute(stmt)).scalars())


async def acknowledge_reminder(ctx: Context, reminder_id: object) -> Reminder:
    return await _set_status(ctx, reminder_id, ReminderStatus.ACKNOWLEDGED, None)


async def snooze_reminder(ctx: Context, reminder_id: object, until: datetime) -> Reminder:
    if until <= ctx.now():
        raise Validation(N_("Snooze until a time in the future."), field="until")
    return await _set_status(ctx, reminder_id, ReminderStatus.SNOOZED, until)


async def _set_status(
    ctx: Context, reminder_id: object, status: ReminderStatus, until: datetime | None
) -> Reminder:
    user_id = ctx.plan.principal.user_id
    ident = parse_id(reminder_id, "reminder")
    async with ctx.transaction() as session:
        reminder = await session.get(Reminder, ident)
        # Someone else's reminder is as good as none.
        if reminder is None or reminder.user_id != user_id:
            raise NotFound("reminder", reminder_id)
        if reminder.status == ReminderStatus.CANCELLED:
            raise Validation(N_("This reminder was cancelled."))
        reminder.status = status
        if until is not None:
            reminder.due_at = until
        await session.flush()
    return reminder
