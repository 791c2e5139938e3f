"""Pools (公海): the Pool type and its rules, the `pools` query, and the mutations that set
pools up, move customers between them and lock customers; merged into the roots in
schema/root.py."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import func, select
from sqlmodel import col
from strawberry.types import Info

from db.models import Customer as CustomerRow
from db.pools import PoolInfo
from resolvers import locks, pools
from resolvers.access import get_customer
from resolvers.context import Context
from resolvers.ids import global_id
from schema.enums import Tier
from schema.node import Node
from schema.plain import attr
from schema.user import Team, User, load_team, load_user

if TYPE_CHECKING:
    from schema.customer import Customer, CustomerConnection
    from schema.inputs import CustomerFilter

Ctx = Info[Context, None]


@strawberry.type(description="Days for one customer tier.")
class TierDays:
    tier: Tier = strawberry.field(description="The customer tier.")
    days: int = strawberry.field(description="Days.")


@strawberry.type(description="A pool's rules in effect (what it sets, else the settings).")
class PoolRules:
    recycle_after_no_follow_up_days: list[TierDays] = strawberry.field(
        description="Per tier; a tier left out is never recycled for lack of follow-up."
    )
    recycle_after_no_deal_days: int | None = strawberry.field(
        description="Owned this long without reaching ACTIVE; null = off."
    )
    exempt_closed_deals: bool = strawberry.field(description="ACTIVE customers are never recycled.")
    warn_days_before: int = strawberry.field(description="RECYCLE_WARNING this many days ahead.")
    daily_claim_limit: int | None = strawberry.field(
        description="Claims per user per calendar day (org time zone); null = none."
    )
    reclaim_cooldown_days: int = strawberry.field(
        description="The previous owner waits this long before claiming it back."
    )
    new_arrival_embargo_hours: int = strawberry.field(
        description="After entering the pool, only pool admins may claim for this long."
    )
    hidden_fields: list[str] = strawberry.field(
        description="Fields null to all but pool admins and ADMIN while a customer is here."
    )
    protection_days: int = strawberry.field(
        description="Days a newly claimed customer cannot be recycled (0: none)."
    )


@strawberry.type(description="A public pool (公海) with its member teams, admins and rules.")
class Pool(Node):
    info: strawberry.Private[PoolInfo]
    database_id: int = attr("The plain database id.")
    name: str = attr("Unique name.")
    is_default: bool = attr("The pool of owners whose team names no pool.")
    rules: PoolRules = attr("Its rules in effect.")

    @classmethod
    def of(cls, p: PoolInfo) -> Pool:
        made = cls(info=p)
        made.id = strawberry.ID(global_id("Pool", p.id))
        made.database_id = p.id
        made.name = p.name
        made.is_default = p.is_default
        r = p.rules
        made.rules = PoolRules(
            recycle_after_no_follow_up_days=[
                TierDays(tier=Tier(t), days=n)
                for t, n in sorted(r.recycle_after_no_follow_up_days.items())
            ],
            recycle_after_no_deal_days=r.recycle_after_no_deal_days,
            exempt_closed_deals=r.exempt_closed_deals,
            warn_days_before=r.warn_days_before,
            daily_claim_limit=r.daily_claim_limit,
            reclaim_cooldown_days=r.reclaim_cooldown_days,
            new_arrival_embargo_hours=r.new_arrival_embargo_hours,
            hidden_fields=list(r.hidden_fields),
            protection_days=r.protection_days,
        )
        return made

    @strawberry.field(description="Owners in these teams recycle here; empty = everyone's pool.")
    async def teams(self, info: Ctx) -> list[Team]:
        found = [await load_team(info, t) for t in self.info.team_ids]
        return [t for t in found if t is not None]

    @strawberry.field(description="May claim during the embargo and move customers away.")
    async def admins(self, info: Ctx) -> list[User]:
        found = [await load_user(info, u) for u in sorted(self.info.admin_ids)]
        return [u for u in found if u is not None]

    @strawberry.field(description="Customers in the pool now.")
    async def size(self, info: Ctx) -> int:
        session = await info.context.session()
        n = await session.scalar(
            select(func.count())
            .select_from(CustomerRow)
            .where(col(CustomerRow.pool_id) == self.info.id)
        )
        return int(n or 0)

    @strawberry.field(description="The pool's customers the caller may see.")
    async def customers(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: Annotated[CustomerFilter, strawberry.lazy("schema.inputs")] | None = None,
    ) -> Annotated[CustomerConnection, strawberry.lazy("schema.customer")]:
        from schema.query import customers_of

        return await customers_of(info, filter, first, after, pool_id=self.info.id)


@strawberry.input(description="Days for one tier.")
class TierDaysInput:
    tier: Tier = strawberry.field(description="The customer tier.")
    days: int = strawberry.field(description="Positive days.")


@strawberry.input(
    description="Rules to change: one left out keeps its value; an explicit null clears it."
)
class PoolRulesInput:
    recycle_after_no_follow_up_days: list[TierDaysInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Per tier; tiers left out are not recycled."
    )
    recycle_after_no_deal_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="Null turns the no-deal trigger off."
    )
    exempt_closed_deals: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Never recycle ACTIVE customers."
    )
    warn_days_before: int | None = strawberry.field(
        default=strawberry.UNSET, description="Days of warning before recycling."
    )
    daily_claim_limit: int | None = strawberry.field(
        default=strawberry.UNSET, description="Null: no daily limit."
    )
    reclaim_cooldown_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="The previous owner's wait."
    )
    new_arrival_embargo_hours: int | None = strawberry.field(
        default=strawberry.UNSET, description="Hours only pool admins may claim a new arrival."
    )
    hidden_fields: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Fields hidden while here, e.g. contacts, taxId."
    )
    protection_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="Protection of newly claimed customers, in days."
    )

    def given(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in vars(self).items():
            if value is strawberry.UNSET:
                continue
            if key == "recycle_after_no_follow_up_days" and value is not None:
                value = [(str(d.tier.value), d.days) for d in value]
            out[key] = value
        return out


@strawberry.input(description="A pool's name, member teams, admins and rules.")
class PoolInput:
    name: str = strawberry.field(description="Unique name.")
    team_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Member teams; left out: kept (on create: none)."
    )
    admin_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Pool admins; left out: kept (on create: none)."
    )
    rules: PoolRulesInput | None = strawberry.field(
        default=None, description="Rules to set; left out: all kept."
    )


@strawberry.type
class PoolQuery:
    @strawberry.field(description="The pools the caller belongs to (every pool for ADMIN).")
    async def pools(self, info: Ctx) -> list[Pool]:
        return [Pool.of(p) for p in await pools.list_pools(info.context)]


async def _customer(info: Ctx, ident: int) -> Customer:
    from schema.customer_page import customer_of

    return await customer_of(info, await get_customer(info.context, ident))


@strawberry.type
class PoolsMutation:
    @strawberry.mutation(description="A new pool (ADMIN).")
    async def create_pool(self, info: Ctx, input: PoolInput) -> Pool:
        made = await pools.create_pool(
            info.context,
            name=input.name,
            team_ids=input.team_ids,
            admin_ids=input.admin_ids,
            rules=input.rules.given() if input.rules else {},
        )
        return Pool.of(made)

    @strawberry.mutation(description="Rename a pool, set its teams and admins, merge its rules.")
    async def update_pool(self, info: Ctx, id: strawberry.ID, input: PoolInput) -> Pool:
        changed = await pools.update_pool(
            info.context,
            id,
            name=input.name,
            team_ids=input.team_ids,
            admin_ids=input.admin_ids,
            rules=input.rules.given() if input.rules else {},
        )
        return Pool.of(changed)

    @strawberry.mutation(description="Move a pool customer to another pool (admins of both).")
    async def move_pool_customer(
        self, info: Ctx, customer_id: strawberry.ID, to_pool_id: strawberry.ID
    ) -> Annotated[Customer, strawberry.lazy("schema.customer")]:
        return await _customer(
            info, await pools.move_pool_customer(info.context, customer_id, to_pool_id)
        )

    @strawberry.mutation(description="Keep an owned customer from recycling (the owner).")
    async def lock_customer(
        self,
        info: Ctx,
        customer_id: strawberry.ID,
        reason: str,
        until: Annotated[
            datetime | None,
            strawberry.argument(description="When the lock ends by itself; null: when unlocked."),
        ] = None,
    ) -> Annotated[Customer, strawberry.lazy("schema.customer")]:
        return await _customer(
            info, await locks.lock_customer(info.context, customer_id, reason, until)
        )

    @strawberry.mutation(description="End a lock (the owner, their manager, ADMIN).")
    async def unlock_customer(
        self, info: Ctx, customer_id: strawberry.ID
    ) -> Annotated[Customer, strawberry.lazy("schema.customer")]:
        return await _customer(info, await locks.unlock_customer(info.context, customer_id))
