"""Reminders speak of what their reader may see now, not when they were written."""

from __future__ import annotations

from sqlalchemy import select

from db.enums import ReminderKind
from db.models import Customer, Reminder
from tests.conftest import Api, db_id

MY_REMINDERS = "{ myReminders { id kind message customer { id name } } }"
ASSIGN = """
mutation A($c: ID!, $to: ID!) {
  assignCustomer(customerId: $c, toUserId: $to, reason: "West takes it") { id }
}
"""


async def reminders_of(api: Api, email: str) -> dict[str, dict[str, object]]:
    data = await api.ok(MY_REMINDERS, as_user=email)
    return {str(db_id(r["id"])): r for r in data["myReminders"]}


async def test_a_reminder_stops_naming_a_customer_its_reader_can_no_longer_see(api: Api) -> None:
    alice = await api.user_id("alice@demo.test")
    async with api.services.db.read() as s:
        rows = (
            await s.execute(
                select(Reminder.id, Customer.id, Customer.name)
                .join(Customer, Customer.id == Reminder.customer_id)
                .where(Reminder.user_id == alice, Reminder.kind == ReminderKind.FOLLOW_UP_DUE)
                .order_by(Reminder.id)
            )
        ).all()
    assert len(rows) >= 2  # the demo gives Alice follow-ups falling due
    (moved_reminder, moved, name), (kept_reminder, _kept, kept_name) = rows[:2]
    before = await reminders_of(api, "alice@demo.test")
    assert name in str(before[str(moved_reminder)]["message"])

    carol = await api.user_id("carol@demo.test")
    await api.ok(ASSIGN, {"c": str(moved), "to": str(carol)}, as_user="admin@demo.test")

    after = await reminders_of(api, "alice@demo.test")
    gone = after[str(moved_reminder)]
    assert gone["customer"] is None
    assert name not in str(gone["message"])
    assert gone["message"] == "A follow-up fell due on a customer you can no longer see."
    assert kept_name in str(after[str(kept_reminder)]["message"])  # still hers: as written
