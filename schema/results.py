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


@strawberry.type(description="Customers that went to a pool for one reason code.")
class ReleaseReasonCount:
    code: str = strawberry.field(description="The reason code, e.g. no_interest.")
    zh: str = strawberry.field(description="Its Chinese label.")
    en: str = strawberry.field(description="Its English label.")
    count: int = strawberry.field(description="Releases and recycles in the last 30 days.")


@strawberry.type
class OwnershipStats:
    owners: list[OwnerLoad]
    pool_size: int
    overdue_follow_ups: int
    gini_of_load: float
    changes_last30_days: int = strawberry.field(name="changesLast30Days")
    releases_by_reason: list[ReleaseReasonCount] = strawberry.field(
        default_factory=list,
        description="Releases (and recycles, as `overdue`) in the last 30 days, by reason code.",
    )


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
