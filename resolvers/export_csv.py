"""What an export may contain, and its CSV.

Rows come in keyset batches (one statement each, plus one for contacts when a contact
field is asked for) under the requester's row scope of the moment, so a download holds
one batch in memory however many rows it has. Sensitive cells stay empty where the plan
masks them, and every cell is safe to open in Excel.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from authz.plan import Plan
from db.customers import CustomerFilter
from db.engine import Database
from db.models import Contact, Customer, Team, User
from kernel.errors import Validation
from kernel.messages import N_

SENSITIVE = "customer.sensitive"
# Excel reads a file as UTF-8 only when it starts with a byte order mark.
BOM = "\ufeff"
# A cell starting with one of these is a formula to Excel (a tab or CR can hide one).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Owner = aliased(User)
OwnerTeam = aliased(Team)


@dataclass(frozen=True)
class Column:
    sql: Any = None  # selected with each customer row
    contact: str | None = None  # or: this attribute of each contact, joined with "; "
    sensitive: bool = False
    render: Callable[[Any], Any] | None = None


# Exportable fields, named as on the GraphQL Customer type, in their default order.
COLUMNS: dict[str, Column] = {
    "id": Column(col(Customer.id)),
    "name": Column(col(Customer.name)),
    "industry": Column(col(Customer.industry)),
    "region": Column(col(Customer.region)),
    "size": Column(col(Customer.size)),
    "tier": Column(col(Customer.tier)),
    "stage": Column(col(Customer.stage)),
    "source": Column(col(Customer.source)),
    "tags": Column(col(Customer.tags)),
    "owner": Column(col(Owner.name)),
    "team": Column(col(OwnerTeam.name)),
    "inPool": Column(col(Customer.owner_id), render=lambda owner: owner is None),
    "ownerCreditShare": Column(col(Customer.owner_credit_share)),
    "taxId": Column(col(Customer.tax_id), sensitive=True),
    "dealValue": Column(col(Customer.deal_value), sensitive=True),
    "createdAt": Column(col(Customer.created_at)),
    "lastFollowUpAt": Column(col(Customer.last_follow_up_at)),
    "nextFollowUpDue": Column(col(Customer.next_follow_up_due)),
    "contactNames": Column(contact="name"),
    "contactPhones": Column(contact="phone", sensitive=True),
    "contactEmails": Column(contact="email", sensitive=True),
}


def export_fields(fields: list[str]) -> list[str]:
    """The asked-for fields, checked against COLUMNS, duplicates dropped, order kept."""
    chosen = list(dict.fromkeys(f.strip() for f in fields))
    unknown = [f for f in chosen if f not in COLUMNS]
    if chosen and not unknown:
        return chosen
    allowed = ", ".join(COLUMNS)
    if unknown:
        named = ", ".join(repr(f[:40]) for f in unknown[:5])
        problem = N_("Not an exportable field: {named}.", named=named)
    else:
        problem = N_("Name at least one field to export.")
    raise Validation(
        N_("{problem} Exportable: {allowed}.", problem=problem, allowed=allowed),
        field="fields",
        allowed=list(COLUMNS),
    )


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, list):
        text = "; ".join(str(v) for v in value)
    else:
        text = str(value)
    # The apostrophe makes Excel show the text as typed instead of evaluating it.
    return "'" + text if text.startswith(FORMULA_START) else text


def _line(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()


def _statement(plan: Plan, filter: CustomerFilter, fields: list[str], batch: int) -> Select[Any]:
    wanted = [(name, COLUMNS[name]) for name in fields]
    stmt = select(
        col(Customer.id).label("row_id"),
        plan.relation_mask().label("row_relations"),
        *(c.sql.label(name) for name, c in wanted if c.sql is not None),
    ).select_from(Customer)
    if "owner" in fields:
        stmt = stmt.outerjoin(Owner, col(Owner.id) == col(Customer.owner_id))
    if "team" in fields:
        stmt = stmt.outerjoin(OwnerTeam, col(OwnerTeam.id) == col(Customer.team_id))
    return (
        stmt.where(plan.customer_scope(), *filter.conditions())
        .order_by(col(Customer.id))
        .limit(batch)
    )


async def _contacts(session: AsyncSession, ids: list[int]) -> dict[int, list[Contact]]:
    found: dict[int, list[Contact]] = defaultdict(list)
    rows = await session.execute(
        select(Contact)
        .where(col(Contact.customer_id).in_(ids))
        .order_by(col(Contact.customer_id), col(Contact.id))
    )
    for contact in rows.scalars():
        found[contact.customer_id].append(contact)
    return found


def _row(plan: Plan, row: Any, contacts: list[Contact], fields: list[str]) -> list[str]:
    may_see = plan.allows(SENSITIVE, "read", int(row.row_relations or 0))
    out = []
    for name in fields:
        column = COLUMNS[name]
        if column.sensitive and not may_see:
            out.append("")
        elif column.contact is not None:
            attr = column.contact
            out.append(cell([v for c in contacts if (v := getattr(c, attr))]))
        else:
            value = getattr(row, name)
            out.append(cell(column.render(value) if column.render else value))
    return out


async def csv_chunks(
    db: Database, plan: Plan, filter: CustomerFilter, fields: list[str], *, batch: int
) -> AsyncIterator[bytes]:
    """The CSV, one chunk per batch. Each batch reads in its own short session, so a
    slow client holds no transaction open."""
    yield (BOM + _line(fields)).encode()
    stmt = _statement(plan, filter, fields, batch)
    with_contacts = any(COLUMNS[name].contact for name in fields)
    after = 0
    while True:
        async with db.read() as session:
            rows = (await session.execute(stmt.where(col(Customer.id) > after))).all()
            contacts = (
                await _contacts(session, [r.row_id for r in rows]) if with_contacts and rows else {}
            )
        if not rows:
            return
        out = io.StringIO()
        writer = csv.writer(out)
        for row in rows:
            writer.writerow(_row(plan, row, contacts.get(row.row_id, []), fields))
        yield out.getvalue().encode()
        if len(rows) < batch:
            return
        after = rows[-1].row_id
