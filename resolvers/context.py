"""The typed per-request context, and the long-lived services it is made from."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import casbin
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from authz.fields import FieldMasks
from authz.plan import Plan
from authz.principal import Principal
from authz.ratelimit import RateLimiter
from authz.relations import Windows
from authz.tokens import authenticate, needs_touch, parse_bearer, touch
from db.engine import Database
from db.enums import Role
from db.models import AuditEntry, Team, User
from db.outbox import take_messages
from db.pools import Pools, load_pools
from kernel.clock import Clock
from kernel.errors import Conflict, DomainError, Unauthenticated
from kernel.messages import N_
from kernel.settings import Settings
from resolvers.loaders import Loaders
from subscriptions.bus import Bus
from subscriptions.feed import plan_key

# PostgreSQL's deadlock_detected and serialization_failure.
CONTENTION_STATES = frozenset({"40P01", "40001"})


def is_contention(exc: DBAPIError) -> bool:
    """The database broke a tie between concurrent writers (not a bug in the request)."""
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return state in CONTENTION_STATES or "database is locked" in str(exc.orig)


class SerialSession:
    """The request's read session. Sibling fields resolve concurrently, and an AsyncSession
    takes one statement at a time, so statements queue here (loaders still batch)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._lock = asyncio.Lock()

    def get_bind(self) -> Engine | Connection:
        return self._session.get_bind()

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await self._session.execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await self._session.scalar(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await self._session.get(*args, **kwargs)

    async def close(self) -> None:
        async with self._lock:
            await self._session.close()


@dataclass(frozen=True)
class Authenticated:
    principal: Principal
    plan: Plan
    last_used: datetime | None
    until: datetime
    user: Any = None  # the token's user as read with it, for `me` (resolvers/directory.py)


@dataclass(eq=False)
class Services:
    """What lives as long as the app: built once by the app factory."""

    db: Database
    settings: Settings
    clock: Clock
    bus: Bus
    enforcer: casbin.Enforcer
    limiter: RateLimiter | None = None
    # Bearer token -> what it authenticated as, for at most `token_cache_seconds`; emptied
    # by every write this process commits (a revocation takes effect at once here, and
    # within the TTL in other processes).
    tokens: dict[str, Authenticated] = field(default_factory=dict)
    # Every pool with its rules, kept as long as a token's lookup and emptied by the same
    # writes: each live delivery has its own context, and must not read them again.
    pools: tuple[datetime, Pools] | None = None
    pools_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Subscription events' results shared by subscribers who see them alike
    # (schema/execution.py); typed loosely, it belongs to the schema layer.
    shared_results: Any = None
    # The plans of open sockets, one per token and rights: a socket keeps its plan while
    # it is open, and each plan holds its compiled scope (SQL), so a thousand sockets on a
    # handful of tokens hold a handful of plans, not one per token lookup.
    socket_plans: weakref.WeakValueDictionary[Hashable, Plan] = field(
        default_factory=weakref.WeakValueDictionary
    )
    # One lookup of a token at a time: requests that find its entry missing or expired
    # wait for the first one's instead of each checking the token and building a plan
    # (sixteen at once, each second, for a dashboard's connections).
    token_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )

    def forget(self) -> None:
        """This process committed a write: what it cached may be out of date."""
        self.tokens.clear()
        self.pools = None


