"""Customer queries. The caller's row scope arrives as a SQL condition (from authz) and is
applied here, in the WHERE, so counts and pages are right for every caller."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, not_, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BooleanClauseList
from sqlmodel import col

from db.models import Customer
from db.search import name_contains
from db.tally import TALLY, tallied


@dataclass(frozen=True)
class CustomerFilter:
    owner_id: int | None = None
    team_id: int | None = None
    region: str | None = None
    industry: str | None = None
    tier: str | None = None
    stage: str | None = None
    in_pool: bool | None = None
    overdue_at: datetime | None = None  # due before this time
    not_overdue_at: datetime | None = None
    search: str | None = None  # folded with the duplicate-key normaliser by the caller
    pool_id: int | None = None
    # Locked (True) or not (False) at this time: (flag, now).
    locked: tuple[bool, datetime] | None = None
    # Further conditions worked out by the caller (recycleDueBefore: db/pools.py).
    extra: tuple[ColumnElement[bool], ...] = ()

    def conditions(self) -> list[ColumnElement[bool]]:
        c: list[ColumnElement[bool]] = []
        for column, value in (
            (col(Customer.owner_id), self.owner_id),
            (col(Customer.team_id), self.team_id),
            (col(Customer.region), self.region),
            (col(Customer.industry), self.industry),
            (col(Customer.tier), self.tier),
            (col(Customer.stage), self.stage),
        ):
            if value is not None:
                c.append(column == value)
        if self.in_pool is not None:
            c.append(
                col(Customer.owner_id).is_(None)
                if self.in_pool
                else col(Customer.owner_id).is_not(None)
            )
        if self.overdue_at is not None:
            c.append(col(Customer.next_follow_up_due) < self.overdue_at)
        if self.not_overdue_at is not None:
            c.append(
                (col(Customer.next_follow_up_due).is_(None))
                | (col(Customer.next_follow_up_due) >= self.not_overdue_at)
            )
        if self.search:
            c.append(name_contains(self.search))
        if self.pool_id is not None:
            c.append(col(Customer.pool_id) == self.pool_id)
        if self.locked is not None:
            flag, now = self.locked
            until = col(Customer.locked_until)
            held = and_(col(Customer.locked_at).is_not(None), or_(until.is_(None), until > now))
            c.append(held if flag else not_(held))
        c.extend(self.extra)
        return c


# Keeps a statement by key and gives it back (authz.plan.Plan.memo; a None key: built
# each time): executing the same statement object again skips SQLAlchemy's walk of it
# for its cache key.
Memo = Callable[[Hashable | None, Callable[[], Any]], Any]


def build_each_time(key: Hashable | None, build: Callable[[], Any]) -> Any:
    return build()


def memo_key(filter: CustomerFilter, *parts: Hashable) -> Hashable | None:
    """A key for a statement over `filter`, or None (not kept) where the filter brings
    expressions built per request (which would make every key new)."""
    return None if filter.extra else (filter, *parts)


@dataclass(frozen=True)
class ScopedRow:
    """A customer with the caller's relation bits to it (see authz.plan.relation_mask)."""

    customer: Customer
    relations: int


def _select(scope: ColumnElement[bool], mask: ColumnElement[int]) -> Select[Customer, int]:
    return select(Customer, mask.label("relations")).where(scope)


# Marks a relation that may hold most of the table (authz.relations: a pool).
BROAD = "ownergraph_broad"


