"""Write throughput: claims/s and follow-ups/s with 16 clients, through the API.

The three demo REPs (capacity lifted for the run, so the capacity rule does not end it)
claim distinct pool customers, and log follow-ups on customers they own, each client on
its own keep-alive connection. Every answer is checked: a claim refused with CONFLICT
or COOLDOWN_ACTIVE is counted apart, any other error stops the run.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from collections.abc import Callable

import orjson
from sqlalchemy import select, update
from sqlmodel import col

from bench.load import _read_response, request_bytes
from db.engine import open_database
from db.models import Customer, User

# What a rule may answer a claim (someone else won it, the claimant's own cooldown).
REFUSALS = {"CONFLICT", "COOLDOWN_ACTIVE"}
REPS = ["alice@demo.test", "bob@demo.test", "carol@demo.test"]
CLAIM = "mutation C($id: ID!) { claimCustomer(customerId: $id) { id } }"
FOLLOW_UP = (
    "mutation F($id: ID!) { logFollowUp(input: {customerId: $id, channel: CALL, "
    'summary: "Benchmark call"}) { id } }'
)


def _gid(ident: int) -> str:
    return base64.b64encode(f"Customer:{ident}".encode()).decode()


async def _work(url: str) -> tuple[dict[str, list[int]], list[int]]:
    """Each rep's own customers, and the pool (capacities lifted)."""
    db = open_database(url)
    try:
        async with db.write() as s, s.begin():
            await s.execute(update(User).where(col(User.email).in_(REPS)).values(capacity=10**6))
        async with db.read() as s:
            who = select(col(User.email), col(User.id)).where(col(User.email).in_(REPS))
            users = {r.email: r.id for r in await s.execute(who)}
            owned = {
                email: list(
                    (
                        await s.scalars(
                            select(col(Customer.id)).where(col(Customer.owner_id) == uid).limit(200)
                        )
                    ).all()
                )
                for email, uid in users.items()
            }
            pool = list(
                (
                    await s.scalars(
                        select(col(Customer.id))
                        .where(col(Customer.owner_id).is_(None))
                        .order_by(col(Customer.id))
                    )
                ).all()
            )
    finally:
        await db.dispose()
    return {e: [int(i or 0) for i in ids] for e, ids in owned.items()}, [int(i or 0) for i in pool]


async def _drive(
    port: int,
    jobs: Callable[[int], tuple[str, bytes] | None],
    seconds: float,
    connections: int,
) -> tuple[int, int, float]:
    """Successes, conflicts and elapsed seconds; `jobs(client)` gives (token, body)."""
    done = conflicts = 0
    stop = time.perf_counter() + seconds

    async def client(n: int) -> None:
        nonlocal done, conflicts
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop and (job := jobs(n)) is not None:
                token, body = job
                writer.write(request_bytes(port, body, token))
                answer = orjson.loads(await _read_response(reader))
                if not answer.get("errors"):
                    done += 1
                elif answer["errors"][0].get("extensions", {}).get("code") in REFUSALS:
                    conflicts += 1
                else:
                    raise RuntimeError(str(answer)[:300])
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(connections)))
    return done, conflicts, time.perf_counter() - t0


async def measure(
    port: int, url: str, tokens: dict[str, str], *, seconds: float, connections: int
) -> list[str]:
    owned, pool = await _work(url)
    pool_left = iter(pool)

    def claim(n: int) -> tuple[str, bytes] | None:
        ident = next(pool_left, None)
        if ident is None:
            return None
        body = orjson.dumps({"query": CLAIM, "variables": {"id": _gid(ident)}})
        return tokens[REPS[n % len(REPS)]], body

    cycles = {e: itertools.cycle(ids) for e, ids in owned.items() if ids}

    def follow_up(n: int) -> tuple[str, bytes] | None:
        email = REPS[n % len(REPS)]
        body = orjson.dumps({"query": FOLLOW_UP, "variables": {"id": _gid(next(cycles[email]))}})
        return tokens[email], body

    f_done, _, f_took = await _drive(port, follow_up, seconds, connections)
    c_done, c_conflicts, c_took = await _drive(port, claim, seconds, connections)
    return [
        f"Writes ({connections} clients, {seconds:g} s each, three REPs): "
        f"**{f_done / f_took:.0f} follow-ups/s**, **{c_done / c_took:.0f} claims/s** "
        f"({c_conflicts} claims refused by a rule: CONFLICT or COOLDOWN_ACTIVE).",
        "",
    ]