@dataclass(eq=False)
class Context:
    services: Services
    principal: Principal | None = None
    auth_error: DomainError | None = None
    # What the token check found (kept at most `token_cache_seconds`, emptied by writes).
    authenticated: Authenticated | None = None
    _plan: Plan | None = None
    _session: SerialSession | None = None
    _loaders: Loaders | None = None
    _field_masks: FieldMasks | None = None
    _pools: Pools | None = None
    # Paths of fields returned as null because the caller may not see them.
    masked: list[str] = field(default_factory=list)
    # Customers whose sensitive fields were read under an audited relation.
    audited: set[int] = field(default_factory=set)
    # What each field of the operation selects, read once (schema/selection.py); the
    # documents' nodes live as long as the request, so their ids are stable keys.
    shapes: dict[tuple[int, ...], Any] = field(default_factory=dict)
    # Set by strawberry from a WebSocket's connection_init payload.
    connection_params: dict[str, object] | None = None
    # The WebSocket a subscription context serves, so a revoked token can close it.
    websocket: Any = None
    # The caller's address: the rate-limit bucket of unauthenticated calls.
    client_ip: str | None = None
    # Set when a rate limit refused an operation, for the HTTP Retry-After header.
    retry_after: int | None = None

    @property
    def loaders(self) -> Loaders:
        """Built on first use: most requests need few of them, or none."""
        if self._loaders is None:
            self._loaders = Loaders(self)
        return self._loaders

    @property
    def field_masks(self) -> FieldMasks:
        if self._field_masks is None:
            self._field_masks = FieldMasks(self.plan)
        return self._field_masks

    async def pools(self, session: Any = None) -> Pools:
        """Every pool with its rules: the same for the whole request, and read at most
        once per `token_cache_seconds` by the process (a write passes its session, and
        reads them afresh there)."""
        if session is not None:
            return await load_pools(session, self.settings)
        if self._pools is None:
            services = self.services
            async with services.pools_lock:  # sibling fields and other requests: one read
                kept, now = services.pools, self.now()
                if kept is None or kept[0] <= now:
                    pools = await load_pools(await self.session(), self.settings)
                    ttl = timedelta(seconds=self.settings.token_cache_seconds)
                    kept = (now + ttl, pools)
                    if ttl > timedelta(0):
                        services.pools = kept
                self._pools = kept[1]
        return self._pools

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def bus(self) -> Bus:
        return self.services.bus

    def now(self) -> datetime:
        return self.services.clock.now()

    @property
    def plan(self) -> Plan:
        if self._plan is None:
            raise self.auth_error or Unauthenticated(N_("Sign in first."))
        return self._plan

    @property
    def user_id(self) -> int | None:
        return self.principal.user_id if self.principal else None

    async def session(self) -> AsyncSession:
        """The request's read session (opened on first use)."""
        if self._session is None:
            self._session = SerialSession(self.services.db.read())
        return self._session  # type: ignore[return-value]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction. Commits on success, then publishes what it queued and
        starts reads afresh, so what the mutation returns reflects what it wrote."""
        # The read connection goes back first: a request never holds two, or 16 writers
        # would need 32 connections and wait on each other until the pool timed out.
        if self._session is not None:
            await self._session.close()
            self._session = None
        try:
            async with self.services.db.write() as session, session.begin():
                yield session
                messages = take_messages(session)
        except DBAPIError as exc:
            if not is_contention(exc):
                raise
            # Both writers were right to try; the database chose one. Nothing was written.
            raise Conflict(
                N_(
                    "Someone changed the same records at the same moment; nothing was saved. "
                    "Reload and try again."
                )
            ) from exc
        self.services.forget()
        for channel, message in messages:
            await self.bus.publish(channel, message)
        await self.refresh()

    async def flush_audits(self, operation: str | None) -> None:
        """Write down the sensitive reads made under an audited relation, one row each."""
        if not self.audited or self.principal is None:
            return
        customer_ids, self.audited = sorted(self.audited), set()
        now, principal = self.now(), self.principal
        async with self.services.db.write() as session, session.begin():
            # One executemany, however many customers were read (no per-row RETURNING).
            await session.execute(
                insert(AuditEntry),
                [
                    {
                        "at": now,
                        "actor_id": principal.user_id,
                        "partner_id": principal.partner_id,
                        "action": "customer.read_sensitive",
                        "customer_id": customer_id,
                        "detail": {"operation": operation},
                    }
                    for customer_id in customer_ids
                ],
            )

    async def refresh(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._loaders = None
        self._pools = None
        self.shapes.clear()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        # Loaders refer back to this context: let go of them so the request's objects are
        # freed by reference counting, not left for the cycle collector.
        self._loaders = None


async def build_context(
    services: Services, authorization: str | None, *, client_ip: str | None = None
) -> Context:
    """Authenticate the bearer token and build the plan: two statements in the request's
    own session (none while the token is cached)."""
    ctx = Context(services, client_ip=client_ip)
    await authorize(ctx, authorization)
    return ctx


async def authorize(ctx: Context, authorization: str | None) -> Context:
    """Fill in the principal and plan, or the reason there are none."""
    services = ctx.services
    if not authorization:
        ctx.auth_error = Unauthenticated(N_("Sign in: send 'Authorization: Bearer <token>'."))
        return ctx
    settings = services.settings
    now = services.clock.now()
    limiter = services.limiter
    if limiter is not None:
        # An IP that spent its bucket on failed sign-ins is not looked up at all.
        quota = await limiter.look(*limiter.bucket_for(None, ctx.client_ip))
        if quota.retry_after is not None:
            ctx.auth_error = quota.refusal("this address")
            return ctx
    token = authorization
    try:
        token = parse_bearer(authorization)
        known = services.tokens.get(token)
        if known is None or known.until <= now:
            async with services.token_locks.setdefault(token, asyncio.Lock()):
                known = services.tokens.get(token)
                if known is None or known.until <= now:
                    known = await _authenticate(ctx, token, now)
                    if settings.token_cache_seconds > 0:
                        services.tokens[token] = known
        if needs_touch(known.last_used, now) and known.principal.token_id is not None:
            async with services.db.write() as session, session.begin():
                await touch(session=session, token_id=known.principal.token_id, now=now)
            known = replace(known, last_used=now)
        if settings.token_cache_seconds > 0:
            services.tokens[token] = known
    except DomainError as exc:
        services.tokens.pop(token, None)
        ctx.auth_error = exc
        if limiter is not None:
            await limiter.charge_failed_sign_in(ctx.client_ip)
        return ctx
    ctx.principal = known.principal
    ctx._plan = known.plan
    if ctx.websocket is not None:
        key = (known.principal, plan_key(known.plan))
        ctx._plan = services.socket_plans.setdefault(key, known.plan)
        known = replace(known, plan=ctx._plan)
    ctx.authenticated = known
    return ctx


async def _authenticate(ctx: Context, token: str, now: datetime) -> Authenticated:
    services = ctx.services
    settings = services.settings
    session = await ctx.session()
    principal, last_used, user = await authenticate(
        session=session,
        secret=settings.secret(),
        algorithm=settings.jwt_algorithm,
        token=token,
        now=now,
    )
    teams = list((await session.execute(select(Team))).scalars())
    if ctx.websocket is not None:
        await ctx.close()  # a socket holds no session while it waits
    plan = build_plan(services, principal, teams)
    until = now + timedelta(seconds=settings.token_cache_seconds)
    if len(services.tokens) > 10_000:  # bounded: forget everything rather than grow
        services.tokens.clear()
    return Authenticated(principal, plan, last_used, until, user)


async def context_for_user(services: Services, email: str) -> Context:
    """A context acting as an active user without a token, for trusted local tools (the
    CLI): the same principal and plan a request with that user's full-scope token gets."""
    async with services.db.read() as session:
        user = await session.scalar(
            select(User).where(func.lower(col(User.email)) == email.strip().lower())
        )
        teams = list((await session.execute(select(Team))).scalars())
    if user is None or not user.active:
        raise Unauthenticated(N_("No active user with email {email!r}.", email=email))
    principal = Principal.of_user(user)
    return Context(services, principal=principal, _plan=build_plan(services, principal, teams))


def build_plan(services: Services, principal: Principal, teams: list[Team]) -> Plan:
    """The plan as of now, with the windows the history-reading relations look back."""
    settings = services.settings
    windows = Windows(
        duplicate_notice_hours=settings.dispute_duplicate_notice_hours,
        former_owner_days=settings.dispute_former_owner_days,
        reclaim_cooldown_days=settings.reclaim_cooldown_days,
    )
    return Plan.build(
        services.enforcer, principal, teams, now=services.clock.now(), windows=windows
    )


# Who the audit log names for what the command line does (no user, no partner).
OPERATOR = "command line"


def context_for_operator(services: Services) -> Context:
    """A context for the trusted local operator (CLI `token` commands): ADMIN's plan with
    no user behind it, so audit entries name no actor and say `by: command line`."""
    principal = Principal(role=Role.ADMIN, name=OPERATOR)
    return Context(
        services, principal=principal, _plan=Plan.build(services.enforcer, principal, [])
    )
