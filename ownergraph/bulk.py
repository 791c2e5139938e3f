"""Many customers at once, for trying the system at scale (`ownergraph seed --customers N`).

Rows are generated from a seeded random source and inserted in batches of Core
executemany statements, one transaction per batch, so a million customers load in
minutes and the write lock is never held for long. Each customer gets what the demo's
customers have: duplicate keys, a CREATED event, sometimes a collaborator and follow-ups.
Statistics are refreshed at the end, so the planner sees the new sizes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from db.engine import Database
from db.keys import company_key, customer_keys
from db.models import Customer, Pool, Team, User
from db.similar import BULK_SETTING, count_bulk
from db.tally import compact, tally_bulk

BATCH = 5_000
CUSTOMERS_PER_REP = 1_000
TABLES = SQLModel.metadata.tables
INDUSTRIES = ("Retail", "Energy", "Finance", "Manufacturing", "Healthcare", "Logistics")
REGIONS = ("East", "West", "North", "South")
STAGES = ("LEAD", "NEW", "ACTIVE", "DORMANT", "LOST")
WORDS = (
    "Alpha", "Blue", "Cedar", "Delta", "East", "Falcon", "Golden", "Harbor", "Iron", "Jade",
    "Kite", "Lotus", "Maple", "North", "Orbit", "Pine", "Quartz", "River", "Stone", "Tiger",
)  # fmt: skip
# Days within which a followed-up customer was last contacted (below the recycle days).
RECENT = {"A": 28, "B": 55, "C": 85}
KINDS = ("Trading", "Foods", "Machinery", "Software", "Textiles", "Logistics", "Pharma")


async def add_customers(
    db: Database,
    now: datetime,
    count: int,
    *,
    seed: int = 7,
    batch: int = BATCH,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Insert `count` customers as a real organisation of that size would hold them: about
    a rep per `CUSTOMERS_PER_REP` (reps are added in teams of ten under the top team when
    there are too few), a tenth in the pool, a tenth overdue for recycling; returns how
    many were inserted. `on_batch(n)` is called after each batch."""
    rng = random.Random(seed)
    async with db.write() as session, session.begin():
        owners = await _sales_staff(session, now, count)
        start = int(await session.scalar(select(func.coalesce(func.max(Customer.id), 0))) or 0)
    done = 0
    while done < count:
        size = min(batch, count - done)
        await _insert_batch(db, rng, now, owners, start + done, size)
        done += size
        if on_batch:
            on_batch(size)
    await _sync_sequences(db)
    await db.vacuum_analyze()  # statistics, and the visibility map for index-only counts
    return done


