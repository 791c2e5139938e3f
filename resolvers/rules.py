"""Editing the assignment rules: an admin replaces the ordered list as a whole."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import Tier
from db.models import AssignmentRule, Team, User
from kernel.errors import Validation
from kernel.messages import N_
from resolvers.access import audit
from resolvers.assignment import OWNER_ROLES, POOL_RULE, Strategy
from resolvers.context import Context
from resolvers.ids import parse_optional_id

MAX_RULES = 200
RULES_LOCK = 7303
MATCHERS = {"region": 80, "industry": 80, "source": 80}
FLAGS = ("by_region", "by_industry", "cross_team")


async def list_assignment_rules(ctx: Context) -> list[AssignmentRule]:
    ctx.plan.require("rule", "read")
    session = await ctx.session()
    return await _ordered(session)


async def _ordered(session: AsyncSession) -> list[AssignmentRule]:
    stmt = select(AssignmentRule).order_by(col(AssignmentRule.position), col(AssignmentRule.id))
    return list((await session.execute(stmt)).scalars())


def _clean(position: int, raw: dict[str, Any]) -> dict[str, Any]:
    where = f"rules[{position}]"
    name = (raw.get("name") or "").strip()
    if not name or len(name) > 120:
        raise Validation(
            N_("{where}: a rule needs a name of 1 to 120 characters.", where=where), field="name"
        )
    if name == POOL_RULE:
        raise Validation(
            N_(
                "{where}: '{POOL_RULE}' is reserved for 'no rule applied'.",
                where=where,
                POOL_RULE=POOL_RULE,
            ),
            field="name",
        )
    try:
        strategy = Strategy(str(raw.get("strategy")))
    except ValueError:
        raise Validation(N_("{where}: unknown strategy.", where=where), field="strategy") from None
    rule: dict[str, Any] = {"position": position, "name": name, "strategy": str(strategy)}
    for field, limit in MATCHERS.items():
        value = raw.get(field)
        value = value.strip() if isinstance(value, str) else None
        if value and len(value) > limit:
            raise Validation(
                N_(
                    "{where}: {field} is longer than {limit} characters.",
                    where=where,
                    field=field,
                    limit=limit,
                ),
                field=field,
            )
        rule[field] = value or None
    tier = raw.get("tier")
    if tier is not None and str(tier) not in {t.value for t in Tier}:
        raise Validation(N_("{where}: unknown tier.", where=where), field="tier")
    rule["tier"] = str(tier) if tier is not None else None
    for flag in FLAGS:
        rule[flag] = bool(raw.get(flag))
    rule["user_id"] = parse_optional_id(raw.get("user_id"), "user")
    rule["team_id"] = parse_optional_id(raw.get("team_id"), "team")
    if strategy == Strategy.USER:
        if rule["user_id"] is None or rule["team_id"] is not None:
            raise Validation(
                N_("{where}: a 'user' rule names a user and no team.", where=where), field="userId"
            )
    elif rule["team_id"] is None or rule["user_id"] is not None:
        raise Validation(
            N_("{where}: a team strategy names a team and no user.", where=where), field="teamId"
        )
    return rule


async def set_assignment_rules(ctx: Context, rules: list[dict[str, Any]]) -> list[AssignmentRule]:
    """Replace the whole ordered list (ADMIN). A round-robin rule that keeps its name and
    team keeps its position in the rotation."""
    ctx.plan.require("rule", "manage")
    if len(rules) > MAX_RULES:
        raise Validation(N_("At most {MAX_RULES} rules.", MAX_RULES=MAX_RULES), field="rules")
    cleaned = [_clean(i, raw) for i, raw in enumerate(rules)]
    names = [r["name"] for r in cleaned]
    if len(set(names)) != len(names):
        raise Validation(N_("Rule names must be unique: the events record them."), field="name")
    async with ctx.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text(f"SELECT pg_advisory_xact_lock({RULES_LOCK})"))
        await _check_references(session, cleaned)
        kept = {(r.name, r.team_id): r.last_user_id for r in await _ordered(session)}
        await session.execute(delete(AssignmentRule))
        session.add_all(
            AssignmentRule(**r, last_user_id=kept.get((r["name"], r["team_id"]))) for r in cleaned
        )
        audit(ctx, session, "rules.set", None, rules=names)
        await session.flush()
        result = await _ordered(session)
    return result


async def _check_references(session: AsyncSession, rules: list[dict[str, Any]]) -> None:
    user_ids = {r["user_id"] for r in rules if r["user_id"] is not None}
    team_ids = {r["team_id"] for r in rules if r["team_id"] is not None}
    users = {
        u.id: u
        for u in (await session.execute(select(User).where(col(User.id).in_(user_ids)))).scalars()
    }
    teams = set(
        (await session.execute(select(col(Team.id)).where(col(Team.id).in_(team_ids)))).scalars()
    )
    for r in rules:
        where = f"rules[{r['position']}]"
        if r["user_id"] is not None:
            user = users.get(r["user_id"])
            if user is None:
                raise Validation(
                    N_("{where}: no user {user_id} exists.", where=where, user_id=r["user_id"]),
                    field="userId",
                )
            if not user.active or user.role not in OWNER_ROLES:
                raise Validation(
                    N_("{where}: {name} cannot own customers.", where=where, name=user.name),
                    field="userId",
                )
        if r["team_id"] is not None and r["team_id"] not in teams:
            raise Validation(
                N_("{where}: no team {team_id} exists.", where=where, team_id=r["team_id"]),
                field="teamId",
            )
