"""The audit log: who read sensitive fields, changed ownership, rules, tokens or users.

Rows are written by the use cases themselves (`resolvers.access.audit`, sensitive reads in
`Context.flush_audits`) and never changed: a database trigger refuses UPDATE and DELETE
(migration 0004). Reading it is for AUDITOR and ADMIN (`audit, read` in policy.csv).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select, true
from sqlmodel import col

from db.models import AuditEntry, Partner
from kernel.errors import Validation
from kernel.messages import N_
from resolvers.context import Context
from resolvers.ids import parse_optional_id


@dataclass(frozen=True)
class Entry:
    row: AuditEntry
    partner_name: str | None


@dataclass(frozen=True)
class AuditPage:
    entries: list[Entry]
    more: bool
    # The filter without the cursor, for totalCount.
    where: ColumnElement[bool]


def _time(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Validation(
            N_("`{name}` needs a time zone, e.g. 2026-07-01T00:00:00Z.", name=name), argument=name
        )
    return value


def audit_filter(
    *,
    action: str | None = None,
    actor_id: object | None = None,
    customer_id: object | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ColumnElement[bool]:
    """The filters as one SQL condition: exact action, actor, customer; `since` inclusive,
    `until` exclusive."""
    conds: list[ColumnElement[bool]] = []
    if action is not None:
        conds.append(col(AuditEntry.action) == action.strip())
    if (actor := parse_optional_id(actor_id, "user")) is not None:
        conds.append(col(AuditEntry.actor_id) == actor)
    if (customer := parse_optional_id(customer_id, "customer")) is not None:
        conds.append(col(AuditEntry.customer_id) == customer)
    if (start := _time(since, "since")) is not None:
        conds.append(col(AuditEntry.at) >= start)
    if (end := _time(until, "until")) is not None:
        conds.append(col(AuditEntry.at) < end)
    return and_(true(), *conds)


async def audit_log(
    ctx: Context,
    *,
    first: int,
    after_id: int | None,
    action: str | None = None,
    actor_id: object | None = None,
    customer_id: object | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    ident: int | None = None,
) -> AuditPage:
    """A page of entries, newest first, and whether older ones follow."""
    ctx.plan.require("audit", "read")
    where = audit_filter(
        action=action, actor_id=actor_id, customer_id=customer_id, since=since, until=until
    )
    stmt = (
        select(AuditEntry, col(Partner.name))
        .outerjoin(Partner, col(Partner.id) == col(AuditEntry.partner_id))
        .where(where)
    )
    if ident is not None:  # one entry, for `node(id:)`
        stmt = stmt.where(col(AuditEntry.id) == ident)
    if after_id is not None:
        stmt = stmt.where(col(AuditEntry.id) < after_id)
    stmt = stmt.order_by(col(AuditEntry.id).desc()).limit(first + 1)
    rows = (await (await ctx.session()).execute(stmt)).all()
    entries = [Entry(row, partner) for row, partner in rows[:first]]
    return AuditPage(entries, len(rows) > first, where)


async def count_audit_entries(ctx: Context, where: ColumnElement[bool]) -> int:
    stmt = select(func.count()).select_from(AuditEntry).where(where)
    return int((await (await ctx.session()).execute(stmt)).scalar_one())