def broad(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """Mark a term of a relation that may hold most of the table (a pool's `owner_id IS
    NULL`), so a count answers that relation from its own index and adds the narrow ones
    only where they add to it (`count_customers`)."""
    return condition._annotate({BROAD: True})


def is_broad(condition: ColumnElement[bool]) -> bool:
    """The condition, or a term of its AND, was marked `broad` (a term: an AND of ANDs
    flattens, and the inner AND's own marks go with it)."""
    if condition._annotations.get(BROAD):
        return True
    clauses = getattr(condition, "clauses", ())
    return isinstance(condition, BooleanClauseList) and any(
        c._annotations.get(BROAD) for c in clauses
    )


async def count_customers(
    session: AsyncSession,
    *,
    scope: ColumnElement[bool],
    filter: CustomerFilter,
    memo: Memo = build_each_time,
) -> int:
    """How many customers match. A scope that is an OR of relations (a REP's: owned, or
    collaborating, or in the pool, ...) is counted branch by branch, each answered from
    its own index, instead of testing every branch on every row: the broad ones (a pool,
    which may hold most of the table) counted from their index alone, plus the UNION of
    the narrow ones where they add to them (|A ∪ R| = |A| + |R \\ A|), in one statement.
    Where the filter reads nothing but a customer's group (db/tally.py), the branches the
    group decides (a team, a pool, everyone) are summed from the tally instead."""
    stmt = memo(memo_key(filter, "count", scope), lambda: _count_statement(scope, filter))
    return int((await session.execute(stmt)).scalar_one())


def _count_statement(scope: ColumnElement[bool], filter: CustomerFilter) -> Select[Any]:
    conditions = filter.conditions()
    branches = or_branches(scope)
    grouped_filter = [tallied(c) for c in conditions]
    if all(c is not None for c in grouped_filter):
        grouped = [(b, t) for b in branches if (t := tallied(b)) is not None]
        if grouped:
            return _summed(branches, grouped, conditions, grouped_filter)  # type: ignore[arg-type]
    if len(branches) < 2:
        return select(func.count()).select_from(Customer).where(and_(scope, *conditions))
    wide = [b for b in branches if is_broad(b)]
    narrow = [b for b in branches if not is_broad(b)]
    if not wide or not narrow:
        wide, narrow = [], branches
    outside = [not_(func.coalesce(or_(*wide), false()))] if wide else []
    matching = union(
        *(select(col(Customer.id)).where(b, *outside, *conditions) for b in narrow)
    ).subquery()
    total: Any = select(func.count()).select_from(matching).scalar_subquery()
    if wide:
        within = select(func.count()).select_from(Customer).where(or_(*wide), *conditions)
        total = total + within.scalar_subquery()
    return select(total)


def _summed(
    branches: list[ColumnElement[bool]],
    grouped: list[tuple[ColumnElement[bool], ColumnElement[bool]]],
    conditions: list[ColumnElement[bool]],
    grouped_filter: list[ColumnElement[bool]],
) -> Select[Any]:
    """The branches a customer's group decides (db/tally.py) summed from the tally, plus the
    UNION of the others where they add to them; with no other, no customer row is read."""
    summed: Any = (
        select(func.coalesce(func.sum(TALLY.c.n), 0))
        .where(or_(*(t for _, t in grouped)), *grouped_filter)
        .scalar_subquery()
    )
    decided = [b for b, _ in grouped]
    narrow = [b for b in branches if not any(b is d for d in decided)]
    if not narrow:
        return select(summed)
    outside = not_(func.coalesce(or_(*decided), false()))
    matching = union(
        *(select(col(Customer.id)).where(b, outside, *conditions) for b in narrow)
    ).subquery()
    return select(select(func.count()).select_from(matching).scalar_subquery() + summed)


def or_branches(scope: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    """The terms of a top-level OR (nested ORs flattened), or the scope itself."""
    if isinstance(scope, BooleanClauseList) and scope.operator is operators.or_:
        return [term for clause in scope.clauses for term in or_branches(clause)]
    return [scope]


async def customers_by_ids(
    session: AsyncSession,
    ids: Sequence[int],
    *,
    scope: ColumnElement[bool],
    mask: ColumnElement[int],
    lock: bool = False,
) -> dict[int, ScopedRow]:
    """The visible ones among `ids`; an invisible id is simply absent. `lock` takes row
    locks (PostgreSQL) so concurrent writers to one customer queue up."""
    if not ids:
        return {}
    stmt = _select(scope, mask).where(col(Customer.id).in_(list(ids)))
    if lock and session.get_bind().dialect.name == "postgresql":
        # FOR NO KEY UPDATE: inserting rows that reference the customer (events, audit)
        # takes KEY SHARE locks, which a plain FOR UPDATE would wait on.
        stmt = stmt.with_for_update(of=Customer, key_share=True)
    rows = (await session.execute(stmt)).all()
    return {c.id: ScopedRow(c, int(r or 0)) for c, r in rows if c.id is not None}
