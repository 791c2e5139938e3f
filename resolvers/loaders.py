"""Per-request DataLoaders: every nested relation is one batched query, however many rows.

Built fresh for each request (and again after a write commits), never at module level.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, select
from sqlmodel import col
from strawberry.dataloader import DataLoader

from db.customers import ScopedRow, customers_by_ids
from db.enums import DisputeStatus
from db.models import (
    Collaborator,
    Contact,
    Customer,
    Dispute,
    FollowUp,
    OwnershipEvent,
    Team,
    User,
)

if TYPE_CHECKING:
    from resolvers.context import Context

K = TypeVar("K")
V = TypeVar("V")


def _one_per_key(ctx: Context, model: Any, column: Any = None) -> DataLoader[int, Any]:
    column = column if column is not None else model.id

    async def load(keys: Sequence[int]) -> list[Any]:
        session = await ctx.session()
        rows = (await session.execute(select(model).where(column.in_(list(keys))))).scalars()
        found = {getattr(r, column.key): r for r in rows}
        return [found.get(k) for k in keys]

    # Uncached: users and teams are asked for in several waves (owners, then authors,
    # managers, ...); without a cache each wave is exactly one statement, so a request's
    # statement count depends on its shape, not on which rows it happened to meet.
    return DataLoader(load_fn=load, cache=False)


def _many_per_key(
    ctx: Context, model: Any, column: Any, *where: Any, order: Any = None
) -> DataLoader[int, list[Any]]:
    async def load(keys: Sequence[int]) -> list[list[Any]]:
        session = await ctx.session()
        stmt = select(model).where(column.in_(list(keys)), *where)
        if order is not None:
            stmt = stmt.order_by(order)
        grouped: dict[int, list[Any]] = defaultdict(list)
        for r in (await session.execute(stmt)).scalars():
            grouped[getattr(r, column.key)].append(r)
        return [grouped.get(k, []) for k in keys]

    return DataLoader(load_fn=load)


def _loader(fn: Callable[[Sequence[K]], Awaitable[list[V]]]) -> DataLoader[K, V]:
    return DataLoader(load_fn=fn)


class Loaders:
    """Named after Saleor's `<Model>By<Key>Loader`."""

    def __init__(self, ctx: Context) -> None:
        self.user_by_id: DataLoader[int, User | None] = _one_per_key(ctx, User)
        self.team_by_id: DataLoader[int, Team | None] = _one_per_key(ctx, Team)
        self.members_by_team_id: DataLoader[int, list[User]] = _many_per_key(
            ctx, User, col(User.team_id), order=col(User.id)
        )
        self.contacts_by_customer_id: DataLoader[int, list[Contact]] = _many_per_key(
            ctx, Contact, col(Contact.customer_id), order=col(Contact.id)
        )
        self.collaborators_by_customer_id: DataLoader[int, list[Collaborator]] = _many_per_key(
            ctx, Collaborator, col(Collaborator.customer_id), order=col(Collaborator.user_id)
        )
        self.open_disputes_by_customer_id: DataLoader[int, list[Dispute]] = _many_per_key(
            ctx,
            Dispute,
            col(Dispute.customer_id),
            col(Dispute.status).in_([DisputeStatus.OPEN, DisputeStatus.ESCALATED]),
            order=col(Dispute.id),
        )

        async def customers(keys: Sequence[int]) -> list[ScopedRow | None]:
            plan = ctx.plan
            found = await customers_by_ids(
                await ctx.session(),
                keys,
                scope=plan.customer_scope(),
                mask=plan.relation_mask(),
            )
            return [found.get(k) for k in keys]

        async def latest_follow_ups(keys: Sequence[int]) -> list[FollowUp | None]:
            ranked = (
                select(
                    col(FollowUp.id),
                    func.row_number()
                    .over(
                        partition_by=col(FollowUp.customer_id),
                        order_by=(col(FollowUp.at).desc(), col(FollowUp.id).desc()),
                    )
                    .label("n"),
                )
                .where(col(FollowUp.customer_id).in_(list(keys)))
                .subquery()
            )
            stmt = (
                select(FollowUp)
                .join(ranked, ranked.c.id == col(FollowUp.id))
                .where(ranked.c.n == 1)
            )
            rows = (await (await ctx.session()).execute(stmt)).scalars()
            found = {r.customer_id: r for r in rows}
            return [found.get(k) for k in keys]

        async def owned_counts(keys: Sequence[int]) -> list[int]:
            stmt = (
                select(col(Customer.owner_id), func.count())
                .where(col(Customer.owner_id).in_(list(keys)))
                .group_by(col(Customer.owner_id))
            )
            counts = {owner: n for owner, n in await (await ctx.session()).execute(stmt)}
            return [int(counts.get(k, 0)) for k in keys]

        self.customer_by_id: DataLoader[int, ScopedRow | None] = _loader(customers)
        self.latest_follow_up_by_customer_id: DataLoader[int, FollowUp | None] = _loader(
            latest_follow_ups
        )
        self.owned_count_by_user_id: DataLoader[int, int] = _loader(owned_counts)
        self.pages = PageLoaders(ctx)


def _page_per_key(
    ctx: Context, model: Any, column: Any, order: tuple[Any, ...], after: Callable[[int], Any]
) -> DataLoader[tuple[int, int, int | None], tuple[list[Any], bool]]:
    """Pages of children per parent, keyed (parent id, first, after id): one query per
    distinct (first, after) in the batch, a window function doing the per-parent limit."""

    async def load(keys: Sequence[tuple[int, int, int | None]]) -> list[tuple[list[Any], bool]]:
        session = await ctx.session()
        by_args: dict[tuple[int, int | None], list[int]] = defaultdict(list)
        for parent, first, after_id in keys:
            by_args[(first, after_id)].append(parent)
        pages: dict[tuple[int, int, int | None], tuple[list[Any], bool]] = {}
        for (first, after_id), parents in by_args.items():
            conds = [column.in_(parents)]
            if after_id is not None:
                conds.append(after(after_id))
            ranked = (
                select(
                    model.id, func.row_number().over(partition_by=column, order_by=order).label("n")
                )
                .where(*conds)
                .subquery()
            )
            stmt = (
                select(model)
                .join(ranked, ranked.c.id == model.id)
                .where(ranked.c.n <= first + 1)
                .order_by(column, ranked.c.n)
            )
            grouped: dict[int, list[Any]] = defaultdict(list)
            for r in (await session.execute(stmt)).scalars():
                grouped[getattr(r, column.key)].append(r)
            for parent in parents:
                rows = grouped.get(parent, [])
                pages[(parent, first, after_id)] = (rows[:first], len(rows) > first)
        return [pages[k] for k in keys]

    return DataLoader(load_fn=load)


class PageLoaders:
    def __init__(self, ctx: Context) -> None:
        # Follow-ups newest first; ownership history oldest first (it reads as a story).
        self.follow_ups_by_customer_id = _page_per_key(
            ctx,
            FollowUp,
            col(FollowUp.customer_id),
            (col(FollowUp.id).desc(),),
            lambda after_id: col(FollowUp.id) < after_id,
        )
        self.events_by_customer_id = _page_per_key(
            ctx,
            OwnershipEvent,
            col(OwnershipEvent.customer_id),
            (col(OwnershipEvent.id),),
            lambda after_id: col(OwnershipEvent.id) > after_id,
        )
