"""Side-by-side request benchmark: ownergraph against the hand-written reference.

    python -m bench [--customers 10000] [--rounds 3] [--seconds 5] [--connections 16]
                    [--pg postgresql://postgres@127.0.0.1:5432/postgres | none]
                    [--before DIR] [--subscribers 1000] [--quick]
    python -m bench subscribers --help

It builds the demo plus `--customers` extra customers, on SQLite and in a private
database it makes (and drops) on the PostgreSQL server `--pg` (skipped with a note when
that server does not answer), starts each variant as its own uvicorn process (one
worker) and, on PostgreSQL, PostGraphile 4 (bench/peer.py; skipped with a note without
node and npm), checks that every variant answers the dashboard query and
`{ me { id } }` as MANAGER with the same JSON data, then drives load from this process
over loopback, interleaving variants (A B A B ...), and prints medians: requests/s, server
CPU per request (from /proc), p50/p99 latency, and ratios to the reference. `--before DIR`
adds ownergraph from another source tree (e.g. `git archive` of an older commit) as a
variant. After the reads, 16 clients measure write throughput (bench/writes.py: claims/s,
follow-ups/s); on PostgreSQL the live-subscriber figures follow (bench/subscribers.py).
Results go to bench/RESULTS.md. The in-process profile (GC share, allocations,
cProfile) is `python -m bench.profile`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy import select
from sqlmodel import col

from authz.tokens import issue_token
from bench import peer, subscribers, writes
from bench.load import Run, fetch, load
from db.engine import open_database
from db.migrate import upgrade_async
from db.models import User
from kernel.clock import SystemClock
from kernel.settings import Settings
from ownergraph.app import make_services
from ownergraph.bulk import add_customers
from ownergraph.scheduler import run_jobs_once
from ownergraph.seed import seed_demo

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-" + "x" * 40
UNLIMITED = 10**12
ROLE = "manager.east@demo.test"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DASHBOARD = (
    "{ customers(first: 50) { totalCount edges { node { id name tier stage owner { id name } "
    "team { id name } collaborators { role creditShare user { id name } } "
    "latestFollowUp { at summary } openDisputes { id status } } } "
    "pageInfo { hasNextPage endCursor } } }"
)
ME = "{ me { id } }"
CASES = {"dashboard": DASHBOARD, "me": ME}


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    # The query each case sends this server (its own schema's naming), and how its answer
    # maps to ownergraph's shape (None: it answers ownergraph's shape exactly).
    queries: dict[str, str] = field(default_factory=lambda: dict(CASES))
    translate: Callable[[dict[str, Any]], dict[str, Any]] | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(name: str, url: str, source: Path | None) -> Server:
    port = _free_port()
    env = dict(os.environ, OWNERGRAPH_DATABASE_URL=url, OWNERGRAPH_JWT_SECRET=SECRET)
    if name == "reference":
        target = ["bench.reference:app"]
        env["PYTHONPATH"] = str(ROOT)
    else:
        target = ["--factory", "ownergraph.app:create_app"]
        env["PYTHONPATH"] = str(source or ROOT)
        # Long jobs would compete with the requests being measured.
        env["OWNERGRAPH_SCHEDULER_INTERVAL_SECONDS"] = "3600"
        # Rate limits are charged as usual (their cost is measured) but never refuse the
        # load, which is one token asking far more than any person would.
        env["OWNERGRAPH_RATE_LIMIT_POINTS"] = str(UNLIMITED)
        env["OWNERGRAPH_RATE_LIMIT_RESTORE_RATE"] = str(UNLIMITED)
    command = [sys.executable, "-m", "uvicorn", *target, "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"]
    process = subprocess.Popen(command, env=env, cwd=tempfile.gettempdir())
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return Server(name, port, process)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{name} did not start")


async def prepare(url: str, customers: int, email: str = ROLE) -> str:
    await upgrade_async(url)
    clock = SystemClock()
    db = open_database(url)
    try:
        await seed_demo(db, Settings(database_url=url, jwt_secret=SECRET), clock)
        await add_customers(db, clock.now(), customers)
        async with db.write() as s, s.begin():
            user = (await s.execute(select(User).where(col(User.email) == email))).scalar_one()
            _, token = await issue_token(
                session=s, secret=SECRET, algorithm="HS256", now=clock.now(), user=user
            )
    finally:
        await db.dispose()
    # The scheduled jobs' backlog (recycling, reminders) now, so that the servers' first
    # tick finds nothing to move while their answers are compared.
    services = make_services(Settings(database_url=url, jwt_secret=SECRET))
    try:
        await run_jobs_once(services)
    finally:
        await services.db.dispose()
    return token


async def check_equal(servers: list[Server], token: str) -> None:
    for case in CASES:
        answers = {}
        for s in servers:
            if case in s.queries:
                body = orjson.dumps({"query": s.queries[case]})
                answers[s.name] = (s, orjson.loads(await fetch(s.port, body, token)))
        expected = answers["reference"][1]["data"]
        for name, (s, answer) in answers.items():
            if answer.get("errors"):
                raise SystemExit(f"{name} fails {case}: {str(answer)[:400]}")
            if s.translate is None:
                same = answer["data"] == expected
            else:
                same = peer.comparable(s.translate(answer["data"])) == peer.comparable(expected)
            if not same:
                raise SystemExit(f"{name} answers {case} differently: {str(answer)[:400]}")


async def measure(
    servers: list[Server], token: str, rounds: int, seconds: float, connections: int
) -> dict[tuple[str, str], list[Run]]:
    runs: dict[tuple[str, str], list[Run]] = {}
    for case in CASES:
        cast = [s for s in servers if case in s.queries]
        bodies = {s.name: orjson.dumps({"query": s.queries[case]}) for s in cast}
        for s in cast:  # warm up
            body = bodies[s.name]
            await load(s.port, s.process.pid, body, token, seconds=1, connections=connections)
        for _ in range(rounds):
            for s in cast:
                body = bodies[s.name]
                run = await load(
                    s.port, s.process.pid, body, token, seconds=seconds, connections=connections
                )
                runs.setdefault((case, s.name), []).append(run)
    return runs


ROLES = {"ADMIN": "admin@demo.test", "MANAGER": ROLE, "REP": "alice@demo.test"}


async def by_role(server: Server, url: str, args: argparse.Namespace) -> list[str]:
    """The dashboard as ADMIN, MANAGER and REP, interleaved: each sees other rows through
    another scope, and none should cost much more than another (target: within 1.3x)."""
    keys = await subscribers.tokens(url, SECRET, list(ROLES.values()))
    body = orjson.dumps({"query": DASHBOARD})
    runs: dict[str, list[Run]] = {}
    for _ in range(args.rounds):
        for role, email in ROLES.items():
            run = await load(
                server.port,
                server.process.pid,
                body,
                keys[email],
                seconds=args.seconds,
                connections=args.connections,
            )
            runs.setdefault(role, []).append(run)
    rates = {role: statistics.median(r.rate for r in rs) for role, rs in runs.items()}
    cpus = {role: statistics.median(r.cpu_ms_per_request for r in rs) for role, rs in runs.items()}
    figures = ", ".join(
        f"{role} {rates[role]:.0f} req/s ({cpus[role]:.2f} ms CPU)" for role in ROLES
    )
    spread = max(cpus.values()) / min(cpus.values())
    return [f"Dashboard by role (ownergraph): {figures}; CPU spread **{spread:.2f}x**.", ""]


def report(backend: str, runs: dict[tuple[str, str], list[Run]], names: list[str]) -> list[str]:
    lines = [
        f"### {backend}",
        "",
        "| case | variant | req/s | ratio | CPU ms/req | CPU ratio | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    rates: dict[tuple[str, str], float] = {}
    for case in CASES:
        ref = runs[(case, "reference")]
        ref_rate = statistics.median(r.rate for r in ref)
        ref_cpu = statistics.median(r.cpu_ms_per_request for r in ref)
        for name in names:
            rs = runs.get((case, name))
            if not rs:
                continue
            rate = rates[(case, name)] = statistics.median(r.rate for r in rs)
            cpu = statistics.median(r.cpu_ms_per_request for r in rs)
            lat = sorted(x for r in rs for x in r.latencies)
            p50, p99 = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000
            lines.append(
                f"| {case} | {name} | {rate:.0f} | {rate / ref_rate:.2f} | {cpu:.2f} | "
                f"{ref_cpu / cpu:.2f} | {p50:.1f} | {p99:.1f} |"
            )
    if ("dashboard", peer.NAME) in rates:
        ratio = rates[("dashboard", "ownergraph")] / rates[("dashboard", peer.NAME)]
        lines += ["", f"ownergraph / PostGraphile 4 (dashboard, req/s): **{ratio:.2f}**"]
    return lines + [""]


async def run_backend(url: str, args: argparse.Namespace) -> list[str]:
    token = await prepare(url, args.customers)
    variants: list[tuple[str, Path | None]] = [("reference", None), ("ownergraph", None)]
    if args.before:
        variants.append(("before", Path(args.before).resolve()))
    servers = [start(name, url, source) for name, source in variants]
    notes: list[str] = []
    try:
        if (why := peer.unavailable(url)) is None:
            peer.install()
            await peer.setup(url)
            port = _free_port()
            # As many connections as one ownergraph worker may open.
            limits = Settings(database_url=url, jwt_secret=SECRET)
            pool = limits.database_pool_size + limits.database_max_overflow
            process = peer.start(url, port, pool)
            queries = {"dashboard": peer.DASHBOARD}
            servers.append(Server(peer.NAME, port, process, queries, peer.as_ownergraph))
        elif url.startswith("postgresql"):
            notes.append(f"- {why}")
        await check_equal(servers, token)
        runs = await measure(servers, token, args.rounds, args.seconds, args.connections)
        ours = next(s for s in servers if s.name == "ownergraph")
        notes += await by_role(ours, url, args)
        reps = await subscribers.tokens(url, SECRET, writes.REPS)
        notes += await writes.measure(
            ours.port, url, reps, seconds=args.seconds, connections=args.connections
        )
    finally:
        for s in servers:
            s.process.terminate()
            s.process.wait(10)
    return report(url.split(":")[0], runs, [s.name for s in servers]) + notes + [""]


async def _pg_admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect("postgresql://" + url.split("://", 1)[1])
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def private_pg(admin_url: str) -> Iterator[str | None]:
    """A fresh database on the server at `admin_url`, dropped afterwards; None when the
    server does not answer."""
    name = f"og_bench_{os.getpid()}"
    try:
        asyncio.run(_pg_admin(admin_url, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        print(f"PostgreSQL at {admin_url} is not available ({error}): skipped")
        yield None
        return
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(_pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    if sys.argv[1:2] == ["subscribers"]:
        text = "\n".join(subscribers.main(sys.argv[2:]))
        print(text)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--pg",
        default=os.environ.get("OWNERGRAPH_BENCH_PG", PG_ADMIN),
        help="PostgreSQL server (any database on it) where the benchmark makes its own "
        "database; 'none' to skip PostgreSQL",
    )
    parser.add_argument("--before", help="source tree of an older ownergraph to compare")
    parser.add_argument(
        "--subscribers",
        type=int,
        default=1000,
        help="live subscribers for `python -m bench subscribers` on PostgreSQL; 0 to skip",
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s, 2,000 customers")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.customers = 1, 2.0, 2_000
    lines = [
        "# Benchmark results",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- command: `python -m bench {' '.join(sys.argv[1:])}`",
        f"- {args.customers:,} extra customers, {args.connections} connections, "
        f"{args.rounds} interleaved rounds of {args.seconds:g} s; medians; query as MANAGER",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        lines += asyncio.run(run_backend(f"sqlite+aiosqlite:///{Path(tmp) / 'b.db'}", args))
    if args.pg != "none":
        with private_pg(args.pg) as url:
            if url is None:
                lines += [f"PostgreSQL at {args.pg} did not answer: skipped.", ""]
            else:
                lines += asyncio.run(run_backend(url, args))
        if args.subscribers:
            seconds = ["--seconds", "4"] if args.quick else []
            lines += subscribers.main(
                ["--subscribers", str(args.subscribers), "--pg", args.pg, *seconds]
            )
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench" / "RESULTS.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
