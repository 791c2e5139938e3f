"""Read paths as Core rows: only the columns asked for, no ORM entities, one statement per
relation for a whole page. `Row` objects answer attribute access like the entities
(`row.name`), so the schema builds from either."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Row,
    Select,
    Table,
    bindparam,
    func,
    select,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.customers import (
    CustomerFilter,
    Memo,
    ScopedRow,
    build_each_time,
    memo_key,
    or_branches,
)
from db.enums import DisputeStatus


def table(model: Any) -> Table:
    return cast(Table, model.__table__)


CUSTOMER = table(models.Customer)
USERS = table(models.User)
TEAM = table(models.Team)
CONTACT = table(models.Contact)
COLLABORATOR = table(models.Collaborator)
FOLLOW_UP = table(models.FollowUp)
DISPUTE = table(models.Dispute)
EVENT = table(models.OwnershipEvent)
OPEN_DISPUTES = (DisputeStatus.OPEN, DisputeStatus.ESCALATED)

Rows = list[Any]
# A page's cursor: a parameter, so one statement serves every page after the first.
AFTER_ID: BindParameter[int] = bindparam("after_id")


async def page_rows(
    session: AsyncSession,
    *,
    columns: Iterable[str],
    scope: ColumnElement[bool],
    mask: ColumnElement[int],
    filter: CustomerFilter,
    first: int,
    after_id: int | None,
    extra: Sequence[ColumnElement[Any]] = (),
    memo: Memo = build_each_time,
) -> tuple[Rows, bool]:
    """One page of customers in id order with the caller's relation bits, and whether
    more follow. `columns` are the customer columns to read (`id` always); `extra`,
    labelled expressions over the customer row read with them; `memo` keeps the
    statement for the next page like it (the cursor is a parameter)."""
    names = tuple(sorted({"id", *columns}))
    after = after_id is not None
    key = memo_key(filter, "page", scope, mask, names, tuple(extra), first, after)

    def build() -> Select[Any]:
        found = select(*(CUSTOMER.c[n] for n in names), *extra, mask.label("relations"))
        if session.get_bind().dialect.name == "sqlite":
            ids = _page_ids(scope, filter, first, after)
            return found.where(CUSTOMER.c.id.in_(ids)).order_by(CUSTOMER.c.id)
        # PostgreSQL plans the OR with its LIMIT by cost: an index walk in id order for
        # a dense scope, a bitmap of the search's trigram index and a sort for a search.
        found = found.where(scope, *filter.conditions()).order_by(CUSTOMER.c.id)
        if after:
            found = found.where(CUSTOMER.c.id > AFTER_ID)
        return found.limit(first + 1)

    stmt = memo(key, build)
    params = {"after_id": after_id} if after else {}
    rows = list((await session.execute(stmt, params)).all())
    return rows[:first], len(rows) > first


def _page_ids(
    scope: ColumnElement[bool], filter: CustomerFilter, first: int, after: bool
) -> Select[Any]:
    """SQLite: the page's ids, each relation of an OR scope (owned, in the pool, ...) asked
    for its own first rows after the cursor, from its own index in id order, and the union
    cut to the page. For one ORDER BY over the whole OR SQLite collects every row the
    scope holds by MULTI-INDEX OR and sorts them (a pool of a million holds 177k)."""

    def first_of(condition: ColumnElement[bool]) -> Select[Any]:
        stmt = select(CUSTOMER.c.id).where(condition, *filter.conditions())
        if after:
            stmt = stmt.where(CUSTOMER.c.id > AFTER_ID)
        return stmt.order_by(CUSTOMER.c.id).limit(first + 1)

    branches = or_branches(scope)
    if len(branches) < 2:
        return first_of(scope)
    arms = [select(arm.c.id) for arm in (first_of(b).subquery() for b in branches)]
    ids = union(*arms).subquery()
    return select(ids.c.id).order_by(ids.c.id).limit(first + 1)


# The relation statements are built once: per request only the ids change (an expanding
# bind parameter), so neither the expression nor its cache key is made again.
IDS: BindParameter[int] = bindparam("ids", expanding=True)


def _ranked_latest() -> Any:
    ranked = (
        select(
            FOLLOW_UP,
            func.row_number()
            .over(
                partition_by=FOLLOW_UP.c.customer_id,
                order_by=(FOLLOW_UP.c.at.desc(), FOLLOW_UP.c.id.desc()),
            )
            .label("n"),
        )
        .where(FOLLOW_UP.c.customer_id.in_(IDS))
        .subquery()
    )
    return select(*(ranked.c[c.key] for c in FOLLOW_UP.c)).where(ranked.c.n == 1)


USERS_BY_ID = select(USERS).where(USERS.c.id.in_(IDS))
TEAMS_BY_ID = select(TEAM).where(TEAM.c.id.in_(IDS))
CONTACTS_OF = select(CONTACT).where(CONTACT.c.customer_id.in_(IDS)).order_by(CONTACT.c.id)
COLLABORATORS_OF = (
    select(COLLABORATOR)
    .where(COLLABORATOR.c.customer_id.in_(IDS))
    .order_by(COLLABORATOR.c.customer_id, COLLABORATOR.c.user_id)
)
LATEST_FOLLOW_UP_OF = _ranked_latest()
OPEN_DISPUTES_OF = (
    select(DISPUTE)
    .where(DISPUTE.c.customer_id.in_(IDS), DISPUTE.c.status.in_(OPEN_DISPUTES))
    .order_by(DISPUTE.c.id)
)


async def _rows(session: AsyncSession, stmt: Any, ids: Iterable[int]) -> Rows:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    return list(await session.execute(stmt, {"ids": wanted}))


async def users_by_ids(session: AsyncSession, ids: Iterable[int]) -> dict[int, Row[Any]]:
    return {r.id: r for r in await _rows(session, USERS_BY_ID, ids)}


async def teams_by_ids(session: AsyncSession, ids: Iterable[int]) -> dict[int, Row[Any]]:
    return {r.id: r for r in await _rows(session, TEAMS_BY_ID, ids)}


def _grouped(rows: Iterable[Row[Any]], key: str = "customer_id") -> dict[int, Rows]:
    grouped: dict[int, Rows] = defaultdict(list)
    for r in rows:
        grouped[getattr(r, key)].append(r)
    return grouped


async def contacts_of(session: AsyncSession, customer_ids: Sequence[int]) -> dict[int, Rows]:
    return _grouped(await _rows(session, CONTACTS_OF, customer_ids))


async def collaborators_of(session: AsyncSession, customer_ids: Sequence[int]) -> dict[int, Rows]:
    return _grouped(await _rows(session, COLLABORATORS_OF, customer_ids))


async def latest_follow_ups(
    session: AsyncSession, customer_ids: Sequence[int]
) -> dict[int, Row[Any]]:
    return {r.customer_id: r for r in await _rows(session, LATEST_FOLLOW_UP_OF, customer_ids)}


async def open_disputes_of(session: AsyncSession, customer_ids: Sequence[int]) -> dict[int, Rows]:
    return _grouped(await _rows(session, OPEN_DISPUTES_OF, customer_ids))


async def scoped_by_ids(
    session: AsyncSession,
    ids: Sequence[int],
    *,
    scope: ColumnElement[bool],
    mask: ColumnElement[int],
) -> dict[int, ScopedRow]:
    """The visible ones among `ids`, every column, as Core rows with relation bits."""
    if not ids:
        return {}
    stmt = select(CUSTOMER, mask.label("relations")).where(scope, CUSTOMER.c.id.in_(list(ids)))
    # A Row answers the same attribute reads as the entity (read paths never write it).
    return {
        r.id: ScopedRow(cast(models.Customer, r), int(r.relations or 0))
        for r in await session.execute(stmt)
    }


async def merged_into(session: AsyncSession, ids: Sequence[int]) -> dict[int, int]:
    """Which of `ids` were merged, and into which customer."""
    stmt = select(CUSTOMER.c.id, CUSTOMER.c.merged_into_id).where(
        CUSTOMER.c.id.in_(list(ids)), CUSTOMER.c.merged_into_id.is_not(None)
    )
    return {r.id: r.merged_into_id for r in await session.execute(stmt)}
