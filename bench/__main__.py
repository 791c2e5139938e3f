"""Run the request benchmarks against a large SQLite (and PostgreSQL with --pg) database.

    python -m bench [--customers 50000] [--repeat 30] [--pg postgresql://...]

Every figure is printed as a ratio to the baseline request `{ me { id } }` (token check
and authorization plan, nothing else) measured in the same run on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from authz.tokens import issue_token
from db.engine import open_database
from db.migrate import upgrade_async
from db.models import User
from kernel.clock import SystemClock
from kernel.settings import Settings
from ownergraph.app import create_app
from ownergraph.bulk import add_customers
from ownergraph.seed import seed_demo

BASELINE = "{ me { id } }"
NESTED = """{ customers(first: 100) { totalCount edges { node { id name taxId
  owner { name team { name } } team { name } collaborators { role user { name } }
  contacts { name phone } latestFollowUp { summary } openDisputes { id } } } } }"""
CASES = [
    ("customers(first:100) nested, ADMIN", "admin@demo.test", NESTED),
    ("customers(first:100) nested, REP", "alice@demo.test", NESTED),
    ("customers(first:100) nested, MANAGER", "manager.east@demo.test", NESTED),
    (
        "pool(first:100), REP",
        "alice@demo.test",
        "{ pool(first: 100) { totalCount edges { node { id name } } } }",
    ),
    (
        "overdue filter count, DIRECTOR",
        "director@demo.test",
        "{ customers(first: 1, filter: {overdue: true}) { totalCount } }",
    ),
    (
        "search, REP",
        "alice@demo.test",
        '{ customers(first: 20, filter: {search: "company 4"}) { edges { node { id } } } }',
    ),
    (
        "ownershipStats, ADMIN",
        "admin@demo.test",
        "{ ownershipStats { poolSize giniOfLoad owners { customers } } }",
    ),
]


async def _timed(client: httpx.AsyncClient, token: str, query: str, repeat: int) -> list[float]:
    headers = {"authorization": f"Bearer {token}"}
    await client.post("/graphql", json={"query": query}, headers=headers)  # warm up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = await client.post("/graphql", json={"query": query}, headers=headers)
        samples.append(time.perf_counter() - start)
        assert not response.json().get("errors"), response.text[:500]
    return samples


async def run(url: str, customers: int, repeat: int, console: Console) -> None:
    await upgrade_async(url)
    settings = Settings(database_url=url, jwt_secret="bench-" + "x" * 40)
    clock = SystemClock()
    db = open_database(url)
    with console.status(f"seeding {customers:,} customers into {url.split(':')[0]}"):
        await seed_demo(db, settings, clock)
        await add_customers(db, clock.now(), customers)
    tokens = {}
    async with db.write() as s, s.begin():
        for user in (await s.execute(select(User))).scalars():
            tokens[user.email] = (
                await issue_token(
                    session=s,
                    secret=settings.secret(),
                    algorithm="HS256",
                    now=clock.now(),
                    user=user,
                )
            )[1]
    await db.dispose()

    app = create_app(settings, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench"
    ) as client:
        base = statistics.median(await _timed(client, tokens["alice@demo.test"], BASELINE, repeat))
        table = Table(
            title=f"{url.split(':')[0]}, {customers:,} extra customers; baseline `{BASELINE}`"
        )
        table.add_column("request")
        table.add_column("median / baseline", justify="right")
        table.add_column("peak memory / baseline", justify="right")
        tracemalloc.start()
        await _timed(client, tokens["alice@demo.test"], BASELINE, 1)
        base_peak = tracemalloc.get_traced_memory()[1]
        for label, email, query in CASES:
            median = statistics.median(await _timed(client, tokens[email], query, repeat))
            tracemalloc.reset_peak()
            await _timed(client, tokens[email], query, 1)
            peak = tracemalloc.get_traced_memory()[1]
            table.add_row(label, f"{median / base:.1f}x", f"{peak / max(base_peak, 1):.1f}x")
        tracemalloc.stop()
        console.print(table)
    await app.state.services.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--pg", help="also run against this (empty) PostgreSQL database URL")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(
            run(
                f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
                args.customers,
                args.repeat,
                console,
            )
        )
    if args.pg:
        asyncio.run(run(args.pg, args.customers, args.repeat, console))


if __name__ == "__main__":
    main()
