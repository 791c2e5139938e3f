"""kill -9 in the middle of mergeCustomers leaves all or nothing.

On PostgreSQL the merge is caught mid-transaction for certain: the test holds a lock on
the audit log, which the merge's first ownership event writes to (migration 0004), so the
server is killed after every move but before its events and its commit. On SQLite, whose
single writer cannot be held up from outside, the server is killed while the request is in
flight, at a few points; whichever side of the commit the kill lands, it is all or nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from db.models import Contact, Customer, CustomerKey, FollowUp, OwnershipEvent
from tests.ownergraph.server import issue_cli_token, running

MERGE = 'mutation($k: ID!, $m: [ID!]!) { mergeCustomers(keepId: $k, mergeIds: $m, reason: "dup") { id } }'
MERGED = 40


async def _state(url: str, ids: list[int]) -> dict[str, Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            async def count(model: Any, *where: Any) -> int:
                return int(await conn.scalar(select(func.count()).select_from(model).where(*where)))

            of = Customer.id.in_(ids[1:])  # type: ignore[attr-defined]
            return {
                "merged": await count(Customer, of, Customer.merged_into_id.is_not(None)),  # type: ignore[union-attr]
                "owned": await count(Customer, of, Customer.owner_id.is_not(None)),  # type: ignore[union-attr]
                "keys": await count(CustomerKey, CustomerKey.customer_id.in_(ids[1:])),  # type: ignore[attr-defined]
                "contacts": await count(Contact, Contact.customer_id.in_(ids[1:])),  # type: ignore[attr-defined]
                "follow_ups": await count(FollowUp, FollowUp.customer_id.in_(ids[1:])),  # type: ignore[attr-defined]
                "events": await count(OwnershipEvent, OwnershipEvent.kind == "MERGED"),
            }
    finally:
        await engine.dispose()


async def _pick(url: str) -> list[int]:
    """An owned customer to keep and owned ones to merge into it, with keys and contacts."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(Customer.id)
                .where(
                    Customer.owner_id.is_not(None),  # type: ignore[union-attr]
                    Customer.pending_transfer_id.is_(None),  # type: ignore[union-attr]
                )
                .order_by(Customer.id)
                .limit(MERGED + 1)
            )
            return [int(r[0]) for r in rows]
    finally:
        await engine.dispose()


def _post(url: str, token: str, ids: list[int], done: list[Any]) -> None:
    try:
        done.append(
            httpx.post(
                url,
                json={
                    "query": MERGE,
                    "variables": {"k": str(ids[0]), "m": [str(i) for i in ids[1:]]},
                },
                headers={"authorization": f"Bearer {token}"},
                timeout=30,
            )
        )
    except httpx.TransportError as lost:
        done.append(lost)


def _nothing(before: dict[str, Any], after: dict[str, Any]) -> bool:
    return after == before


def _everything(before: dict[str, Any], after: dict[str, Any]) -> bool:
    return after == {
        "merged": MERGED,
        "owned": 0,
        "keys": 0,
        "contacts": 0,
        "follow_ups": 0,
        "events": before["events"] + MERGED,
    }


async def test_kill_mid_merge_leaves_all_or_nothing(database_url: str, tmp_path: Path) -> None:
    ids = await _pick(database_url)
    before = await _state(database_url, ids)
    assert before["merged"] == 0 and before["keys"] > 0 and before["contacts"] > 0
    token = issue_cli_token(database_url, tmp_path, "admin@demo.test")
    if database_url.startswith("postgresql"):
        await _killed_while_blocked(database_url, tmp_path, token, ids)
        assert _nothing(before, await _state(database_url, ids))
    else:
        for delay in (0.0, 0.02, 0.05, 0.1):
            with running(database_url, tmp_path) as server:
                done: list[Any] = []
                worker = threading.Thread(target=_post, args=(server.graphql, token, ids, done))
                worker.start()
                await asyncio.sleep(delay)  # where the kill lands, not how long anything takes
                os.kill(server.pid, signal.SIGKILL)
                worker.join()
            after = await _state(database_url, ids)
            assert _nothing(before, after) or _everything(before, after), after
            if _everything(before, after):
                return
    # Nothing was half done: the merge still goes through, whole.
    with running(database_url, tmp_path) as server:
        done = []
        _post(server.graphql, token, ids, done)
        assert "errors" not in done[0].json(), done[0].text
    assert _everything(before, await _state(database_url, ids))


async def _killed_while_blocked(url: str, tmp_path: Path, token: str, ids: list[int]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as holder:
            await holder.execute(text("LOCK TABLE audit_entry IN SHARE ROW EXCLUSIVE MODE"))
            with running(url, tmp_path) as server:
                done: list[Any] = []
                worker = threading.Thread(target=_post, args=(server.graphql, token, ids, done))
                worker.start()
                for _ in range(600):  # until the merge waits on the lock, mid-transaction
                    # Statistics are a snapshot per transaction: look afresh each time.
                    await holder.execute(text("SELECT pg_stat_clear_snapshot()"))
                    waiting = await holder.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND wait_event_type = 'Lock'"
                        )
                    )
                    if waiting:
                        break
                    await asyncio.sleep(0.05)
                assert waiting, server.logged()[-2000:]
                os.kill(server.pid, signal.SIGKILL)
                worker.join()
                assert isinstance(done[0], httpx.TransportError)
            await holder.rollback()
        # The killed server's session ends when its connection is found dead.
        async with engine.connect() as conn:
            for _ in range(600):
                busy = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND pid <> pg_backend_pid() AND state <> 'idle'"
                    )
                )
                if not busy:
                    break
                await asyncio.sleep(0.05)
    finally:
        await engine.dispose()
