"""The hand-written reference: what a team would write without GraphQL. Starlette, SQL
written for exactly the dashboard query and `{ me { id } }`, orjson; the same database,
the same token check (hash lookup, revocation, expiry, active user) and the same MANAGER
scope (own and managed teams, plus the pool). It exists to be measured against.

    OWNERGRAPH_DATABASE_URL=... uvicorn bench.reference:app
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, or_, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from db import models
from db.engine import create_engine
from db.rows import COLLABORATOR, CUSTOMER, DISPUTE, FOLLOW_UP, OPEN_DISPUTES, TEAM, USERS, table

TOKEN = table(models.ApiToken)
engine = create_engine(os.environ.get("OWNERGRAPH_DATABASE_URL", "sqlite:///./ownergraph.db"))


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _user(conn: Any, request: Request) -> Any:
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip()
    digest = hashlib.sha256(token.encode()).hexdigest()
    now = datetime.now(UTC)
    row = (
        await conn.execute(
            select(USERS.c.id, USERS.c.team_id)
            .join(TOKEN, TOKEN.c.user_id == USERS.c.id)
            .where(
                TOKEN.c.token_hash == digest,
                TOKEN.c.revoked_at.is_(None),
                or_(TOKEN.c.expires_at.is_(None), TOKEN.c.expires_at > now),
                USERS.c.active.is_(True),
            )
        )
    ).first()
    return row


async def graphql(request: Request) -> Response:
    body = orjson.loads(await request.body())
    query = body.get("query", "")
    async with engine.connect() as conn:
        user = await _user(conn, request)
        if user is None:
            return _json({"errors": [{"message": "Sign in."}]}, 401)
        if "customers" not in query:
            return _json({"data": {"me": {"id": _gid("User", user.id)}}})
        return _json(await _dashboard(conn, user))


async def _dashboard(conn: Any, user: Any) -> dict[str, Any]:
    managed = (await conn.execute(select(TEAM.c.id).where(TEAM.c.manager_id == user.id))).all()
    teams = sorted({t.id for t in managed} | ({user.team_id} if user.team_id else set()))
    scope = or_(CUSTOMER.c.team_id.in_(teams), CUSTOMER.c.owner_id.is_(None))
    c = CUSTOMER.c
    page = (
        await conn.execute(
            select(c.id, c.name, c.tier, c.stage, c.owner_id, c.team_id)
            .where(scope)
            .order_by(c.id)
            .limit(51)
        )
    ).all()
    more, page = len(page) > 50, page[:50]
    total = (await conn.execute(select(func.count()).select_from(CUSTOMER).where(scope))).scalar()
    ids = [r.id for r in page]
    collabs: dict[int, list[Any]] = defaultdict(list)
    for r in await conn.execute(
        select(COLLABORATOR)
        .where(COLLABORATOR.c.customer_id.in_(ids))
        .order_by(COLLABORATOR.c.customer_id, COLLABORATOR.c.user_id)
    ):
        collabs[r.customer_id].append(r)
    people = {r.owner_id for r in page if r.owner_id} | {
        x.user_id for xs in collabs.values() for x in xs
    }
    users = {
        r.id: {"id": _gid("User", r.id), "name": r.name}
        for r in await conn.execute(select(USERS.c.id, USERS.c.name).where(USERS.c.id.in_(people)))
    }
    team_ids = {r.team_id for r in page if r.team_id}
    team_rows = {
        r.id: {"id": _gid("Team", r.id), "name": r.name}
        for r in await conn.execute(select(TEAM.c.id, TEAM.c.name).where(TEAM.c.id.in_(team_ids)))
    }
    f = FOLLOW_UP.c
    ranked = (
        select(
            f.customer_id,
            f.at,
            f.summary,
            func.row_number()
            .over(partition_by=f.customer_id, order_by=(f.at.desc(), f.id.desc()))
            .label("n"),
        )
        .where(f.customer_id.in_(ids))
        .subquery()
    )
    latest = {
        r.customer_id: {"at": _iso(r.at), "summary": r.summary}
        for r in await conn.execute(
            select(ranked.c.customer_id, ranked.c.at, ranked.c.summary).where(ranked.c.n == 1)
        )
    }
    disputes: dict[int, list[Any]] = defaultdict(list)
    for r in await conn.execute(
        select(DISPUTE.c.id, DISPUTE.c.customer_id, DISPUTE.c.status)
        .where(DISPUTE.c.customer_id.in_(ids), DISPUTE.c.status.in_(OPEN_DISPUTES))
        .order_by(DISPUTE.c.id)
    ):
        disputes[r.customer_id].append({"id": _gid("Dispute", r.id), "status": r.status})
    edges = [
        {
            "node": {
                "id": _gid("Customer", r.id),
                "name": r.name,
                "tier": r.tier,
                "stage": r.stage,
                "owner": users.get(r.owner_id) if r.owner_id else None,
                "team": team_rows.get(r.team_id) if r.team_id else None,
                "collaborators": [
                    {"role": x.role, "creditShare": x.credit_share, "user": users[x.user_id]}
                    for x in collabs.get(r.id, ())
                ],
                "latestFollowUp": latest.get(r.id),
                "openDisputes": disputes.get(r.id, []),
            }
        }
        for r in page
    ]
    end = _cursor(page[-1].id) if page else None
    return {
        "data": {
            "customers": {
                "totalCount": total,
                "edges": edges,
                "pageInfo": {"hasNextPage": more, "endCursor": end},
            }
        }
    }


def _gid(type_name: str, ident: int) -> str:
    """A Relay global id, as the API answers it (base64 of "Type:id")."""
    return base64.b64encode(f"{type_name}:{ident}".encode()).decode()


def _cursor(ident: int) -> str:
    import base64

    return base64.urlsafe_b64encode(f"og:{ident}".encode()).decode().rstrip("=")


app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])
