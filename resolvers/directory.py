"""People and teams."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from db.models import Team, User
from kernel.errors import Forbidden, NotFound
from kernel.messages import N_
from resolvers.context import Context
from resolvers.ids import parse_optional_id


async def me(ctx: Context) -> User:
    plan = ctx.plan
    if plan.principal.user_id is None:
        raise Forbidden(N_("A partner token has no user; `me` is for people."))
    known = ctx.authenticated
    if known is not None and known.user is not None and ctx.now() < known.until:
        # Read with the token, as fresh as the principal itself (a socket's context
        # outlives this: then it is read again).
        return known.user
    user = await ctx.loaders.user_by_id.load(plan.principal.user_id)
    if user is None:
        raise NotFound("user", plan.principal.user_id)
    return user


async def list_users(ctx: Context, team_id: object | None = None) -> list[User]:
    ctx.plan.require("user", "read")
    stmt = select(User).order_by(col(User.id))
    if (ident := parse_optional_id(team_id, "team")) is not None:
        stmt = stmt.where(col(User.team_id) == ident)
    return list((await (await ctx.session()).execute(stmt)).scalars())


async def list_teams(ctx: Context) -> list[Team]:
    ctx.plan.require("user", "read")
    stmt = select(Team).order_by(col(Team.path), col(Team.id))
    return list((await (await ctx.session()).execute(stmt)).scalars())
