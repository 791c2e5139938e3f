"""Demo data for `ownergraph seed --demo`.

The organisation of DESIGN.md (teams, the nine demo users, partner `acme-channel`), a few
hundred customers from `ownergraph.demo`, reminders and one escalated dispute. Deterministic
apart from the clock: `random.Random(42)`, times relative to `clock.now()`. Written in one
write transaction, so a second or concurrent run finds `admin@demo.test` and does nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from db.engine import Database
from db.enums import DisputeStatus, ReminderKind, ReminderStatus, Role
from db.events import record_event
from db.keys import customer_keys
from db.models import CustomerKey, Dispute, Partner, PartnerCustomer, Reminder, Team, User
from db.outbox import take_messages
from db.pools import place_unpooled
from kernel.clock import Clock
from kernel.settings import Settings
from ownergraph.demo import HISTORY_DAYS, INDUSTRIES, REGIONS, CustomerPlan, DemoCustomers, id_of

CUSTOMER_COUNT = 320
PARTNER_NAME = "acme-channel"
ADMIN_EMAIL = "admin@demo.test"
STEPS = ("organisation", "customers", "contacts and follow-ups", "ownership history", "reminders")

# (name, parent, manager email); parents come first.
TEAMS = (
    ("Sales", None, "director@demo.test"),
    ("East", "Sales", "manager.east@demo.test"),
    ("West", "Sales", "director@demo.test"),
    ("Service", "Sales", "director@demo.test"),
)
# (email, name, role, team, regions, industries, capacity)
USERS = (
    (ADMIN_EMAIL, "Ada Admin", Role.ADMIN, None, (), (), None),
    ("director@demo.test", "Diane Zhou", Role.DIRECTOR, "Sales", REGIONS, (), None),
    ("manager.east@demo.test", "Marcus Lee", Role.MANAGER, "East", ("East", "North"), (), None),
    ("alice@demo.test", "Alice Wang", Role.REP, "East", ("East", "North"),
     ("Software", "Manufacturing", "Retail"), 120),
    ("bob@demo.test", "Bob Li", Role.REP, "East", ("East", "South"),
     ("Logistics", "Healthcare", "Software"), 120),
    ("carol@demo.test", "Carol Smith", Role.REP, "West", ("West", "South"),
     ("Energy", "Finance", "Retail"), 120),
    ("dan@demo.test", "Dan Murphy", Role.SERVICE, "Service", REGIONS, INDUSTRIES, 150),
    ("audit@demo.test", "Audrey Hale", Role.AUDITOR, None, (), (), None),
    ("judge@demo.test", "Julian Reyes", Role.ARBITER, None, (), (), None),
)  # fmt: skip


async def seed_demo(
    db: Database,
    settings: Settings,
    clock: Clock,
    *,
    on_step: Callable[[str], None] | None = None,
) -> bool:
    """Write the demo data set; False (and nothing written) if it is already there."""
    report = on_step or (lambda _step: None)
    now = clock.now().replace(microsecond=0)
    async with db.write.begin() as session:
        if (
            await session.scalar(select(col(User.id)).where(col(User.email) == ADMIN_EMAIL))
            is not None
        ):
            return False
        users, partner = await _organisation(session, now)
        report(STEPS[0])

        demo = DemoCustomers(random.Random(42), now, settings, users, partner)
        plans = [demo.customer() for _ in range(CUSTOMER_COUNT - 1)]
        disputed = demo.disputed_customer()
        plans.append(disputed)
        session.add_all(p.customer for p in plans)
        await session.flush()
        report(STEPS[1])

        for plan in plans:
            session.add_all(_details(plan, partner))
        await session.flush()
        report(STEPS[2])

        events = sorted(
            (event["at"], plan.customer.id or 0, n, event)
            for plan in plans
            for n, event in enumerate(plan.events)
        )
        for _at, customer_id, _n, event in events:
            await record_event(session, customer_id=customer_id, **event)
        report(STEPS[3])

        await _dispute_and_reminders(session, demo, plans, disputed)
        await place_unpooled(session)
        # Nobody is subscribed to a database being seeded; the events replay from the table.
        take_messages(session)
    report(STEPS[4])
    return True


async def _organisation(session: AsyncSession, now: datetime) -> tuple[dict[str, User], Partner]:
    teams = {name: Team(name=name) for name, _parent, _manager in TEAMS}
    session.add_all(teams.values())
    await session.flush()
    for name, parent, _manager in TEAMS:
        team = teams[name]
        team.parent_id = teams[parent].id if parent else None
        team.path = f"{teams[parent].path if parent else '/'}{team.id}/"
    joined = now - timedelta(days=HISTORY_DAYS + 10)
    users = {
        email: User(
            name=name,
            email=email,
            role=role,
            team_id=teams[team].id if team else None,
            regions=list(regions),
            industries=list(industries),
            capacity=capacity,
            created_at=joined,
        )
        for email, name, role, team, regions, industries, capacity in USERS
    }
    partner = Partner(name=PARTNER_NAME, created_at=joined)
    session.add_all([*users.values(), partner])
    await session.flush()
    for name, _parent, manager in TEAMS:
        teams[name].manager_id = users[manager].id
    return users, partner


def _details(plan: CustomerPlan, partner: Partner) -> list[Any]:
    customer = plan.customer
    cid = id_of(customer)
    rows: list[Any] = [*plan.contacts, *plan.collaborators, *plan.follow_ups]
    for row in rows:
        row.customer_id = cid
    keys = customer_keys(
        name=customer.name,
        tax_id=customer.tax_id,
        phones=[c.phone for c in plan.contacts if c.phone],
        emails=[c.email for c in plan.contacts if c.email],
    )
    rows += [CustomerKey(kind=kind, value=value, customer_id=cid) for kind, value in sorted(keys)]
    if plan.shared:
        rows.append(PartnerCustomer(partner_id=id_of(partner), customer_id=cid))
    return rows


async def _dispute_and_reminders(
    session: AsyncSession, demo: DemoCustomers, plans: list[CustomerPlan], disputed: CustomerPlan
) -> None:
    alice, bob, judge = (
        demo.users[e] for e in ("alice@demo.test", "bob@demo.test", "judge@demo.test")
    )
    customer = disputed.customer
    opened = demo.now - timedelta(days=2)
    escalated = opened + timedelta(hours=1)
    follow_ups = disputed.follow_ups
    dispute = Dispute(
        customer_id=id_of(customer),
        claimant_id=id_of(bob),
        respondent_id=alice.id,
        arbiter_id=judge.id,
        reason="I met their buyer at a trade fair before the import and have been quoting since.",
        status=DisputeStatus.ESCALATED,
        evidence=[
            f"First entry: neither party (imported on {customer.created_at:%Y-%m-%d}).",
            f"Claimed from the pool by {alice.name} on {customer.owned_since:%Y-%m-%d}.",
            f"Follow-ups by {alice.name}: {len(follow_ups)} "
            f"(latest {max(f.at for f in follow_ups):%Y-%m-%d}); by {bob.name}: 0.",
            "Closed deal: none.",
            "No follow-up by either party in the last 30 days: the rules cannot decide.",
        ],
        opened_at=opened,
    )
    session.add(dispute)
    await session.flush()
    reminders = [
        Reminder(
            user_id=id_of(judge),
            customer_id=customer.id,
            kind=ReminderKind.DISPUTE_ASSIGNED,
            due_at=escalated,
            message=f"Dispute over {customer.name}: {bob.name} claims, {alice.name} owns.",
            params={"customer": customer.name, "claimant": bob.name, "respondent": alice.name},
            ref_id=dispute.id,
            created_at=escalated,
        )
    ]
    # Alice's follow-ups falling due around now, the soonest first.
    start, end = demo.now - timedelta(days=7), demo.now + timedelta(days=14)
    due = sorted(
        (
            (p.customer.next_follow_up_due, p.customer)
            for p in plans
            if p.customer.owner_id == alice.id and p.customer.next_follow_up_due is not None
        ),
        key=lambda pair: (pair[0], pair[1].id),
    )
    for due_at, c in [(d, c) for d, c in due if start <= d <= end][:5]:
        c.follow_up_reminded_at = due_at  # as the reminder job records it
        reminders.append(
            Reminder(
                user_id=id_of(alice),
                customer_id=c.id,
                kind=ReminderKind.FOLLOW_UP_DUE,
                due_at=due_at,
                status=ReminderStatus.PENDING,
                message=f"Follow up with {c.name}, as planned.",
                params={"customer": c.name},
                created_at=c.last_follow_up_at or c.created_at,
            )
        )
    session.add_all(reminders)
    await session.flush()
