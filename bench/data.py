"""A large database for benchmarks: the demo, plus many customers inserted set-based."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import insert, select
from sqlmodel import col

from db.engine import Database
from db.models import Collaborator, Customer, CustomerKey, OwnershipEvent, User
from kernel.clock import Clock

BATCH = 5_000


async def add_customers(db: Database, clock: Clock, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    now = clock.now()
    async with db.write() as session, session.begin():
        users = list(
            (
                await session.execute(select(User).where(col(User.role).in_(["REP", "SERVICE"])))
            ).scalars()
        )
        start = (
            await session.scalar(
                select(col(Customer.id)).order_by(col(Customer.id).desc()).limit(1)
            )
        ) or 0
        for offset in range(0, count, BATCH):
            customers, keys, collabs, events = [], [], [], []
            for i in range(offset, min(offset + BATCH, count)):
                ident = start + i + 1
                owner = rng.choice(users + [None])
                tier = rng.choice("ABC")
                created = now - timedelta(days=rng.randint(0, 400))
                customers.append(
                    {
                        "id": ident,
                        "name": f"Bench Company {ident}",
                        "name_key": f"benchcompany{ident}",
                        "industry": rng.choice(["Retail", "Energy", "Finance", "Manufacturing"]),
                        "region": rng.choice(["East", "West", "North", "South"]),
                        "tier": tier,
                        "stage": rng.choice(["LEAD", "NEW", "ACTIVE", "DORMANT"]),
                        "tags": [],
                        "tax_id": f"TAX{ident}",
                        "deal_value": float(rng.randint(0, 10**6)),
                        "created_at": created,
                        "updated_at": created,
                        "recycle_clock_at": created,
                        "owner_id": owner.id if owner else None,
                        "team_id": owner.team_id if owner else None,
                        "owner_credit_share": 100,
                        "owned_since": created if owner else None,
                        "next_follow_up_due": created + timedelta(days=rng.randint(1, 200)),
                        "version": 1,
                    }
                )
                keys.append({"kind": "name", "value": f"benchcompany{ident}", "customer_id": ident})
                events.append(
                    {
                        "customer_id": ident,
                        "kind": "CREATED",
                        "at": created,
                        "to_user_id": owner.id if owner else None,
                        "details": {},
                        "rule": "bench",
                    }
                )
                if owner and rng.random() < 0.2:
                    helper = rng.choice(users)
                    if helper.id != owner.id:
                        customers[-1]["owner_credit_share"] = 80
                        collabs.append(
                            {
                                "customer_id": ident,
                                "user_id": helper.id,
                                "role": "SUPPORT",
                                "credit_share": 20,
                            }
                        )
            await session.execute(insert(Customer), customers)
            await session.execute(insert(CustomerKey), keys)
            await session.execute(insert(OwnershipEvent), events)
            if collabs:
                await session.execute(insert(Collaborator), collabs)
