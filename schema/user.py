"""User and Team: plain data built from a row (a Core row or an entity)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.ids import global_id
from schema.enums import Role
from schema.node import Node
from schema.plain import attr


@strawberry.type
class Team(Node):
    row: strawberry.Private[Any]
    database_id: int = attr()
    name: str = attr()

    def __post_init__(self) -> None:
        self.id = strawberry.ID(global_id("Team", self.row.id))
        self.database_id = self.row.id
        self.name = self.row.name

    @strawberry.field
    async def manager(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.manager_id)

    @strawberry.field
    async def parent(self, info: Info[Context, None]) -> Team | None:
        return await load_team(info, self.row.parent_id)

    @strawberry.field
    async def members(self, info: Info[Context, None]) -> list[User]:
        rows = await info.context.loaders.members_by_team_id.load(self.row.id or 0)
        return [User(row=r) for r in rows]


@strawberry.type
class User(Node):
    row: strawberry.Private[Any]
    database_id: int = attr()
    name: str = attr()
    email: str = attr()
    role: Role = attr()
    active: bool = attr()
    capacity: int | None = attr()
    lock_quota: int | None = attr("Customers the user may hold locked; null = may not lock.")
    regions: list[str] = attr()
    industries: list[str] = attr()

    def __post_init__(self) -> None:
        row = self.row
        self.id = strawberry.ID(global_id("User", row.id))
        self.database_id = row.id
        self.lock_quota = row.lock_quota
        self.regions = row.regions or []
        self.industries = row.industries or []
        self.name = row.name
        self.email = row.email
        self.role = row.role
        self.active = row.active
        self.capacity = row.capacity

    @strawberry.field
    async def team(self, info: Info[Context, None]) -> Team | None:
        return await load_team(info, self.row.team_id)

    @strawberry.field
    async def owned_count(self, info: Info[Context, None]) -> int:
        return await info.context.loaders.owned_count_by_user_id.load(self.row.id or 0)

    @strawberry.field(description="Customers the user holds locked now.")
    async def locked_count(self, info: Info[Context, None]) -> int:
        from resolvers.locks import locked_count

        ctx = info.context
        return await locked_count(await ctx.session(), self.row.id or 0, ctx.now())

    @strawberry.field(
        description="Claims left today in `poolId` (default: the pool of the user's team); "
        "null = no daily limit applies."
    )
    async def claims_left_today(
        self,
        info: Info[Context, None],
        pool_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="A pool the caller sees.")
        ] = None,
    ) -> int | None:
        from resolvers.limits import claims_left
        from resolvers.pools import pool_visible

        ctx = info.context
        pools = await ctx.pools()
        pool = (
            pool_visible(ctx, pools, pool_id)
            if pool_id is not None
            else pools.of_team(self.row.team_id)
        )
        return await claims_left(ctx, await ctx.session(), self.row.id or 0, pool, ctx.now())


async def load_user(info: Info[Context, None], user_id: int | None) -> User | None:
    if user_id is None:
        return None
    row = await info.context.loaders.user_by_id.load(user_id)
    return User(row=row) if row else None


async def load_team(info: Info[Context, None], team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    row = await info.context.loaders.team_by_id.load(team_id)
    return Team(row=row) if row else None
