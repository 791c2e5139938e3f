"""Configuration, from the environment (`OWNERGRAPH_*`) and the CLI."""

from __future__ import annotations

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
    # How long a token's lookup is reused in one process (a revocation made elsewhere takes
    # effect within this; one made through this process, at once). 0 turns it off.
    token_cache_seconds: float = 1.0
    # Freeze start-up objects and widen the collector's young generation (ownergraph/runtime.py).
    tune_gc: bool = True

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
