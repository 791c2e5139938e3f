"""Per-request DataLoaders, for what a page did not prefetch: single objects (a customer by
id, a mutation's result) and deeper nesting. Each is one batched statement per wave, over
the same Core reads (db/rows.py) the bulk page path uses.

Built lazily per request (and again after a write commits), never at module level.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Table, func, or_, select
from strawberry.dataloader import DataLoader

from db import rows
from db.customers import ScopedRow
from db.pools import due_times
from db.rows import CUSTOMER, USERS

if TYPE_CHECKING:
    from resolvers.context import Context

K = TypeVar("K")
V = TypeVar("V")
Fetch = Callable[[Any, Sequence[int]], Awaitable[dict[int, Any]]]


def _one_per_key(ctx: Context, fetch: Fetch, default: Any = None) -> DataLoader[int, Any]:
    async def load(keys: Sequence[int]) -> list[Any]:
        found = await fetch(await ctx.session(), keys)
        return [found.get(k, default) for k in keys]

    # Uncached: users and teams are asked for in several waves (owners, then authors,
    # managers, ...); without a cache each wave is exactly one statement, so a request's
    # statement count depends on its shape, not on which rows it happened to meet.
    return DataLoader(load_fn=load, cache=False)


def _many_per_key(ctx: Context, fetch: Fetch) -> DataLoader[int, list[Any]]:
    async def load(keys: Sequence[int]) -> list[list[Any]]:
        found = await fetch(await ctx.session(), keys)
        return [found.get(k, []) for k in keys]

    return DataLoader(load_fn=load)


def _loader(fn: Callable[[Sequence[K]], Awaitable[list[V]]]) -> DataLoader[K, V]:
    return DataLoader(load_fn=fn)


async def _members(session: Any, team_ids: Sequence[int]) -> dict[int, list[Any]]:
    stmt = select(USERS).where(USERS.c.team_id.in_(list(team_ids))).order_by(USERS.c.id)
    grouped: dict[int, list[Any]] = defaultdict(list)
    for r in await session.execute(stmt):
        grouped[r.team_id].append(r)
    return grouped


async def _owned_counts(session: Any, user_ids: Sequence[int]) -> dict[int, int]:
    stmt = (
        select(CUSTOMER.c.owner_id, func.count())
        .where(CUSTOMER.c.owner_id.in_(list(user_ids)))
        .group_by(CUSTOMER.c.owner_id)
    )
    return {owner: int(n) for owner, n in await session.execute(stmt)}


class Loaders:
    """Named after Saleor's `<Model>By<Key>Loader`; values are Core rows. Each loader is
    made the first time it is asked for: most requests use one or two of them."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @cached_property
    def user_by_id(self) -> DataLoader[int, Any]:
        return _one_per_key(self.ctx, rows.users_by_ids)

    @cached_property
    def team_by_id(self) -> DataLoader[int, Any]:
        return _one_per_key(self.ctx, rows.teams_by_ids)

    @cached_property
    def members_by_team_id(self) -> DataLoader[int, list[Any]]:
        return _many_per_key(self.ctx, _members)

    @cached_property
    def contacts_by_customer_id(self) -> DataLoader[int, list[Any]]:
        return _many_per_key(self.ctx, rows.contacts_of)

    @cached_property
    def collaborators_by_customer_id(self) -> DataLoader[int, list[Any]]:
        return _many_per_key(self.ctx, rows.collaborators_of)

    @cached_property
    def open_disputes_by_customer_id(self) -> DataLoader[int, list[Any]]:
        return _many_per_key(self.ctx, rows.open_disputes_of)

    @cached_property
    def recycle_due_by_customer_id(self) -> DataLoader[int, Any]:
        """recycleDueAt (db/pools.recycle_due), for customers built one by one."""
        ctx = self.ctx

        async def fetch(session: Any, ids: Sequence[int]) -> dict[int, Any]:
            return await due_times(session, await ctx.pools(), ids)

        return _one_per_key(ctx, fetch)

    @cached_property
    def latest_follow_up_by_customer_id(self) -> DataLoader[int, Any]:
        return _one_per_key(self.ctx, rows.latest_follow_ups)

    @cached_property
    def owned_count_by_user_id(self) -> DataLoader[int, int]:
        return _one_per_key(self.ctx, _owned_counts, default=0)

    @cached_property
    def customer_by_id(self) -> DataLoader[int, ScopedRow | None]:
        ctx = self.ctx

        async def customers(keys: Sequence[int]) -> list[ScopedRow | None]:
            plan = ctx.plan
            session = await ctx.session()
            scope, mask = plan.customer_scope(), plan.relation_mask()
            found = await rows.scoped_by_ids(session, keys, scope=scope, mask=mask)
            if missing := [k for k in keys if k not in found]:
                # A merged customer's id answers with the customer it was merged into
                # (asked for only when some id was not found).
                kept = await rows.merged_into(session, missing)
                targets = await rows.scoped_by_ids(
                    session, sorted(set(kept.values())), scope=scope, mask=mask
                )
                found |= {m: targets[k] for m, k in kept.items() if k in targets}
            return [found.get(k) for k in keys]

        return _loader(customers)

    @cached_property
    def pages(self) -> PageLoaders:
        return PageLoaders(self.ctx)


