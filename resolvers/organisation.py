"""The organisation: creating and changing users and teams (API, CLI and CSV import alike).

ADMIN changes everything; a MANAGER changes the `capacity` of users in their own team and
nothing else. Every change is audited with what changed. Plans are built per request from
the users and teams tables, and a committed write empties this process's token cache
(Context.transaction), so a move takes effect on everyone's next request.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import Role
from db.models import Customer, Team, User
from kernel.errors import Conflict, Forbidden, NotFound, Validation
from kernel.messages import N_
from resolvers.access import audit
from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.portfolio import NON_OWNERS
from resolvers.validation import camel, check_widths, text_problem, within

# A user serves at most this many regions and industries, each as wide as a customer's.
MAX_AREAS = 50
AREA_LENGTH: int = Customer.__table__.c.region.type.length  # type: ignore[attr-defined]
PATH_LENGTH: int = Team.__table__.c.path.type.length  # type: ignore[attr-defined]
# Capacities and quotas are counts of customers; beyond this they are typing errors.
MAX_COUNT = 1_000_000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# Partners are not users: their tokens belong to a partner row.
USER_ROLES = [r for r in Role if r is not Role.PARTNER]
# What a MANAGER may change, on users of their own team.
MANAGER_FIELDS = frozenset({"capacity"})
USER_FIELDS = ("name", "role", "team_id", "capacity", "lock_quota", "regions", "industries")


# Checks shared by creation and change.


def _name(value: object, field: str = "name") -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        raise Validation(N_("Give a {field}.", field=field), field=field)
    return name


def _email(value: object) -> str:
    email = value.strip().lower() if isinstance(value, str) else ""
    if not EMAIL.match(email):
        raise Validation(N_("{value!r} is not an email address.", value=value), field="email")
    return email


def _role(value: object) -> Role:
    try:
        role = Role(str(value).strip().upper())
    except ValueError:
        role = Role.PARTNER
    if role is Role.PARTNER:
        names = ", ".join(USER_ROLES)
        raise Validation(
            N_("{value!r} is not a user's role; use one of {names}.", value=value, names=names),
            field="role",
        )
    return role


def _count(value: object, field: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise Validation(
            N_(
                "`{field}` is a whole number from 0 to {MAX_COUNT:,}.",
                field=field,
                MAX_COUNT=MAX_COUNT,
            ),
            field=field,
        )
    return value


def _areas(value: object, field: str) -> list[str]:
    items = list(value) if isinstance(value, list | tuple) else []
    within(items, MAX_AREAS, field)
    cleaned: list[str] = []
    for item in items:
        text = item.strip() if isinstance(item, str) else ""
        if not text or len(text) > AREA_LENGTH or text_problem(text, AREA_LENGTH):
            raise Validation(
                N_(
                    "Each of `{field}` is 1 to {AREA_LENGTH} characters.",
                    field=field,
                    AREA_LENGTH=AREA_LENGTH,
                ),
                field=field,
            )
        if text not in cleaned:
            cleaned.append(text)
    return cleaned


async def _team(session: AsyncSession, team_id: object, field: str) -> Team | None:
    if team_id is None:
        return None
    try:
        team = await session.get(Team, parse_id(team_id, "team"))
    except NotFound:
        team = None
    if team is None:
        raise Validation(N_("No team {team_id} exists.", team_id=team_id), field=field)
    return team


def _user_values(fields: dict[str, Any]) -> dict[str, Any]:
    """The checked columns of the fields given (a subset of USER_FIELDS)."""
    checks = {
        "name": _name,
        "role": lambda v: _role(v).value,
        "capacity": lambda v: _count(v, "capacity"),
        "lock_quota": lambda v: _count(v, "lockQuota"),
        "regions": lambda v: _areas(v, "regions"),
        "industries": lambda v: _areas(v, "industries"),
    }
    for key in ("name", "role"):
        if key in fields and fields[key] is None:
            raise Validation(N_("`{key}` cannot be null.", key=key), field=key)
    values = {k: checks[k](v) if k in checks else v for k, v in fields.items()}
    check_widths(User, {k: v for k, v in values.items() if k != "team_id"})
    return values


async def _email_free(session: AsyncSession, email: str) -> None:
    taken = await session.scalar(select(col(User.id)).where(func.lower(col(User.email)) == email))
    if taken is not None:
        raise Conflict(N_("The email {email} is already in use.", email=email), field="email")


def _snapshot(row: Any, keys: Any) -> dict[str, Any]:
    return {k: getattr(row, k) for k in keys}


# Users.


async def create_user(ctx: Context, fields: dict[str, Any]) -> User:
    """ADMIN. `fields`: name, email, role and optionally team_id, capacity, lock_quota,
    regions, industries."""
    async with ctx.transaction() as session:
        user = await add_user(ctx, session, fields)
    return user


async def add_user(ctx: Context, session: AsyncSession, fields: dict[str, Any]) -> User:
    """Create a user inside the caller's transaction (the CSV import holds one for the
    whole file). Every check comes before the write, so a refusal leaves nothing behind."""
    ctx.plan.require("user", "create")
    unknown = set(fields) - {"email", *USER_FIELDS}
    assert not unknown, unknown
    values = _user_values({k: v for k, v in fields.items() if k != "email"})
    for required in ("name", "role"):
        if required not in values:
            raise Validation(N_("Give a {required}.", required=required), field=required)
    email = _email(fields.get("email"))
    check_widths(User, {"email": email})
    await _email_free(session, email)
    team = await _team(session, values.pop("team_id", None), "teamId")
    user = User(
        email=email,
        team_id=team.id if team else None,
        created_at=ctx.now(),
        **{"regions": [], "industries": [], **values},
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # another request took the email meanwhile
        raise Conflict(
            N_("The email {email} is already in use.", email=email), field="email"
        ) from exc
    audit(
        ctx,
        session,
        "user.create",
        None,
        user_id=user.id,
        **_snapshot(user, ("email", *USER_FIELDS)),
    )
    return user


async def update_user(ctx: Context, user_id: object, fields: dict[str, Any]) -> User:
    """ADMIN changes any field; a MANAGER only `capacity`, of users in their own team.
    Moving a user to another team moves nothing they own: their customers' team follows
    them, so the new manager sees those customers from the next request on."""
    plan = ctx.plan
    if not (plan.may("user", "update") or plan.may("user.capacity", "update")):
        raise Forbidden(N_("You may not change users."))
    unknown = set(fields) - set(USER_FIELDS)
    assert not unknown, unknown
    async with ctx.transaction() as session:
        user = await session.get(User, parse_id(user_id, "user"), with_for_update=True)
        if user is None:
            raise NotFound("user", user_id)
        if not plan.allows_user("user", "update", user):
            if not plan.allows_user("user.capacity", "update", user):
                raise Forbidden(N_("You may not change {name}: not in your team.", name=user.name))
            if other := sorted(set(fields) - MANAGER_FIELDS):
                raise Forbidden(
                    N_(
                        "You may change only the capacity of users in your team, not {value}.",
                        value=camel(other[0]),
                    )
                )
        values = _user_values(fields)
        if "team_id" in values:
            team = await _team(session, values["team_id"], "teamId")
            values["team_id"] = team.id if team else None
        changes = {k: [getattr(user, k), v] for k, v in values.items() if getattr(user, k) != v}
        if "role" in changes and Role(values["role"]) in NON_OWNERS:
            owned = await session.scalar(
                select(func.count()).where(col(Customer.owner_id) == user.id)
            )
            if owned:
                raise Validation(
                    N_(
                        "{name} owns {owned} customers and a {role} owns none; hand them over "
                        "first (handOverPortfolio).",
                        name=user.name,
                        owned=owned,
                        role=values["role"],
                    ),
                    field="role",
                )
        for key, (_old, new) in changes.items():
            setattr(user, key, new)
        if "team_id" in changes:
            # Ownership stays; the customers' team is their owner's (db/ownership.py).
            await session.execute(
                update(Customer)
                .where(col(Customer.owner_id) == user.id)
                .values(team_id=user.team_id)
            )
        if changes:
            audit(ctx, session, "user.update", None, user_id=user.id, changes=changes)
    return user


# Teams.


async def create_team(ctx: Context, fields: dict[str, Any]) -> Team:
    """ADMIN. `fields`: name and optionally parent_id, manager_id."""
    ctx.plan.require("team", "manage")
    async with ctx.transaction() as session:
        name = await _team_name(session, fields.get("name"), None)
        parent = await _team(session, fields.get("parent_id"), "parentId")
        manager = await _manager(session, fields.get("manager_id"))
        team = Team(name=name, parent_id=parent.id if parent else None, manager_id=manager)
        session.add(team)
        await _flush_team(session, name)
        team.path = _path_under(parent, team)
        await session.flush()
        audit(
            ctx,
            session,
            "team.create",
            None,
            team_id=team.id,
            **_snapshot(team, ("name", "parent_id", "manager_id")),
        )
    return team


async def update_team(ctx: Context, team_id: object, fields: dict[str, Any]) -> Team:
    """ADMIN. The fields given change; `parent_id` None makes it a top-level team. A team
    cannot move under itself or its own subtree; a move rewrites the materialised path of
    the team and of its whole subtree in the same transaction."""
    ctx.plan.require("team", "manage")
    async with ctx.transaction() as session:
        # Every team, locked: moves of two teams at once must not make a cycle together.
        teams = {
            t.id: t
            for t in (
                await session.execute(select(Team).order_by(col(Team.id)).with_for_update())
            ).scalars()
        }
        team = teams.get(parse_id(team_id, "team"))
        if team is None:
            raise NotFound("team", team_id)
        before = _snapshot(team, ("name", "parent_id", "manager_id"))
        if "name" in fields:
            team.name = await _team_name(session, fields["name"], team.id)
        if "manager_id" in fields:
            team.manager_id = await _manager(session, fields["manager_id"])
        if "parent_id" in fields:
            parent = await _team(session, fields["parent_id"], "parentId")
            if parent is not None and parent.path.startswith(team.path):
                raise Validation(
                    N_(
                        "{name} is {name2} or inside it; a team cannot become its own ancestor.",
                        name=parent.name,
                        name2=team.name,
                    ),
                    field="parentId",
                )
            team.parent_id = parent.id if parent else None
            await _move_subtree(session, teams.values(), team, _path_under(parent, team))
        await _flush_team(session, team.name)
        after = _snapshot(team, before)
        changes = {k: [before[k], v] for k, v in after.items() if before[k] != v}
        if changes:
            audit(ctx, session, "team.update", None, team_id=team.id, changes=changes)
    return team


async def _team_name(session: AsyncSession, value: object, own_id: int | None) -> str:
    name = _name(value)
    check_widths(Team, {"name": name})
    other = await session.scalar(
        select(col(Team.id)).where(
            func.lower(col(Team.name)) == name.lower(), col(Team.id) != own_id
        )
    )
    if other is not None:
        raise Conflict(N_("A team named {name} already exists.", name=name), field="name")
    return name


async def _flush_team(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:  # another request took the name meanwhile
        raise Conflict(N_("A team named {name} already exists.", name=name), field="name") from exc


async def _manager(session: AsyncSession, user_id: object) -> int | None:
    if user_id is None:
        return None
    try:
        user = await session.get(User, parse_id(user_id, "user"))
    except NotFound:
        user = None
    if user is None:
        raise Validation(
            N_("No user {user_id} exists to manage the team.", user_id=user_id), field="managerId"
        )
    if not user.active:
        raise Validation(N_("{name} has been deactivated.", name=user.name), field="managerId")
    return user.id


def _path_under(parent: Team | None, team: Team) -> str:
    return f"{parent.path if parent else '/'}{team.id}/"


async def _move_subtree(session: AsyncSession, teams: Any, team: Team, new_path: str) -> None:
    """Rewrite the path of `team` and of every team below it (all loaded and locked)."""
    old_path = team.path
    if new_path == old_path:
        return
    moved = [t for t in teams if t.path.startswith(old_path)]
    if max(len(t.path) for t in moved) - len(old_path) + len(new_path) > PATH_LENGTH:
        raise Validation(N_("The team tree would be too deep there."), field="parentId")
    for t in moved:
        t.path = new_path + t.path[len(old_path) :]


# Lookups by name, for the command line and the CSV import.


async def team_id_named(ctx: Context, name: str | None) -> int | None:
    """The id of the team named `name` (any case), None for no name, VALIDATION for an
    unknown one."""
    if name is None or not name.strip():
        return None
    session = await ctx.session()
    found = await session.scalar(
        select(col(Team.id)).where(func.lower(col(Team.name)) == name.strip().lower())
    )
    if found is None:
        raise Validation(N_("No team named {name!r} exists.", name=name.strip()), field="team")
    return int(found)


async def user_id_by_email(ctx: Context, email: str) -> int:
    session = await ctx.session()
    found = await session.scalar(
        select(col(User.id)).where(func.lower(col(User.email)) == email.strip().lower())
    )
    if found is None:
        raise NotFound("user with email", email.strip())
    return int(found)
