"""Live subscribers: memory per idle subscriber, publish -> receipt latency, lost and
duplicated deliveries, on PostgreSQL, with one worker and with four workers on Redis.

    python -m bench subscribers [--subscribers 1000] [--rate 5] [--seconds 20]
                                [--pg postgresql://postgres@127.0.0.1:5432/postgres]

In a private database on the `--pg` server (demo plus 2,000 customers), N graphql-transport-ws
clients (one socket each, spread over six demo users from REP to ADMIN) subscribe to
`ownershipChanged` from the same cursor, from this process over loopback. Idle, the
server's RSS delta / N is the memory per subscriber (and, in a separate one-worker run
under tracemalloc, traced bytes / N). Then an ADMIN releases owned customers to the pool
at `--rate` events/s (visible to every subscriber): each receipt's delay after the
event's `at`, and, against each user's `ownershipEvents` afterwards, how many deliveries
were lost or came twice. After the clients vanish, the one-worker server reports the
GC-tracked objects left and what `gc.collect()` still finds (cyclic garbage). Worker
pools follow the documented formula: workers x (pool + overflow) <= max_connections
less the connections already open, less a margin.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from sqlalchemy import func, select
from sqlmodel import col
from websockets.asyncio.client import ClientConnection, connect

from authz.tokens import issue_token
from db.engine import open_database
from db.models import Customer, OwnershipEvent, User
from kernel.clock import SystemClock
from schema.pagination import encode_cursor

WATCHERS = [
    "alice@demo.test",
    "bob@demo.test",
    "carol@demo.test",
    "manager.east@demo.test",
    "director@demo.test",
    "admin@demo.test",
]
SUBSCRIBE = (
    "subscription Live($since: String) { ownershipChanged(since: $since) "
    "{ id kind at customer { id name } } }"
)
RELEASE = 'mutation R($id: ID!) { releaseToPool(customerId: $id, reason: "bench") { id } }'
EVENTS_AFTER = (
    "query E($after: String) { ownershipEvents(after: $after, first: 100) "
    "{ edges { cursor node { id } } pageInfo { hasNextPage } } }"
)
MARGIN = 10  # connections left for psql, migrations, another client


@dataclass
class Client:
    email: str
    got: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    last: str | None = None


async def tokens(url: str, secret: str, emails: list[str]) -> dict[str, str]:
    db = open_database(url)
    out: dict[str, str] = {}
    try:
        async with db.write() as s, s.begin():
            for email in emails:
                user = (await s.execute(select(User).where(col(User.email) == email))).scalar_one()
                _, out[email] = await issue_token(
                    session=s, secret=secret, algorithm="HS256", now=SystemClock().now(), user=user
                )
    finally:
        await db.dispose()
    return out


async def fixtures(url: str, n: int) -> tuple[str, list[int]]:
    """The cursor to subscribe from, and `n` owned customers to release."""
    db = open_database(url)
    try:
        async with db.read() as s:
            latest = (await s.scalar(select(func.max(col(OwnershipEvent.id))))) or 0
            ids = (
                await s.scalars(
                    select(col(Customer.id))
                    .where(
                        col(Customer.owner_id).is_not(None),
                        col(Customer.pending_transfer_id).is_(None),
                    )
                    .order_by(col(Customer.id).desc())
                    .limit(n)
                )
            ).all()
    finally:
        await db.dispose()
    return encode_cursor(latest), [int(i or 0) for i in ids]


async def connections(url: str) -> tuple[int, int]:
    """The server's max_connections and how many are open now."""
    conn = await asyncpg.connect("postgresql://" + url.split("://", 1)[1])
    try:
        limit = int(await conn.fetchval("SHOW max_connections"))
        used = int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity"))
    finally:
        await conn.close()
    return limit, used


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (uvicorn's workers)."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    pids += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class Server:
    def __init__(self, url: str, env: dict[str, str], port: int, workers: int, traced: bool):
        self.port = port
        self.report = Path(tempfile.mkstemp(suffix=".jsonl")[1])
        env = dict(env, OWNERGRAPH_BENCH_REPORT=str(self.report))
        if traced:
            env["OWNERGRAPH_BENCH_TRACEMALLOC"] = "1"
        if workers == 1:
            command = [sys.executable, "-m", "bench.traced", str(port)]
        else:
            # As an operator runs it (uvicorn's options from the settings).
            command = [str(Path(sys.executable).with_name("ownergraph")), "serve"]
            command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        spy = os.environ.get("OWNERGRAPH_BENCH_PYSPY")  # collapsed stacks of the whole run
        if spy and workers == 1 and not traced:
            py_spy = Path(sys.executable).with_name("py-spy")
            command = [str(py_spy), "record", "-f", "raw", "-r", "100", "-o", spy, "--", *command]
        self.spied = bool(spy and workers == 1 and not traced)
        self.workers = workers
        self.process = subprocess.Popen(command, env=env, cwd=Path(__file__).parent.parent)

    async def ready(self) -> None:
        deadline = time.perf_counter() + 180  # tracemalloc makes start-up slow
        async with httpx.AsyncClient() as client:
            while time.perf_counter() < deadline and self.process.poll() is None:
                try:
                    if (await client.get(f"http://127.0.0.1:{self.port}/health")).is_success:
                        await asyncio.sleep(0.5 * self.workers)  # every worker up
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("the server did not start")

    async def snapshot(self, collect: bool = False) -> dict[str, Any]:
        """The one-worker server's own figures (bench/traced.py)."""
        if self.workers != 1 or self.spied:
            return {}
        before = len(self.report.read_text().splitlines())
        self.process.send_signal(signal.SIGUSR2 if collect else signal.SIGUSR1)
        for _ in range(1200):  # a traced snapshot of 1,000 sockets takes a while
            lines = self.report.read_text().splitlines()
            if len(lines) > before:
                return dict(json.loads(lines[-1]))
            await asyncio.sleep(0.05)
        return {}

    def stop(self) -> None:
        if self.spied:  # py-spy writes its file on SIGINT, then ends the server
            self.process.send_signal(signal.SIGINT)
            self.process.wait(60)
        self.process.terminate()
        self.process.wait(20)
        self.report.unlink(missing_ok=True)


async def follow(port: int, token: str, since: str, client: Client, ready: asyncio.Event) -> None:
    try:
        async with connect(
            f"ws://127.0.0.1:{port}/graphql",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            ping_interval=None,
            compression=None,
            max_size=None,
            open_timeout=60,
        ) as ws:
            await _follow(ws, token, since, client, ready)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        client.errors.append(repr(error))
        ready.set()


async def _follow(
    ws: ClientConnection, token: str, since: str, client: Client, ready: asyncio.Event
) -> None:
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    await ws.send(orjson.dumps(init).decode())
    ack = orjson.loads(await ws.recv())
    if ack.get("type") != "connection_ack":
        raise RuntimeError(str(ack))
    payload = {"query": SUBSCRIBE, "variables": {"since": since}}
    await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode())
    ready.set()
    async for raw in ws:
        message = orjson.loads(raw)
        if message.get("type") != "next":
            client.errors.append(str(message)[:200])
            continue
        event = message["payload"]["data"]["ownershipChanged"]
        client.latencies.append(time.time() - datetime.fromisoformat(event["at"]).timestamp())
        client.got[event["id"]] += 1
        client.last = event["id"]