async def _sales_staff(
    session: AsyncSession, now: datetime, customers: int
) -> list[tuple[int | None, int | None]]:
    """(id, team id) of every rep, after adding enough for `customers` more customers."""

    async def reps() -> list[tuple[int | None, int | None]]:
        rows = await session.execute(
            select(col(User.id), col(User.team_id)).where(col(User.role) == "REP")
        )
        return [(i, t) for i, t in rows.all()]

    have = await reps()
    top = await session.scalar(select(Team).where(col(Team.parent_id).is_(None)).limit(1))
    if top is None:
        raise ValueError("seed the organisation first (ownergraph seed --demo)")
    wanted = max(0, customers // CUSTOMERS_PER_REP - len(have))
    first = int(await session.scalar(select(func.count()).select_from(Team)) or 0) + 1
    for n in range(first, first + (wanted + 9) // 10):
        team = Team(name=f"Field Sales {n}", parent_id=top.id)
        session.add(team)
        await session.flush()
        team.path = f"{top.path}{team.id}/"
        session.add_all(
            User(
                name=f"Field Rep {n}-{k}",
                email=f"rep{n}.{k}@field.test",
                role="REP",
                team_id=team.id,
                created_at=now,
            )
            for k in range(1, 11)
        )
    await session.flush()
    return await reps()


async def _insert_batch(
    db: Database,
    rng: random.Random,
    now: datetime,
    owners: list[tuple[int | None, int | None]],
    offset: int,
    size: int,
) -> None:
    rows: list[dict[str, Any]] = []
    # Per row: (collaborator id and share, or None; whether it has a follow-up).
    extras: list[tuple[tuple[int, int] | None, bool]] = []
    for n in range(offset + 1, offset + size + 1):
        owner_id, team_id = rng.choice(owners) if rng.random() < 0.9 else (None, None)
        created = now - timedelta(days=rng.randint(0, 400), minutes=rng.randint(0, 1439))
        tier = rng.choice("ABC")
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(KINDS)} {n}"
        helper_id = rng.choice(owners)[0] if owner_id and rng.random() < 0.2 else None
        helper = (
            (helper_id, rng.choice((10, 20, 30))) if helper_id not in (None, owner_id) else None
        )
        # Nine in ten owned customers were followed up within their tier's recycle window.
        followed = bool(owner_id) and rng.random() < 0.9
        last = max(created, now - timedelta(days=rng.randint(0, RECENT[tier]), hours=1))
        rows.append(
            {
                "name": name,
                "name_key": company_key(name),
                "industry": rng.choice(INDUSTRIES),
                "region": rng.choice(REGIONS),
                "tier": tier,
                "stage": rng.choice(STAGES),
                "source": "bulk",
                "tags": [],
                "tax_id": f"91{n:016d}",
                "deal_value": float(rng.randint(0, 10**6)),
                "created_at": created,
                "updated_at": created,
                "recycle_clock_at": last if followed else created,
                "last_follow_up_at": last if followed else None,
                "owner_id": owner_id,
                "team_id": team_id,
                # Shares of owner and collaborators sum to 100.
                "owner_credit_share": 100 - helper[1] if helper else 100,
                "owned_since": created if owner_id else None,
                "pooled_at": None if owner_id else created,
                "next_follow_up_due": (last if followed else created)
                + timedelta(days=rng.randint(1, 200)),
                "version": 1,
            }
        )
        extras.append((helper, followed))
    async with db.write() as session, session.begin():
        # Ids are given, not returned: RETURNING row by row costs more than the insert.
        start = int(await session.scalar(select(func.coalesce(func.max(Customer.id), 0))) or 0)
        ids = range(start + 1, start + 1 + len(rows))
        default = select(col(Pool.id)).where(col(Pool.is_default).is_(True))
        pool = await session.scalar(default)
        for ident, row in zip(ids, rows, strict=True):
            row["id"] = ident
            row["pool_id"] = None if row["owner_id"] else pool
            row["pool_entered_at"] = None if row["owner_id"] else row["created_at"]
        postgres = db.dialect == "postgresql"
        if postgres:  # the batch's trigrams and groups are counted below, at once
            await session.execute(text(f"SET LOCAL {BULK_SETTING} = 'on'"))
        await session.execute(insert(TABLES["customer"]), rows)
        if postgres:
            await count_bulk(session, ids[0], ids[-1])
            await tally_bulk(session, ids[0], ids[-1])
        keys: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        collaborators: list[dict[str, Any]] = []
        follow_ups: list[dict[str, Any]] = []
        for ident, row, (helper, followed) in zip(ids, rows, extras, strict=True):
            keys += (
                {"kind": str(kind), "value": value, "customer_id": ident}
                for kind, value in customer_keys(name=row["name"], tax_id=row["tax_id"])
            )
            events.append(
                {
                    "customer_id": ident,
                    "kind": "CREATED",
                    "at": row["created_at"],
                    "to_user_id": row["owner_id"],
                    "team_id": row["team_id"],
                    "rule": "bulk",
                    "details": {},
                    "pool_id": row["pool_id"],
                }
            )
            if helper:
                collaborators.append(
                    {
                        "customer_id": ident,
                        "user_id": helper[0],
                        "role": "SUPPORT",
                        "credit_share": helper[1],
                    }
                )
            if followed:
                follow_ups.append(
                    {
                        "customer_id": ident,
                        "author_id": row["owner_id"],
                        "at": row["last_follow_up_at"],
                        "channel": rng.choice(("CALL", "VISIT", "EMAIL")),
                        "summary": "Introduced our offer; they asked for a quote.",
                    }
                )
        # Core tables, not ORM entities: executemany without the unit of work.
        await session.execute(insert(TABLES["customer_key"]), keys)
        await session.execute(insert(TABLES["ownership_event"]), events)
        if collaborators:
            await session.execute(insert(TABLES["collaborator"]), collaborators)
        if follow_ups:
            await session.execute(insert(TABLES["follow_up"]), follow_ups)
        await compact(session)  # SQLite tallied the batch row by row


async def _sync_sequences(db: Database) -> None:
    """PostgreSQL: the id sequences continue after the ids given here."""
    if db.dialect != "postgresql":
        return
    async with db.write() as session, session.begin():
        for table in ("customer", "ownership_event", "follow_up"):
            await session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )
