"""The organisation's mutations (users and teams) and their inputs; merged into the root
Mutation in schema/root.py."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import organisation
from resolvers.context import Context
from schema.enums import Role
from schema.mutation import _given
from schema.user import Team, User

Ctx = Info[Context, None]


@strawberry.input
class CreateUserInput:
    name: str
    email: str
    role: Role
    team_id: strawberry.ID | None = None
    capacity: int | None = None
    lock_quota: int | None = None
    regions: list[str] | None = None
    industries: list[str] | None = None


@strawberry.input(description="Fields left out stay as they are; null clears one.")
class UpdateUserInput:
    name: str | None = strawberry.UNSET
    role: Role | None = strawberry.UNSET
    team_id: strawberry.ID | None = strawberry.UNSET
    capacity: int | None = strawberry.UNSET
    lock_quota: int | None = strawberry.UNSET
    regions: list[str] | None = strawberry.UNSET
    industries: list[str] | None = strawberry.UNSET


@strawberry.input(description="In updateTeam, a parentId or managerId left out stays.")
class TeamInput:
    name: str
    parent_id: strawberry.ID | None = strawberry.UNSET
    manager_id: strawberry.ID | None = strawberry.UNSET


@strawberry.type
class OrganisationMutation:
    @strawberry.mutation(description="ADMIN.")
    async def create_user(self, info: Ctx, input: CreateUserInput) -> User:
        return User(row=await organisation.create_user(info.context, vars(input).copy()))

    @strawberry.mutation(description="ADMIN; a MANAGER: the capacity of users in their team.")
    async def update_user(self, info: Ctx, id: strawberry.ID, input: UpdateUserInput) -> User:
        return User(row=await organisation.update_user(info.context, id, _given(input)))

    @strawberry.mutation(description="ADMIN.")
    async def create_team(self, info: Ctx, input: TeamInput) -> Team:
        return Team(row=await organisation.create_team(info.context, _given(input)))

    @strawberry.mutation(description="ADMIN. Moving a team moves its whole subtree.")
    async def update_team(self, info: Ctx, id: strawberry.ID, input: TeamInput) -> Team:
        return Team(row=await organisation.update_team(info.context, id, _given(input)))
