"""PostGraphile 4, the engine a team would pick instead, over the same PostgreSQL data.

Installed from the npm registry at the version bench/peer/package-lock.json pins
(`npm ci`, into bench/peer/node_modules, git-ignored). bench/peer/setup.sql gives it the
MANAGER scope by row-level security and the two computed columns the dashboard needs;
bench/peer/server.js runs it (one Node process, library mode, JIT off like ownergraph).
Its answer, in its own naming, is mapped to ownergraph's shape and compared with the
reference's before anything is timed: the same rows, the same values.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

HERE = Path(__file__).resolve().parent / "peer"
NAME = "postgraphile"
DASHBOARD = (
    "{ allCustomers(first: 50, orderBy: PRIMARY_KEY_ASC) { totalCount edges { node { "
    "id name tier stage userByOwnerId { id name } teamByTeamId { id name } "
    "collaboratorsByCustomerIdList(orderBy: PRIMARY_KEY_ASC) { role creditShare "
    "userByUserId { id name } } latestFollowUp { at summary } openDisputesList { id status } "
    "} } pageInfo { hasNextPage endCursor } } }"
)


def unavailable(url: str) -> str | None:
    """Why the peer cannot run here, or None."""
    if not url.startswith("postgresql"):
        return "PostGraphile runs on PostgreSQL only"
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found: PostGraphile skipped"
    return None


def install() -> None:
    """`npm ci` when node_modules is missing or older than the lock file."""
    stamp = HERE / "node_modules" / ".package-lock.json"
    lock = HERE / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)


def _plain(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


async def setup(url: str) -> None:
    conn = await asyncpg.connect(_plain(url))
    try:
        await conn.execute((HERE / "setup.sql").read_text())
    finally:
        await conn.close()


def start(url: str, port: int, pool: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, DATABASE_URL=_plain(url), PORT=str(port), POOL=str(pool))
    # node itself (not npx or a shell), so the CPU read from /proc is the server's.
    process = subprocess.Popen(["node", "server.js"], cwd=HERE, env=env)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("PostGraphile did not start")


def _gid(type_name: str, ident: int) -> str:
    return base64.b64encode(f"{type_name}:{ident}".encode()).decode()


def _ref(type_name: str, row: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if row is None else {"id": _gid(type_name, row["id"]), "name": row["name"]}


def as_ownergraph(data: dict[str, Any]) -> dict[str, Any]:
    """PostGraphile's answer in ownergraph's names and ids (its cursors are its own)."""
    page = data["allCustomers"]
    edges = []
    for edge in page["edges"]:
        n = edge["node"]
        edges.append(
            {
                "node": {
                    "id": _gid("Customer", n["id"]),
                    "name": n["name"],
                    "tier": n["tier"],
                    "stage": n["stage"],
                    "owner": _ref("User", n["userByOwnerId"]),
                    "team": _ref("Team", n["teamByTeamId"]),
                    "collaborators": [
                        {
                            "role": c["role"],
                            "creditShare": c["creditShare"],
                            "user": _ref("User", c["userByUserId"]),
                        }
                        for c in n["collaboratorsByCustomerIdList"]
                    ],
                    "latestFollowUp": n["latestFollowUp"],
                    "openDisputes": [
                        {"id": _gid("Dispute", d["id"]), "status": d["status"]}
                        for d in n["openDisputesList"]
                    ],
                }
            }
        )
    return {
        "customers": {
            "totalCount": page["totalCount"],
            "edges": edges,
            "pageInfo": page["pageInfo"],
        }
    }


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    """What must be equal across engines: instants compared as instants, cursors by
    presence only (each engine's cursor is its own opaque string)."""
    page = data["customers"]
    edges = []
    for edge in page["edges"]:
        node = dict(edge["node"])
        latest = node.get("latestFollowUp")
        if latest is not None:
            node["latestFollowUp"] = {**latest, "at": datetime.fromisoformat(latest["at"])}
        edges.append({"node": node})
    info = page["pageInfo"]
    return {
        "totalCount": page["totalCount"],
        "edges": edges,
        "pageInfo": {"hasNextPage": info["hasNextPage"], "end": info["endCursor"] is not None},
    }
