"""Bearer tokens: JWTs signed with the server secret, recorded by hash so they can be
revoked, expire, and show when they were last used."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import jwt
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from authz.principal import Principal
from db.enums import Role
from db.models import ApiToken, Partner, User
from kernel.errors import Unauthenticated
from kernel.messages import N_

ISSUER = "ownergraph"
# Writing last_used_at on every request would turn reads into writes; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(
    *,
    session: AsyncSession,
    secret: str,
    algorithm: str,
    now: datetime,
    user: User | None = None,
    partner: Partner | None = None,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for a user or a partner. Returns the row and the JWT (shown once)."""
    if user is not None and partner is None:
        subject = f"user:{user.id}"
    elif partner is not None and user is None:
        subject = f"partner:{partner.id}"
    else:
        raise ValueError("a token belongs to exactly one user or partner")
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": subject,
        "iat": now,
        "jti": secrets.token_urlsafe(16),
    }
    if expires_at is not None:
        claims["exp"] = expires_at
    token = jwt.encode(claims, secret, algorithm=algorithm)
    row = ApiToken(
        token_hash=token_hash(token),
        user_id=user.id if user else None,
        partner_id=partner.id if partner else None,
        scopes=list(scopes or ["*"]),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return row, token


def parse_bearer(header: str | None) -> str:
    if not header:
        raise Unauthenticated(N_("Sign in: send 'Authorization: Bearer <token>'."))
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(N_("The Authorization header must be 'Bearer <token>'."))
    return token.strip()


def needs_touch(api_token_last_used: datetime | None, now: datetime) -> bool:
    return api_token_last_used is None or now - api_token_last_used >= LAST_USED_RESOLUTION


async def touch(*, session: AsyncSession, token_id: int, now: datetime) -> None:
    await session.execute(
        update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=now)
    )


async def authenticate(
    *, session: AsyncSession, secret: str, algorithm: str, token: str, now: datetime
) -> tuple[Principal, datetime | None, User | None]:
    """The principal behind a token, when the token was last used and its user's row (None
    for a partner's), or Unauthenticated (malformed, forged, expired, revoked, or its user
    or partner deactivated)."""
    try:
        jwt.decode(
            token,
            secret,
            algorithms=[algorithm],
            issuer=ISSUER,
            # Expiry is checked below against the row and the injected clock.
            options={
                "require": ["sub", "iat", "jti"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated(N_("The token has expired.")) from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated(N_("The token is not valid.")) from exc

    row = (
        await session.execute(
            select(ApiToken, User, Partner)
            .outerjoin(User, col(User.id) == col(ApiToken.user_id))
            .outerjoin(Partner, col(Partner.id) == col(ApiToken.partner_id))
            .where(col(ApiToken.token_hash) == token_hash(token))
        )
    ).first()
    if row is None:
        raise Unauthenticated(N_("The token is not valid."))
    api_token, user, partner = row
    if api_token.revoked_at is not None:
        raise Unauthenticated(N_("The token has been revoked."))
    if api_token.expires_at is not None and api_token.expires_at <= now:
        raise Unauthenticated(N_("The token has expired."))
    if user is not None and not user.active:
        raise Unauthenticated(N_("This user has been deactivated."))
    if partner is not None and not partner.active:
        raise Unauthenticated(N_("This partner has been deactivated."))

    scopes = frozenset(api_token.scopes or ["*"])
    if user is not None:
        principal = Principal.of_user(user, token_id=api_token.id, scopes=scopes)
        return principal, api_token.last_used_at, user
    assert partner is not None
    principal = Principal(
        role=Role.PARTNER,
        name=partner.name,
        partner_id=partner.id,
        token_id=api_token.id,
        scopes=scopes,
    )
    return principal, api_token.last_used_at, None
