"""Configuration, from the environment (`OWNERGRAPH_*`) and the CLI."""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_RECYCLE_DAYS = {"A": 30, "B": 60, "C": 90}
DEFAULT_CADENCE_DAYS = {"A": 30, "B": 90, "C": 180}
# The dispute rules resolvers/evidence.py knows, in their default order.
DISPUTE_RULES = ("first_entry", "closed_deal", "recent_follow_up")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OWNERGRAPH_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./ownergraph.db"
    broadcast_url: str | None = None
    # Names this deployment's channels on a shared broker (Redis pub/sub ignores the db
    # number); by default a short hash of the database URL, so two deployments on one
    # Redis never hear each other and the workers of one always do.
    deployment_id: str | None = None
    data_dir: Path = Path("./data")
    jwt_secret: str | None = None
    jwt_algorithm: str = "HS256"
    token_ttl_hours: int = 24 * 30

    # Query defenses.
    introspection: bool = True
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 4000
    max_page_size: int = 100
    # Objects a query could make us build (schema/cost.py).
    max_cost: int = 50_000

    # Ownership rules.
    recycle_days: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_RECYCLE_DAYS))
    recycle_warning_days: int = 3
    reclaim_cooldown_days: int = 30
    cadence_days: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_CADENCE_DAYS))
    dispute_priority: list[str] = Field(default_factory=lambda: list(DISPUTE_RULES))
    dispute_recent_days: int = 30
    handoff_on_active: bool = False
    handoff_team: str | None = None
    handoff_strategy: str = "least_loaded"
    scheduler_interval_seconds: float = 60.0

    # Live connections.
    # How often each worker re-reads the tokens of its open sockets (revocation must not
    # hang on one pub/sub message); every operation a socket starts is checked too.
    revocation_check_seconds: float = 5.0
    # While the broker is unreachable, live subscriptions re-read the database this often.
    bus_poll_seconds: float = 2.0
    max_subscriptions_per_connection: int = 100

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


@lru_cache
def get_settings() -> Settings:
    return Settings()