def _page_per_key(
    ctx: Context, t: Table, parent: str, order: Callable[[Table], tuple[Any, ...]], after: Any
) -> DataLoader[tuple[int, int, int | None], tuple[list[Any], bool]]:
    """Pages of children per parent, keyed (parent id, first, after id): one query per
    distinct (first, after) in the batch, a window function doing the per-parent limit."""
    column = t.c[parent]

    async def load(keys: Sequence[tuple[int, int, int | None]]) -> list[tuple[list[Any], bool]]:
        session = await ctx.session()
        by_args: dict[tuple[int, int | None], list[int]] = defaultdict(list)
        for parent_id, first, after_id in keys:
            by_args[(first, after_id)].append(parent_id)
        pages: dict[tuple[int, int, int | None], tuple[list[Any], bool]] = {}
        for (first, after_id), parents in by_args.items():
            conds = [column.in_(parents)]
            if after_id is not None:
                conds.append(after(t, after_id))
            ranked = (
                select(t, func.row_number().over(partition_by=column, order_by=order(t)).label("n"))
                .where(*conds)
                .subquery()
            )
            stmt = (
                select(*(ranked.c[c.key] for c in t.c))
                .where(ranked.c.n <= first + 1)
                .order_by(ranked.c[parent], ranked.c.n)
            )
            grouped: dict[int, list[Any]] = defaultdict(list)
            for r in await session.execute(stmt):
                grouped[getattr(r, parent)].append(r)
            for parent_id in parents:
                found = grouped.get(parent_id, [])
                pages[(parent_id, first, after_id)] = (found[:first], len(found) > first)
        return [pages[k] for k in keys]

    return DataLoader(load_fn=load)


def _history_per_key(
    ctx: Context,
) -> DataLoader[tuple[int, int, int | None], tuple[list[Any], bool]]:
    """Ownership history pages per customer, oldest first, keyed like `_page_per_key`: a
    customer's own events and those of the customers merged into it (their rows keep
    their events: the log is append-only)."""
    event, customer = rows.EVENT, CUSTOMER

    async def load(keys: Sequence[tuple[int, int, int | None]]) -> list[tuple[list[Any], bool]]:
        session = await ctx.session()
        by_args: dict[tuple[int, int | None], list[int]] = defaultdict(list)
        for parent_id, first, after_id in keys:
            by_args[(first, after_id)].append(parent_id)
        pages: dict[tuple[int, int, int | None], tuple[list[Any], bool]] = {}
        for (first, after_id), parents in by_args.items():
            merged = select(customer.c.id).where(customer.c.merged_into_id.in_(parents))
            history_of = func.coalesce(customer.c.merged_into_id, event.c.customer_id)
            conds = [or_(event.c.customer_id.in_(parents), event.c.customer_id.in_(merged))]
            if after_id is not None:
                conds.append(event.c.id > after_id)
            ranked = (
                select(
                    event,
                    history_of.label("history_of"),
                    func.row_number().over(partition_by=history_of, order_by=event.c.id).label("n"),
                )
                .select_from(event.join(customer, customer.c.id == event.c.customer_id))
                .where(*conds)
                .subquery()
            )
            stmt = (
                select(*(ranked.c[c.key] for c in event.c), ranked.c.history_of)
                .where(ranked.c.n <= first + 1)
                .order_by(ranked.c.history_of, ranked.c.n)
            )
            grouped: dict[int, list[Any]] = defaultdict(list)
            for r in await session.execute(stmt):
                grouped[r.history_of].append(r)
            for parent_id in parents:
                found = grouped.get(parent_id, [])
                pages[(parent_id, first, after_id)] = (found[:first], len(found) > first)
        return [pages[k] for k in keys]

    return DataLoader(load_fn=load)


class PageLoaders:
    def __init__(self, ctx: Context) -> None:
        # Follow-ups newest first; ownership history oldest first (it reads as a story).
        self.follow_ups_by_customer_id = _page_per_key(
            ctx,
            rows.FOLLOW_UP,
            "customer_id",
            lambda t: (t.c.id.desc(),),
            lambda t, after_id: t.c.id < after_id,
        )
        self.events_by_customer_id = _history_per_key(ctx)
