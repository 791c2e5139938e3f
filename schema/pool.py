"""The pool and assignment: mutations (assign, release, claim, set rules), the rule type,
and the `assignmentRules` query, merged into the roots in schema/root.py."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from strawberry.types import Info

from db import models
from resolvers import pool
from resolvers.assignment import Strategy
from resolvers.context import Context
from resolvers.rules import list_assignment_rules, set_assignment_rules
from schema.customer import Customer
from schema.customer_page import customer_of
from schema.enums import Tier
from schema.user import Team, User, load_team, load_user

Ctx = Info[Context, None]

strawberry.enum(
    Strategy,
    name="AssignmentStrategy",
    description="USER: a named user; ROUND_ROBIN, LEAST_LOADED, WEIGHTED: within a team.",
)
AssignmentStrategy: TypeAlias = Strategy


@strawberry.type(description="One line of the ordered list; unset matchers match anything.")
class AssignmentRule:
    row: strawberry.Private[models.AssignmentRule]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def position(self) -> int:
        return self.row.position

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def region(self) -> str | None:
        return self.row.region

    @strawberry.field
    def industry(self) -> str | None:
        return self.row.industry

    @strawberry.field
    def tier(self) -> Tier | None:
        return Tier(self.row.tier) if self.row.tier else None

    @strawberry.field
    def source(self) -> str | None:
        return self.row.source

    @strawberry.field
    def strategy(self) -> AssignmentStrategy:
        return Strategy(self.row.strategy)

    @strawberry.field(description="Only people whose regions include the customer's region.")
    def by_region(self) -> bool:
        return self.row.by_region

    @strawberry.field(description="Only people whose industries include the customer's industry.")
    def by_industry(self) -> bool:
        return self.row.by_industry

    @strawberry.field(
        description="May give a rep's own entry (assignByRules) to someone outside the "
        "rep's team; otherwise such an entry skips this rule when it leads elsewhere."
    )
    def cross_team(self) -> bool:
        return self.row.cross_team

    @strawberry.field
    async def user(self, info: Ctx) -> User | None:
        return await load_user(info, self.row.user_id)

    @strawberry.field
    async def team(self, info: Ctx) -> Team | None:
        return await load_team(info, self.row.team_id)


@strawberry.input
class AssignmentRuleInput:
    name: str
    strategy: AssignmentStrategy
    region: str | None = None
    industry: str | None = None
    tier: Tier | None = None
    source: str | None = None
    user_id: strawberry.ID | None = None
    team_id: strawberry.ID | None = None
    by_region: bool = strawberry.field(
        default=False, description="Pick only people whose regions include the customer's."
    )
    by_industry: bool = strawberry.field(
        default=False, description="Pick only people whose industries include the customer's."
    )
    cross_team: bool = strawberry.field(
        default=False,
        description="A rep's own entry (assignByRules) may go outside the rep's team.",
    )


@strawberry.type
class PoolMutation:
    @strawberry.mutation(description="Direct assignment by a manager, director or admin.")
    async def assign_customer(
        self, info: Ctx, customer_id: strawberry.ID, to_user_id: strawberry.ID, reason: str
    ) -> Customer:
        return await customer_of(
            info, await pool.assign_customer(info.context, customer_id, to_user_id, reason)
        )

    @strawberry.mutation(
        description="Give a customer up to the pool of the owner's team, or to `poolId`."
    )
    async def release_to_pool(
        self,
        info: Ctx,
        customer_id: strawberry.ID,
        reason: str,
        reason_code: Annotated[
            str | None,
            strawberry.argument(description="One of the configured codes; absent: `other`."),
        ] = None,
        pool_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="A pool the releaser belongs to; absent: the team's."),
        ] = None,
    ) -> Customer:
        return await customer_of(
            info,
            await pool.release_to_pool(info.context, customer_id, reason, reason_code, pool_id),
        )

    @strawberry.mutation(description="Take a customer from the public pool.")
    async def claim_customer(self, info: Ctx, customer_id: strawberry.ID) -> Customer:
        return await customer_of(info, await pool.claim_customer(info.context, customer_id))

    @strawberry.mutation(description="Replace the ordered assignment rules (ADMIN).")
    async def set_assignment_rules(
        self, info: Ctx, rules: list[AssignmentRuleInput]
    ) -> list[AssignmentRule]:
        rows = await set_assignment_rules(info.context, [vars(r) for r in rules])
        return [AssignmentRule(row=r) for r in rows]


@strawberry.type
class RulesQuery:
    @strawberry.field(description="The ordered assignment rules; the first that matches applies.")
    async def assignment_rules(self, info: Ctx) -> list[AssignmentRule]:
        return [AssignmentRule(row=r) for r in await list_assignment_rules(info.context)]
