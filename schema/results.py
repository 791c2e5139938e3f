"""Small result shapes: duplicate matches, statistics, hand-overs, issued tokens."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.user import User


@strawberry.type
class DuplicateMatch:
    customer_id: strawberry.ID
    name: str
    owner_name: str | None
    team_name: str | None
    matched_on: list[str]
    similarity: float = strawberry.field(
        description="1.0 for an exact key; lower for similar names (0..1, rapidfuzz)."
    )


@strawberry.type
class OwnerLoad:
    owner: User
    customers: int
    overdue: int


@strawberry.type
class OwnershipStats:
    owners: list[OwnerLoad]
    pool_size: int
    overdue_follow_ups: int
    gini_of_load: float
    changes_last30_days: int = strawberry.field(name="changesLast30Days")


@strawberry.type
class HandOverResult:
    moved: int
    to_user: User | None
    to_pool: bool


@strawberry.type
class IssuedToken:
    id: strawberry.ID = strawberry.field(
        description="The ApiToken's global id; revokeApiToken takes it."
    )
    token: str
    scopes: list[str]
    expires_at: datetime | None
