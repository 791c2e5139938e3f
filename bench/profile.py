"""Where a dashboard request's time goes, in process: GC share, collections and memory
blocks per request, and (with --cprofile) the top functions.

    python -m bench.profile [--customers 10000] [--requests 300] [--cprofile] [--database-url URL]

The app is called as ASGI directly (no HTTP client in the profile), with the same GC
tuning as `ownergraph serve` (ownergraph/runtime.py) unless --default-gc.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import orjson

from bench.__main__ import DASHBOARD, ME, SECRET, UNLIMITED, prepare
from kernel.clock import SystemClock
from kernel.settings import Settings
from ownergraph.app import create_app

try:
    from ownergraph.runtime import tune_gc
except ImportError:  # an older tree (see --before in bench/__main__.py)

    def tune_gc() -> None:
        pass


async def call(app: Any, body: bytes, token: str) -> bytes:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    sent = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(chunks)


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'p.db'}"
        token = await prepare(url, args.customers, args.role)
        settings = Settings(
            database_url=url,
            jwt_secret=SECRET,
            rate_limit_points=UNLIMITED,
            rate_limit_restore_rate=UNLIMITED,
        )
        app = create_app(settings, clock=SystemClock())
        query = {"dashboard": DASHBOARD, "me": ME}[args.query]
        body = orjson.dumps({"query": query})
        for _ in range(20):
            answer = orjson.loads(await call(app, body, token))
            assert not answer.get("errors"), answer
        if not args.default_gc:
            tune_gc()
        if args.thresholds:
            gc.set_threshold(*(int(x) for x in args.thresholds.split(",")))
        gc_time = 0.0
        started = 0.0

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            nonlocal gc_time, started
            if phase == "start":
                started = time.perf_counter()
            else:
                gc_time += time.perf_counter() - started

        gc.callbacks.append(on_gc)
        before = [g["collections"] for g in gc.get_stats()]
        profiler = cProfile.Profile() if args.cprofile else None
        cpu0 = time.process_time()
        if profiler:
            profiler.enable()
        for _ in range(args.requests):
            await call(app, body, token)
        if profiler:
            profiler.disable()
        cpu = time.process_time() - cpu0
        gc.callbacks.remove(on_gc)
        after = [g["collections"] for g in gc.get_stats()]
        tracemalloc.start()
        await call(app, body, token)
        current, peak = tracemalloc.get_traced_memory()
        snapshot = tracemalloc.take_snapshot()
        tracemalloc.stop()
        blocks = sum(s.count for s in snapshot.statistics("filename"))
        n = args.requests
        print(f"{args.role}: CPU per {args.query} request {1000 * cpu / n:.2f} ms (in process)")
        print(f"GC: {100 * gc_time / cpu:.1f}% of CPU; collections per 1000 requests:", end=" ")
        print(
            ", ".join(
                f"gen{i} {1000 * (a - b) / n:.0f}"
                for i, (a, b) in enumerate(zip(after, before, strict=True))
            )
        )
        print(f"memory per request: peak {peak / 1024:.0f} KiB traced, {blocks} blocks still held")
        await app.state.services.db.dispose()
        if profiler:
            if args.dump:
                profiler.dump_stats(args.dump)
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats(args.sort).print_stats(args.top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument(
        "--database-url",
        help="an empty database to fill and profile on (PostgreSQL: the server's own CPU is "
        "not in the figures); a temporary SQLite file by default",
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--query", default="dashboard", choices=["dashboard", "me"])
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--sort", default="tottime", help="cProfile order: tottime, cumulative")
    parser.add_argument("--role", default="manager.east@demo.test", help="the caller's email")
    parser.add_argument("--default-gc", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--dump", help="also write the cProfile stats to this file")
    parser.add_argument("--thresholds", help="gc.set_threshold values to try, e.g. 700,10,10")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
