"""Configuration, from the environment (`OWNERGRAPH_*`) and the CLI."""

from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DuplicateAction = Literal["block", "warn"]
DEFAULT_DUPLICATE_ACTIONS: dict[str, DuplicateAction] = {
    "name": "block",
    "taxId": "block",
    "phone": "block",
    "emailDomain": "block",
}
DEFAULT_RECYCLE_DAYS = {"A": 30, "B": 60, "C": 90}
DEFAULT_CADENCE_DAYS = {"A": 30, "B": 90, "C": 180}
# The dispute rules resolvers/evidence.py knows, in their default order.
DISPUTE_RULES = ("first_entry", "closed_deal", "recent_follow_up")
# Roles whose every read of a sensitive field is written to the audit log.
DEFAULT_AUDITED_ROLES = ("AUDITOR", "ADMIN", "DIRECTOR")
# Why a customer goes back to a pool: code -> labels by language (releaseToPool.reasonCode).
DEFAULT_RELEASE_REASONS = {
    "no_interest": {"zh": "无意向", "en": "No interest"},
    "unreachable": {"zh": "联系不上", "en": "Unreachable"},
    "duplicate": {"zh": "重复", "en": "Duplicate"},
    "wrong_territory": {"zh": "非本区域", "en": "Wrong territory"},
    "overdue": {"zh": "跟进逾期", "en": "Follow-up overdue"},
    "other": {"zh": "其他", "en": "Other"},
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OWNERGRAPH_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./ownergraph.db"
    # Database connections per worker process (db/engine.py): up to pool_size kept open
    # and max_overflow more opened under load. Keep workers x (pool_size + max_overflow)
    # below the server's `SHOW max_connections` less what other clients use. A request
    # waits up to pool_timeout seconds for a connection before it fails.
    database_pool_size: int = 10
    database_max_overflow: int = 20
    database_pool_timeout: float = 30.0
    broadcast_url: str | None = None
    # Names this deployment's channels on a shared broker (Redis pub/sub ignores the db
    # number); by default a short hash of the database URL, so two deployments on one
    # Redis never hear each other and the workers of one always do.
    deployment_id: str | None = None
    data_dir: Path = Path("./data")
    jwt_secret: str | None = None
    jwt_algorithm: str = "HS256"
    token_ttl_hours: int = 24 * 30
    audited_roles: list[str] = Field(default_factory=lambda: list(DEFAULT_AUDITED_ROLES))

    # Query defenses. Production turns off introspection, GraphiQL and field suggestions.
    production: bool = False
    introspection: bool = True
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 4000
    max_page_size: int = 100
    # Objects a query could make us build (schema/cost.py).
    max_cost: int = 50_000
    # Fields a document asks for once its fragments are expanded (schema/limits.py).
    max_selections: int = 2_000
    # Any string argument or variable, and any list in one (schema/limits.py).
    max_string_length: int = 10_000
    max_list_length: int = 1_000
    # Lists a caller writes (resolvers/validation.py); the query cost counts them at these.
    max_contacts: int = 50
    max_tags: int = 50
    max_collaborators: int = 20
    max_transfer_customers: int = 100

    # Rate limits (authz/ratelimit.py): buckets of cost points that refill every second,
    # one per token, one per client IP for unauthenticated calls and failed sign-ins.
    # Twice the largest operation max_cost admits, so any valid query fits a bucket that
    # is not half spent; full again in 20 s.
    rate_limit_points: int = Field(100_000, gt=0)
    rate_limit_restore_rate: float = Field(5_000, gt=0)
    ip_rate_limit_points: int = Field(2_000, gt=0)
    ip_rate_limit_restore_rate: float = Field(100, gt=0)
    # What a failed sign-in costs its IP, on top of the operation's own cost.
    failed_auth_cost: int = Field(20, ge=0)
    # Redis key prefix for shared buckets; by default one per database (one deployment).
    rate_limit_prefix: str | None = None
    # How long a token's lookup, and the pools with their rules, are reused in one process
    # (a change made elsewhere takes effect within this; one made through this process, at
    # once). 0 turns it off.
    token_cache_seconds: float = 1.0
    # Freeze start-up objects and widen the collector's young generation (ownergraph/runtime.py).
    tune_gc: bool = True

    # Ownership rules.
    recycle_days: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_RECYCLE_DAYS))
    recycle_warning_days: int = 3
    reclaim_cooldown_days: int = 30
    cadence_days: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_CADENCE_DAYS))
    # Pools (db/pools.py): the defaults of every pool's rules (a rule a pool does not set).
    daily_claim_limit: int | None = Field(default=None, ge=0)
    new_arrival_embargo_hours: int = Field(default=0, ge=0)
    recycle_after_no_deal_days: int | None = Field(default=None, gt=0)
    exempt_closed_deals: bool = False
    # Days a newly created or newly claimed customer cannot be recycled (0: none).
    protection_days: int = Field(default=0, ge=0)
    # Does a customer that reached ACTIVE count toward its owner's capacity?
    capacity_counts_closed_deals: bool = True
    # The organisation's time zone (IANA name): where a day of daily claim limits begins.
    org_time_zone: str = "UTC"
    release_reason_codes: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_RELEASE_REASONS.items()}
    )
    require_release_reason_code: bool = False
    dispute_priority: list[str] = Field(default_factory=lambda: list(DISPUTE_RULES))
    dispute_recent_days: int = 30
    # How long a DUPLICATE_CUSTOMER answer lets its receiver dispute the customer it names,
    # and how long a former owner who lost a customer (not by releasing it) may dispute it.
    dispute_duplicate_notice_hours: float = 1
    dispute_former_owner_days: int = 90
    # When a transfer executes, the old owner's open follow-up reminders of its customers
    # go to the new owner ("move") or are cancelled ("cancel"); the plan stays either way.
    transfer_reminders: Literal["move", "cancel"] = "move"
    # The least credit share (percent) an owner keeps when adding collaborators.
    min_owner_share: int = Field(default=10, ge=0, le=100)
    handoff_on_active: bool = False
    # Duplicates (db/similar.py, resolvers/duplicates.py): names at least this similar
    # (0..1) are reported by duplicateCheck; the region phone numbers without a country
    # code are read in; and per exact key kind, "block" (DUPLICATE_CUSTOMER) or "warn"
    # (DUPLICATE_CUSTOMER unless createCustomer is called with confirmDuplicate: true).
    duplicate_similarity_threshold: float = Field(default=0.7, gt=0, le=1)
    phone_region: str = "CN"
    duplicate_actions: dict[str, DuplicateAction] = Field(
        default_factory=lambda: dict(DEFAULT_DUPLICATE_ACTIONS)
    )
    handoff_team: str | None = None
    handoff_strategy: str = "least_loaded"
    # A FOLLOW_UP_DUE / CADENCE_DUE left undone this many days goes to the owner's manager
    # as OVERDUE_ESCALATION; after overdue_release_after_days (unset: never) the customer
    # goes to the pool, recorded with the rule "overdue" (db/escalation.py).
    escalate_after_days: int = Field(default=3, ge=1)
    overdue_release_after_days: int | None = Field(default=None, ge=1)
    scheduler_interval_seconds: float = 60.0
    # Rows one job transaction touches at most (recycled customers, reminders written or
    # fired); a bigger backlog takes several short transactions.
    job_batch_size: int = Field(default=2000, ge=1)
    # A run that changed at least this many rows refreshes the planner's statistics.
    job_analyze_after_rows: int = Field(default=10_000, ge=1)

    # Export with approval: how long an approved CSV stays downloadable, and rows per fetch.
    export_ttl_hours: int = Field(default=24, gt=0)
    export_batch_size: int = Field(default=1000, gt=0)

    # Deployment.
    # Browser origins (scheme://host[:port]) that may call the API and open WebSockets,
    # comma-separated; "*" for any. Unset: localhost origins unless in production.
    allowed_origins: Annotated[list[str] | None, NoDecode] = None
    log_format: Literal["text", "json"] = "text"
    # A pick-list of the demo users that signs in with one click, in GraphiQL and the
    # dashboard (ownergraph/demo_login.py); only ever on a loopback-bound, non-production
    # server. `bind_host` is set by `ownergraph serve --host`.
    demo_login: bool = False
    bind_host: str | None = None
    # Run only operations on the persisted-query allow-list (`ownergraph persisted-queries
    # load`); nothing is registered at run time then (ownergraph/persisted.py).
    persisted_only: bool = False
    # OpenTelemetry spans per operation (ownergraph/tracing.py): None = when installed.
    tracing: bool | None = None
    # A span per resolved field too (slower: every field goes through a resolver).
    trace_resolvers: bool = False
    # Persisted queries each worker keeps in memory once found.
    persisted_cache_size: int = Field(default=4096, ge=1)
    # The language of messages when a request's Accept-Language names none we have
    # (zh-CN or en; kernel/messages.py).
    default_locale: str = "zh-CN"
    log_level: str = "INFO"

    @field_validator("tracing")
    @classmethod
    def _tracing_installed(cls, value: bool | None) -> bool | None:
        if value is True and importlib.util.find_spec("opentelemetry") is None:
            raise ValueError(
                "tracing needs OpenTelemetry: install the `otel` extra "
                "(pip install 'ownergraph[otel]'), or leave OWNERGRAPH_TRACING unset"
            )
        return value

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        from kernel.messages import normalize

        if normalize(value) is None:
            raise ValueError("messages are in zh-CN or en")
        return value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    # Live connections.
    # How often each worker re-reads the tokens of its open sockets (revocation must not
    # hang on one pub/sub message); every operation a socket starts is checked too.
    revocation_check_seconds: float = 5.0
    # While the broker is unreachable, live subscriptions re-read the database this often.
    bus_poll_seconds: float = 2.0
    max_subscriptions_per_connection: int = 100
    # permessage-deflate on WebSockets. Off by default, as Hasura has it: live messages are
    # a few hundred bytes, and each compressed socket keeps ~40 KiB of zlib state and
    # spends CPU on every message (issue 7's thousand subscribers).
    websocket_compression: bool = False

    @field_validator("dispute_priority")
    @classmethod
    def _known_rules(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in DISPUTE_RULES]
        if unknown:
            raise ValueError(f"unknown dispute rules {unknown}; known: {list(DISPUTE_RULES)}")
        return value

    @field_validator("recycle_days", "cadence_days")
    @classmethod
    def _every_tier(cls, value: dict[str, int]) -> dict[str, int]:
        if set(value) != {"A", "B", "C"} or any(days <= 0 for days in value.values()):
            raise ValueError("give a positive number of days for each tier A, B and C")
        return value

    @field_validator("org_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone
        return value

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection and not self.production

    @property
    def demo_login_enabled(self) -> bool:
        """Demo sign-in: asked for, not in production, and bound to a loopback address."""
        return self.demo_login and not self.production and _is_loopback(self.bind_host)

    def channel_prefix(self) -> str:
        """The prefix of every bus channel of this deployment."""
        ident = self.deployment_id or hashlib.sha256(self.database_url.encode()).hexdigest()[:12]
        return f"ownergraph:{ident}:"

    def secret(self) -> str:
        """The JWT signing secret: configured, or generated once and kept in `data_dir`."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        self.jwt_secret = path.read_text().strip()
        return self.jwt_secret


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@lru_cache
def get_settings() -> Settings:
    return Settings()