async def expected(port: int, token: str, since: str) -> list[str]:
    """The events after `since` this token's user may see, as the API lists them now."""
    ids: list[str] = []
    after = since
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=auth, timeout=300) as http:
        while True:
            body = {"query": EVENTS_AFTER, "variables": {"after": after}}
            page = (await http.post(f"http://127.0.0.1:{port}/graphql", json=body)).json()
            conn = page["data"]["ownershipEvents"]
            ids += [e["node"]["id"] for e in conn["edges"]]
            if not conn["pageInfo"]["hasNextPage"] or not conn["edges"]:
                return ids
            after = conn["edges"][-1]["cursor"]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class Figures:
    label: str
    subscribers: int
    connected: int
    pool: str
    rss_per_subscriber_kib: float
    traced_per_subscriber_kib: float | None = None
    events: int = 0
    rate: float = 0.0
    deliveries: int = 0
    lost: int = 0
    duplicated: int = 0
    errors: int = 0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    mutation_p99_ms: float = float("nan")
    objects_left: int | None = None
    cyclic_garbage: int | None = None
    garbage: str = ""  # the commonest types of that garbage


async def run(
    url: str,
    env: dict[str, str],
    port: int,
    *,
    workers: int,
    subscribers: int,
    rate: float,
    seconds: float,
    traced: bool,
    pool: str,
    secret: str,
) -> Figures:
    """One server, `subscribers` idle sockets, then (unless traced) the event load."""
    keys = await tokens(url, secret, WATCHERS)
    events = 0 if traced else int(rate * seconds)
    since, customers = await fixtures(url, events)
    server = Server(url, env, port, workers, traced)
    tasks: list[asyncio.Task[None]] = []
    try:
        await server.ready()
        warm = Client("admin@demo.test")  # first subscription's imports and caches
        warm_ready = asyncio.Event()
        task = asyncio.create_task(follow(port, keys[warm.email], since, warm, warm_ready))
        await warm_ready.wait()
        await asyncio.sleep(1.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(1.0)
        rss0, snap0 = rss_kib(server.process.pid), await server.snapshot()

        clients = [Client(WATCHERS[i % len(WATCHERS)]) for i in range(subscribers)]
        for start in range(0, subscribers, 50):  # in waves, as a reconnect storm would not
            readies = []
            for c in clients[start : start + 50]:
                readies.append(ready := asyncio.Event())
                tasks.append(asyncio.create_task(follow(port, keys[c.email], since, c, ready)))
            await asyncio.gather(*(r.wait() for r in readies))
        await asyncio.sleep(3.0)  # idle: every catch-up read done
        rss1, snap1 = rss_kib(server.process.pid), await server.snapshot()
        connected = sum(1 for c in clients if not c.errors)
        figures = Figures(
            label=f"{workers} worker{'s' if workers > 1 else ''}"
            + (", Redis" if workers > 1 else "")
            + (", tracemalloc" if traced else ""),
            subscribers=subscribers,
            connected=connected,
            pool=pool,
            rss_per_subscriber_kib=(rss1 - rss0) / subscribers,
        )
        if traced and snap0.get("traced") is not None and snap1.get("traced") is not None:
            figures.traced_per_subscriber_kib = (
                (snap1["traced"] - snap0["traced"]) / 1024 / subscribers
            )
            for where, kib, blocks in snap1.get("grew") or ():  # what an idle socket holds
                print(f"  grew {kib / subscribers:7.2f} KiB/sub {blocks:8d} blocks  {where}")

        if events:
            admin = {"Authorization": f"Bearer {keys['admin@demo.test']}"}
            took: list[float] = []
            # These thousand clients are one process here (a thousand processes in life):
            # its collector's pauses would be counted as the server's latency.
            gc.freeze()
            gc.disable()
            async with httpx.AsyncClient(headers=admin, timeout=60) as http:
                t0 = time.perf_counter()
                for i, ident in enumerate(customers):
                    await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
                    body = {"query": RELEASE, "variables": {"id": _gid("Customer", ident)}}
                    started = time.perf_counter()
                    answer = (await http.post(f"http://127.0.0.1:{port}/graphql", json=body)).json()
                    took.append(time.perf_counter() - started)
                    if answer.get("errors"):
                        raise RuntimeError(str(answer)[:300])
                elapsed = time.perf_counter() - t0
            wanted = {e: await expected(port, keys[e], since) for e in WATCHERS}
            deadline = time.perf_counter() + 300
            while time.perf_counter() < deadline and any(
                not c.errors and c.last != (wanted[c.email][-1] if wanted[c.email] else None)
                for c in clients
            ):
                await asyncio.sleep(0.2)
            for c in clients:
                want = wanted[c.email]
                figures.lost += sum(1 for e in want if c.got[e] == 0)
                figures.duplicated += sum(n - 1 for n in c.got.values() if n > 1)
            lat = [x for c in clients for x in c.latencies]
            figures.events, figures.rate = len(customers), len(customers) / elapsed
            figures.deliveries = len(lat)
            figures.p50_ms, figures.p99_ms = (
                1000 * _percentile(lat, 0.5),
                1000 * _percentile(lat, 0.99),
            )
            figures.mutation_p99_ms = 1000 * _percentile(took, 0.99)
            gc.enable()
            gc.unfreeze()
        figures.errors = sum(len(c.errors) for c in clients)

        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks.clear()
        await asyncio.sleep(3.0)  # the server notices every closed socket
        left = await server.snapshot()
        if left:
            figures.objects_left = int(left["objects"]) - int(snap0["objects"])
            collected = await server.snapshot(collect=True)
            figures.cyclic_garbage = int(collected["collected"])
            figures.garbage = ", ".join(f"{k} {n}" for k, n in collected["garbage"][:6])
        return figures
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        server.stop()


def _gid(type_name: str, ident: int) -> str:
    import base64

    return base64.b64encode(f"{type_name}:{ident}".encode()).decode()


def table(rows: list[Figures], limit: int, used: int) -> list[str]:
    lines = [
        "### Live subscribers (PostgreSQL)",
        "",
        f"- server: `SHOW max_connections` = {limit}, {used} open before the runs; pools per "
        f"worker below (workers x (pool + overflow) <= {limit} - {used} - {MARGIN})",
        "",
        "| run | subscribers (connected) | pool | RSS KiB/sub | traced KiB/sub | events (per s) "
        "| deliveries | lost | duplicated | errors | p50 ms | p99 ms | mutation p99 ms "
        "| objects left | cyclic garbage |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def num(x: float | int | None, fmt: str = ".1f") -> str:
        return "—" if x is None or x != x else format(x, fmt)

    for f in rows:
        lines.append(
            f"| {f.label} | {f.subscribers} ({f.connected}) | {f.pool} | "
            f"{num(f.rss_per_subscriber_kib)} | {num(f.traced_per_subscriber_kib)} | "
            f"{f.events} ({f.rate:.1f}) | {f.deliveries} | {f.lost} | {f.duplicated} | "
            f"{f.errors} | {num(f.p50_ms)} | {num(f.p99_ms)} | {num(f.mutation_p99_ms)} | "
            f"{num(f.objects_left, 'd')} | {num(f.cyclic_garbage, 'd')} |"
        )
    return lines + [""]


async def bench(url: str, args: argparse.Namespace, secret: str) -> list[str]:
    from bench.__main__ import _free_port, prepare

    await prepare(url, 2_000)
    limit, used = await connections(url)
    base = dict(
        os.environ,
        OWNERGRAPH_DATABASE_URL=url,
        OWNERGRAPH_JWT_SECRET=secret,
        OWNERGRAPH_SCHEDULER_INTERVAL_SECONDS="3600",
        OWNERGRAPH_RATE_LIMIT_POINTS=str(10**12),
        OWNERGRAPH_RATE_LIMIT_RESTORE_RATE=str(10**12),
        OWNERGRAPH_IP_RATE_LIMIT_POINTS=str(10**12),
        OWNERGRAPH_IP_RATE_LIMIT_RESTORE_RATE=str(10**12),
        OWNERGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION="100",
        OWNERGRAPH_LOG_LEVEL="WARNING",
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
    )
    rows: list[Figures] = []
    runs = {"traced": (1, True), "1": (1, False), "4": (4, False)}
    for workers, traced in (runs[r] for r in args.runs.split(",")):
        budget = (limit - used - MARGIN) // workers
        size, overflow = min(10, budget // 3), min(20, budget - min(10, budget // 3))
        env = dict(
            base,
            OWNERGRAPH_DATABASE_POOL_SIZE=str(size),
            OWNERGRAPH_DATABASE_MAX_OVERFLOW=str(overflow),
        )
        if workers > 1:
            env["OWNERGRAPH_BROADCAST_URL"] = args.redis
            env["OWNERGRAPH_DEPLOYMENT_ID"] = f"bench-{os.getpid()}"
        figures = await run(
            url,
            env,
            _free_port(),
            workers=workers,
            subscribers=args.subscribers,
            rate=args.rate,
            seconds=args.seconds,
            traced=traced,
            pool=f"{workers} x ({size} + {overflow})",
            secret=secret,
        )
        print(figures, flush=True)
        rows.append(figures)
    return table(rows, limit, used)


def main(argv: list[str]) -> list[str]:
    from bench.__main__ import PG_ADMIN, SECRET, private_pg

    parser = argparse.ArgumentParser(prog="python -m bench subscribers", description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument(
        "--runs", default="traced,1,4", help="which of: traced (1 worker, tracemalloc), 1, 4"
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pg", default=os.environ.get("OWNERGRAPH_BENCH_PG", PG_ADMIN))
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    with private_pg(args.pg) as url:
        if url is None:
            return ["### Live subscribers", "", "PostgreSQL did not answer: skipped.", ""]
        return asyncio.run(bench(url, args, SECRET))
