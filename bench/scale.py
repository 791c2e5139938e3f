"""Figures at a million customers: jobs, writes, search and counts, on SQLite or PostgreSQL.

    python -m bench.scale [--customers 1000000] [--database-url URL] [--repeat 20]

Builds the database once (migrate, demo, `ownergraph.bulk.add_customers`; an existing
database at URL with at least that many customers is reused), then reports, through the
real app in-process, the p50 of each request and the longest statement it ran, and for
the scheduler the backlog run and the idle tick with its longest transaction. Nothing is
asserted: tests assert statement counts and plans (tests/db/test_plans.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import event, func, select, update
from sqlmodel import col

from authz.tokens import issue_token
from db.engine import open_database
from db.migrate import upgrade_async
from db.models import Customer, User
from kernel.clock import SystemClock
from kernel.settings import Settings
from ownergraph.app import create_app
from ownergraph.bulk import add_customers
from ownergraph.scheduler import run_jobs_once
from ownergraph.seed import seed_demo

SECRET = "bench-secret-" + "x" * 32
QUERIES = {
    "search (REP)": (
        "alice@demo.test",
        '{ customers(first: 20, filter: {search: "harbor pharma 42"}) '
        "{ totalCount edges { node { id name } } } }",
    ),
    "totalCount (REP)": ("alice@demo.test", "{ customers(first: 1) { totalCount } }"),
    "totalCount (MANAGER)": ("manager.east@demo.test", "{ customers(first: 1) { totalCount } }"),
    "duplicateCheck": (
        "alice@demo.test",
        '{ duplicateCheck(input: {name: "Golden Harbor Pharma 424242"}) { customerId } }',
    ),
}


@dataclass
class Statements:
    """The statements of one request and how long each took."""

    times: list[float] = field(default_factory=list)
    _started: float = 0.0

    def watch(self, engine: Any) -> None:
        def before(*_: Any) -> None:
            self._started = time.perf_counter()

        def after(*_: Any) -> None:
            self.times.append(time.perf_counter() - self._started)

        event.listen(engine.sync_engine, "before_cursor_execute", before)
        event.listen(engine.sync_engine, "after_cursor_execute", after)


async def prepare(url: str, customers: int, console: Console) -> None:
    await upgrade_async(url)
    db = open_database(url)
    try:
        settings = Settings(database_url=url, jwt_secret=SECRET)
        await seed_demo(db, settings, SystemClock())
        async with db.read() as session:
            have = int(await session.scalar(select(func.count()).select_from(Customer)) or 0)
        if have < customers:
            started = time.perf_counter()
            await add_customers(db, SystemClock().now(), customers - have)
            console.print(
                f"loaded {customers - have:,} customers in {time.perf_counter() - started:.0f} s"
            )
        async with db.write() as session, session.begin():
            # Generated portfolios are far larger than a rep's capacity; writes here measure
            # the write path, not the capacity rule.
            await session.execute(update(User).values(capacity=None))
    finally:
        await db.dispose()


async def measure(url: str, repeat: int) -> list[tuple[str, float, float, int]]:
    app = create_app(Settings(database_url=url, jwt_secret=SECRET, scheduler_interval_seconds=0))
    services = app.state.services
    statements = Statements()
    statements.watch(services.db.engine)
    rows: list[tuple[str, float, float, int]] = []

    # The scheduler: the backlog the generated data leaves, then the idle tick.
    for label in ("jobs: backlog run", "jobs: idle tick"):
        statements.times.clear()
        started = time.perf_counter()
        await run_jobs_once(services)
        elapsed = time.perf_counter() - started
        rows.append(
            (label, elapsed * 1000, max(statements.times, default=0) * 1000, len(statements.times))
        )

    async with services.db.write() as session, session.begin():
        users = {u.email: u for u in (await session.execute(select(User))).scalars()}
        tokens = {}
        for email in ("admin@demo.test", "alice@demo.test", "manager.east@demo.test"):
            _, tokens[email] = await issue_token(
                session=session, secret=SECRET, algorithm="HS256", now=services.clock.now(),
                user=users[email], scopes=None,
            )  # fmt: skip
        alice = users["alice@demo.test"]
        customer = await session.scalar(
            select(col(Customer.id))
            .where(col(Customer.owner_id) == alice.id)
            .order_by(col(Customer.id).desc())
        )
    release = f'mutation {{ releaseToPool(customerId: "{customer}", reason: "bench") {{ id }} }}'
    assign = (
        f'mutation {{ assignCustomer(customerId: "{customer}", toUserId: "{alice.id}", '
        'reason: "bench") { id } }'
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def timed(email: str, query: str) -> tuple[float, float, int]:
            statements.times.clear()
            started = time.perf_counter()
            response = await client.post(
                "/graphql",
                json={"query": query},
                headers={"authorization": f"Bearer {tokens[email]}"},
            )
            elapsed = time.perf_counter() - started
            body = response.json()
            if body.get("errors"):
                raise RuntimeError(f"{query}: {body['errors']}")
            return elapsed * 1000, max(statements.times, default=0) * 1000, len(statements.times)

        samples: dict[str, list[tuple[float, float, int]]] = {}
        for _ in range(repeat):
            samples.setdefault("releaseToPool", []).append(await timed("admin@demo.test", release))
            samples.setdefault("assignCustomer", []).append(await timed("admin@demo.test", assign))
            for label, (email, query) in QUERIES.items():
                samples.setdefault(label, []).append(await timed(email, query))
    for label, runs in samples.items():
        rows.append(
            (
                label,
                statistics.median(r[0] for r in runs),
                statistics.median(r[1] for r in runs),
                runs[0][2],
            )
        )
    await services.bus.close()
    await services.db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="sqlite+aiosqlite:///./bench-scale.db")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    console = Console()
    asyncio.run(prepare(args.database_url, args.customers, console))
    rows = asyncio.run(measure(args.database_url, args.repeat))
    table = Table(title=f"{args.customers:,} customers, {args.database_url.split(':')[0]}")
    for column in ("", "p50 ms", "longest statement ms", "statements"):
        table.add_column(column, justify="right" if column else "left")
    for label, p50, longest, count in rows:
        table.add_row(label, f"{p50:.1f}", f"{longest:.1f}", str(count))
    console.print(table)


if __name__ == "__main__":
    main()
