"""User and Team."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from db import models
from resolvers.context import Context
from schema.enums import Role


@strawberry.type
class Team:
    row: strawberry.Private[models.Team]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

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
class User:
    row: strawberry.Private[models.User]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def email(self) -> str:
        return self.row.email

    @strawberry.field
    def role(self) -> Role:
        return Role(self.row.role)

    @strawberry.field
    async def team(self, info: Info[Context, None]) -> Team | None:
        return await load_team(info, self.row.team_id)

    @strawberry.field
    def active(self) -> bool:
        return self.row.active

    @strawberry.field
    def capacity(self) -> int | None:
        return self.row.capacity

    @strawberry.field
    async def owned_count(self, info: Info[Context, None]) -> int:
        return await info.context.loaders.owned_count_by_user_id.load(self.row.id or 0)


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
