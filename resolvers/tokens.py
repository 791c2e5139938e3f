"""API tokens: issued to a user or a partner, revoked at once (live sockets included)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import col

from authz.tokens import issue_token
from db.models import ApiToken, Partner, User
from db.outbox import queue_message
from kernel.errors import Forbidden, NotFound, Validation
from kernel.messages import N_
from resolvers.access import audit
from resolvers.context import Context
from resolvers.ids import parse_id
from subscriptions.bus import REVOCATIONS

# "*", "object:*" or "object:action" (see authz.principal.Principal.scope_allows).
SCOPE = re.compile(r"^(\*|[a-z][a-z_]*:(\*|[a-z][a-z_]*))$")
MAX_SCOPES = 50
# apiTokens is a plain list: the newest this many.
MAX_LISTED = 1000


@dataclass(frozen=True)
class Issued:
    row: ApiToken
    token: str


@dataclass(frozen=True)
class Listed:
    row: ApiToken
    partner_name: str | None


def _clean_scopes(scopes: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(s.strip() for s in scopes))
    if not cleaned:
        raise Validation(
            N_("Give at least one scope, e.g. 'customer:read' or '*'."), field="scopes"
        )
    if len(cleaned) > MAX_SCOPES:
        raise Validation(N_("At most {MAX_SCOPES} scopes.", MAX_SCOPES=MAX_SCOPES), field="scopes")
    if bad := [s for s in cleaned if not SCOPE.match(s)]:
        raise Validation(
            N_("'{value}' is not a scope; write 'object:action', 'object:*' or '*'.", value=bad[0]),
            field="scopes",
        )
    return cleaned


def _within(ctx: Context, scopes: list[str]) -> None:
    """A token never mints a more powerful one: a caller holding a scoped token may only
    pass on scopes it holds itself."""
    principal = ctx.plan.principal
    if "*" in principal.scopes:
        return
    for scope in scopes:
        obj, _, act = scope.partition(":")
        if scope == "*" or act == "*":
            held = scope in principal.scopes
        else:
            held = principal.scope_allows(obj, act)
        if not held:
            raise Forbidden(
                N_("Your token does not hold the scope '{scope}' to pass it on.", scope=scope)
            )


async def issue_api_token(
    ctx: Context,
    *,
    scopes: list[str],
    partner_name: str | None = None,
    user_id: object | None = None,
    expires_at: datetime | None = None,
) -> Issued:
    """ADMIN issues for anyone and for partners; others for themselves only. Scopes narrow
    what the token may do; the holder's role still bounds it. Without `expiresAt` the token
    lives `token_ttl_hours`."""
    plan = ctx.plan
    plan.require("token", "issue")
    if (partner_name is None) == (user_id is None):
        raise Validation(N_("Give exactly one of partnerName and userId."))
    scopes = _clean_scopes(scopes)
    _within(ctx, scopes)
    now = ctx.now()
    if expires_at is None:
        expires_at = now + timedelta(hours=ctx.settings.token_ttl_hours)
    if expires_at.tzinfo is None:
        raise Validation(N_("expiresAt needs a time zone, e.g. 2026-07-01T00:00:00Z."))
    if expires_at <= now:
        raise Validation(N_("expiresAt must be in the future."), field="expiresAt")
    async with ctx.transaction() as session:
        user = partner = None
        if partner_name is not None:
            # Only a caller who may issue for anyone may issue for a partner.
            if not plan.allows("token", "issue", 0):
                raise Forbidden(N_("Only an administrator issues partner tokens."))
            partner = (
                await session.execute(
                    select(Partner).where(col(Partner.name) == partner_name.strip())
                )
            ).scalar_one_or_none()
            if partner is None:
                raise NotFound("partner", partner_name)
            if not partner.active:
                raise Validation(N_("Partner {name} has been deactivated.", name=partner.name))
        else:
            user = await session.get(User, parse_id(user_id, "user"))
            if user is None:
                raise NotFound("user", user_id)
            if not plan.allows_user("token", "issue", user):
                raise Forbidden(N_("You may issue tokens for yourself only."))
            if not user.active:
                raise Validation(N_("{name} has been deactivated.", name=user.name), field="userId")
        row, token = await issue_token(
            session=session,
            secret=ctx.settings.secret(),
            algorithm=ctx.settings.jwt_algorithm,
            now=now,
            user=user,
            partner=partner,
            scopes=scopes,
            expires_at=expires_at,
        )
        audit(ctx, session, "token.issue", None, token_id=row.id, scopes=scopes)
    return Issued(row, token)


async def revoke_api_token(ctx: Context, token_id: object) -> bool:
    """ADMIN revokes any token, others their own; anyone else's is NOT_FOUND. Revoking
    twice is not an error."""
    plan = ctx.plan
    plan.require("token", "revoke")
    ident = parse_id(token_id, "token")
    now = ctx.now()
    async with ctx.transaction() as session:
        found = (
            await session.execute(
                select(ApiToken, User)
                .outerjoin(User, col(User.id) == col(ApiToken.user_id))
                .where(col(ApiToken.id) == ident)
            )
        ).first()
        if found is None:
            raise NotFound("token", token_id)
        row, owner = found
        mine = owner is not None and plan.allows_user("token", "revoke", owner)
        if not (mine or plan.allows("token", "revoke", 0)):
            raise NotFound("token", token_id)
        if row.revoked_at is None:
            await session.execute(
                update(ApiToken)
                .where(col(ApiToken.id) == ident, col(ApiToken.revoked_at).is_(None))
                .values(revoked_at=now)
            )
            audit(ctx, session, "token.revoke", None, token_id=ident)
            queue_message(session, REVOCATIONS, {"token_id": ident})
    return True


async def list_api_tokens(
    ctx: Context, *, include_revoked: bool = False, ident: int | None = None
) -> list[Listed]:
    """ADMIN lists every token, others their own (a partner token: its partner's), newest
    first; a token's secret is never shown again."""
    plan = ctx.plan
    plan.require("token", "read")
    principal = plan.principal
    stmt = select(ApiToken, col(Partner.name)).outerjoin(
        Partner, col(Partner.id) == col(ApiToken.partner_id)
    )
    if principal.is_partner:
        stmt = stmt.where(col(ApiToken.partner_id) == principal.partner_id)
    elif not plan.allows("token", "read", 0):
        stmt = stmt.where(col(ApiToken.user_id) == principal.user_id)
    if ident is not None:  # one token, by `node(id:)`: revoked or not
        stmt = stmt.where(col(ApiToken.id) == ident)
    elif not include_revoked:
        stmt = stmt.where(col(ApiToken.revoked_at).is_(None))
    stmt = stmt.order_by(col(ApiToken.id).desc()).limit(MAX_LISTED)
    rows = (await (await ctx.session()).execute(stmt)).all()
    return [Listed(row, partner) for row, partner in rows]
