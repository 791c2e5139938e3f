from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, func, select

from db.engine import open_database
from db.enums import EventKind
from db.migrate import upgrade_async
from db.models import (
    Collaborator,
    Customer,
    CustomerKey,
    Dispute,
    FollowUp,
    OwnershipEvent,
    Partner,
    Reminder,
    User,
)
from kernel.clock import FrozenClock
from kernel.settings import Settings
from ownergraph.seed import seed_demo

DEMO_ROLES = {
    "admin@demo.test": "ADMIN",
    "director@demo.test": "DIRECTOR",
    "manager.east@demo.test": "MANAGER",
    "alice@demo.test": "REP",
    "bob@demo.test": "REP",
    "carol@demo.test": "REP",
    "dan@demo.test": "SERVICE",
    "audit@demo.test": "AUDITOR",
    "judge@demo.test": "ARBITER",
}
COUNTED: tuple[type[SQLModel], ...] = (
    User, Customer, CustomerKey, Collaborator, FollowUp, OwnershipEvent, Reminder, Dispute,
)  # fmt: skip


async def _counts(session: AsyncSession) -> dict[str, int]:
    return {
        m.__name__: int(await session.scalar(select(func.count()).select_from(m)) or 0)
        for m in COUNTED
    }


async def _pairs(session: AsyncSession, stmt: Any) -> dict[Any, Any]:
    return {key: value for key, value in (await session.execute(stmt)).all()}


async def test_seed_demo_is_complete_and_idempotent(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'seed.db'}"
    await upgrade_async(url)
    db = open_database(url)
    settings = Settings(database_url=url, data_dir=tmp_path)
    clock = FrozenClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    try:
        assert await seed_demo(db, settings, clock) is True
        async with db.read() as session:
            before = await _counts(session)
        assert await seed_demo(db, settings, clock) is False

        async with db.read() as session:
            assert await _counts(session) == before

            roles = await _pairs(session, select(col(User.email), col(User.role)))
            assert roles == DEMO_ROLES
            ids = await _pairs(session, select(col(User.email), col(User.id)))

            customers = (await session.execute(select(Customer))).scalars().all()
            assert len(customers) >= 300
            pool = [c for c in customers if c.owner_id is None]
            assert pool and all(c.team_id is None for c in pool)
            assert all(c.created_at.tzinfo is not None for c in customers)

            created = await _pairs(
                session,
                select(col(OwnershipEvent.customer_id), func.count())
                .where(col(OwnershipEvent.kind) == EventKind.CREATED)
                .group_by(col(OwnershipEvent.customer_id)),
            )
            assert created == {c.id: 1 for c in customers}

            shares = await _pairs(
                session,
                select(col(Collaborator.customer_id), func.sum(col(Collaborator.credit_share)))
                .group_by(col(Collaborator.customer_id)),
            )  # fmt: skip
            assert shares, "some customers have collaborators"
            assert all(c.owner_credit_share + shares.get(c.id, 0) == 100 for c in customers)

            owned = await _pairs(
                session,
                select(col(Customer.owner_id), func.count()).group_by(col(Customer.owner_id)),
            )
            capacity = await _pairs(session, select(col(User.id), col(User.capacity)))
            assert all(n <= (capacity[owner] or n) for owner, n in owned.items() if owner)

            disputes = (await session.execute(select(Dispute))).scalars().all()
            assert len(disputes) == 1
            dispute = disputes[0]
            assert dispute.status in {"OPEN", "ESCALATED"}
            assert (dispute.claimant_id, dispute.respondent_id, dispute.arbiter_id) == (
                ids["bob@demo.test"],
                ids["alice@demo.test"],
                ids["judge@demo.test"],
            )
            disputed = await session.get(Customer, dispute.customer_id)
            assert disputed is not None and disputed.owner_id == ids["alice@demo.test"]

            partner = select(col(Partner.id)).where(col(Partner.name) == "acme-channel")
            assert await session.scalar(partner) is not None
    finally:
        await db.dispose()
