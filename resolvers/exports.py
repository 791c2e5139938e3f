"""Export with approval.

A MANAGER or REP asks for a CSV of customers: a filter, fields (resolvers/export_csv.py
knows which) and a reason. The requester's manager, a director above or an admin approves
or rejects it, never the requester. While approved and unexpired the requester downloads
it (ownergraph/exports_route.py) with the rows and fields they may see at that moment.
Every request, decision and download writes an audit row in its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from authz.plan import Plan
from authz.relations import BIT
from db.customers import CustomerFilter, count_customers
from db.enums import ExportStatus
from db.models import ExportRequest, Team, User
from kernel.errors import Conflict, Forbidden, NotFound
from kernel.messages import N_
from resolvers import validation
from resolvers.access import audit
from resolvers.context import Context
from resolvers.customers import customer_filter
from resolvers.export_csv import export_fields
from resolvers.ids import parse_id

DOWNLOAD_PATH = "/exports/{id}.csv"


def status_of(row: ExportRequest, now: datetime) -> ExportStatus:
    """EXPIRED is not stored: an approved export simply passes its expiry."""
    status = ExportStatus(row.status)
    if status is ExportStatus.APPROVED and (row.expires_at is None or row.expires_at <= now):
        return ExportStatus.EXPIRED
    return status


def download_url(ctx: Context, row: ExportRequest) -> str | None:
    """For the requester only, while the export is approved and unexpired."""
    if ctx.user_id != row.requested_by_id or status_of(row, ctx.now()) != ExportStatus.APPROVED:
        return None
    return DOWNLOAD_PATH.format(id=row.id)


# The filter is stored as the client gave it and read back through customer_filter at
# download time, so every filter field means there what it means for `customers`.


def _stored(raw: dict[str, Any] | None) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, datetime):
            return {"datetime": value.isoformat()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return {k: plain(v) for k, v in (raw or {}).items() if v is not None}


def _revived(stored: dict[str, Any]) -> dict[str, Any]:
    def value(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"datetime"}:
            return datetime.fromisoformat(v["datetime"])
        return v

    return {k: value(v) for k, v in stored.items()}


def export_filter(ctx: Context, row: ExportRequest) -> CustomerFilter:
    return customer_filter(ctx, _revived(row.filter))


# Who sees and decides which requests.


@dataclass(frozen=True)
class Reach:
    """Whose requests the caller decides: members of these teams, and these managers
    (of teams whose next manager up is the caller). None: everyone's."""

    team_ids: frozenset[int]
    manager_ids: frozenset[int]


def _person(plan: Plan) -> int:
    if plan.principal.user_id is None:
        raise Forbidden(N_("Exports are for people, not partner tokens."))
    return plan.principal.user_id


def _manager_above(team: Team, teams: dict[int, Team]) -> int | None:
    """Who approves for the manager of `team`: the nearest other manager up the tree."""
    parent = teams.get(team.parent_id) if team.parent_id else None
    for _ in range(len(teams)):
        if parent is None:
            return None
        if parent.manager_id is not None and parent.manager_id != team.manager_id:
            return parent.manager_id
        parent = teams.get(parent.parent_id) if parent.parent_id else None
    return None


async def _reach(plan: Plan, session: AsyncSession) -> Reach | None:
    if plan.allows("export", "decide", 0):  # only an `any` line passes with no relation
        return None
    uid = plan.principal.user_id
    team_ids: set[int] = set()
    manager_ids: set[int] = set()
    if plan.allows("export", "decide", BIT["subtree"]):
        team_ids |= plan.facts.subtree_ids
    if uid is not None and plan.allows("export", "decide", BIT["team"]):
        teams = {t.id: t for t in (await session.execute(select(Team))).scalars() if t.id}
        for team in teams.values():
            if team.manager_id == uid:
                team_ids.add(team.id or 0)
            elif team.manager_id is not None and _manager_above(team, teams) == uid:
                manager_ids.add(team.manager_id)
    return Reach(frozenset(team_ids), frozenset(manager_ids))


def _decidable(uid: int, reach: Reach | None) -> ColumnElement[bool]:
    """Requests by someone else whose decision is the caller's."""
    others = col(ExportRequest.requested_by_id) != uid
    if reach is None:
        return others
    if not reach.team_ids and not reach.manager_ids:
        return false()
    requesters = select(col(User.id)).where(
        or_(
            col(User.team_id).in_(sorted(reach.team_ids)),
            col(User.id).in_(sorted(reach.manager_ids)),
        )
    )
    return and_(others, col(ExportRequest.requested_by_id).in_(requesters))


def _visible(
    plan: Plan, uid: int, reach: Reach | None, *, decided_too: bool = False
) -> ColumnElement[bool]:
    """Their own, those waiting for their decision, those they decided; ADMIN: all.
    `decided_too`: also those decided by another approver the caller could have been."""
    if plan.allows("export", "read", 0):
        return true()
    decidable = _decidable(uid, reach)
    if not decided_too:
        decidable = and_(col(ExportRequest.status) == ExportStatus.PENDING, decidable)
    return or_(
        col(ExportRequest.requested_by_id) == uid,
        col(ExportRequest.decided_by_id) == uid,
        decidable,
    )


def _status_is(status: ExportStatus, now: datetime) -> ColumnElement[bool]:
    stored = col(ExportRequest.status)
    if status is ExportStatus.EXPIRED:
        return and_(stored == ExportStatus.APPROVED, col(ExportRequest.expires_at) <= now)
    if status is ExportStatus.APPROVED:
        return and_(stored == ExportStatus.APPROVED, col(ExportRequest.expires_at) > now)
    return stored == status


# Use cases.


async def request_export(
    ctx: Context, *, filter: dict[str, Any] | None, fields: list[str], reason: str
) -> ExportRequest:
    """Ask for a CSV; rowCount is what the caller may see under the filter right now."""
    plan = ctx.plan
    plan.require("export", "request")
    uid = _person(plan)
    chosen = export_fields(fields)
    reason = validation.reason(reason)
    stored = _stored(filter)
    spec = customer_filter(ctx, _revived(stored))
    async with ctx.transaction() as session:
        rows = await count_customers(session, scope=plan.customer_scope(), filter=spec)
        export = ExportRequest(
            requested_by_id=uid,
            filter=stored,
            fields=chosen,
            reason=reason,
            row_count=rows,
            status=ExportStatus.PENDING,
            created_at=ctx.now(),
        )
        session.add(export)
        await session.flush()
        audit(ctx, session, "export.request", None, id=export.id, fields=chosen, rowCount=rows)
    return export


async def decide_export(
    ctx: Context, export_id: object, approve: bool, note: str | None = None
) -> ExportRequest:
    plan = ctx.plan
    uid = _person(plan)
    ident = parse_id(export_id, "export request")
    note = validation.text(note, "note", required=False)
    now = ctx.now()
    async with ctx.transaction() as session:
        reach = await _reach(plan, session)
        found = (
            await session.execute(
                select(ExportRequest, _decidable(uid, reach).label("mine")).where(
                    col(ExportRequest.id) == ident,
                    # An approver who came too late hears CONFLICT, not NOT_FOUND.
                    _visible(plan, uid, reach, decided_too=True),
                )
            )
        ).one_or_none()
        if found is None:
            raise NotFound("export request", export_id)
        row, mine = found
        if row.requested_by_id == uid:
            raise Forbidden(N_("You cannot decide your own export request; your manager does."))
        if row.status != ExportStatus.PENDING:
            raise Conflict(N_("This export request is already {row}.", row=status_of(row, now)))
        if not mine:
            raise Forbidden(N_("You may not decide this export request."))
        ttl = timedelta(hours=ctx.settings.export_ttl_hours)
        # Conditional on PENDING: of two deciders at once exactly one wins.
        decided = await session.execute(
            update(ExportRequest)
            .where(
                col(ExportRequest.id) == ident, col(ExportRequest.status) == ExportStatus.PENDING
            )
            .values(
                status=ExportStatus.APPROVED if approve else ExportStatus.REJECTED,
                decided_by_id=uid,
                decided_at=now,
                note=note,
                expires_at=now + ttl if approve else None,
            )
            .execution_options(synchronize_session=False)
        )
        if decided.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(N_("Someone decided this export request meanwhile."))
        audit(ctx, session, "export.decide", None, id=ident, approve=approve, note=note)
    decided_row = await (await ctx.session()).get(ExportRequest, ident)
    assert decided_row is not None
    return decided_row


async def list_export_requests(
    ctx: Context,
    *,
    status: ExportStatus | None,
    first: int,
    after_id: int | None,
    ident: int | None = None,
) -> tuple[list[ExportRequest], bool]:
    """Newest first. `ident`: only that one (for `node(id:)`)."""
    plan = ctx.plan
    uid = _person(plan)
    session = await ctx.session()
    stmt = select(ExportRequest).where(_visible(plan, uid, await _reach(plan, session)))
    if status is not None:
        stmt = stmt.where(_status_is(ExportStatus(status), ctx.now()))
    if ident is not None:
        stmt = stmt.where(col(ExportRequest.id) == ident)
    if after_id is not None:
        stmt = stmt.where(col(ExportRequest.id) < after_id)
    stmt = stmt.order_by(col(ExportRequest.id).desc()).limit(first + 1)
    rows = list((await session.execute(stmt)).scalars())
    return rows[:first], len(rows) > first


async def open_download(ctx: Context, export_id: object) -> ExportRequest:
    """The caller's own approved, unexpired export, its download audited; anything else
    (missing, someone else's, pending, rejected, expired) is NOT_FOUND, all alike."""
    principal = ctx.plan.principal
    ident = parse_id(export_id, "export")
    async with ctx.transaction() as session:
        row = await session.get(ExportRequest, ident)
        if (
            row is None
            or principal.user_id is None
            or row.requested_by_id != principal.user_id
            or status_of(row, ctx.now()) != ExportStatus.APPROVED
        ):
            raise NotFound("export", export_id)
        audit(ctx, session, "export.download", None, id=ident, fields=row.fields)
    return row
