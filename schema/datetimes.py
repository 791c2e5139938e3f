"""The DateTime scalar: ISO 8601 with an offset. A time without one is refused here, for
every argument alike, so no resolver ever compares a naive time with the clock's aware
one (that answered INTERNAL)."""

from __future__ import annotations

from datetime import datetime
from typing import NewType

import strawberry


def parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("A DateTime is an ISO 8601 string.")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("A DateTime needs a time zone, e.g. 2026-07-01T00:00:00Z.")
    return parsed


DateTime = strawberry.scalar(
    NewType("DateTime", datetime),
    name="DateTime",
    description="Date with time (ISO 8601), with a time zone (e.g. 2026-07-01T00:00:00Z).",
    # RFC 3339 date-times, as the GraphQL Scalars project specifies them.
    specified_by_url="https://scalars.graphql.org/andimarek/date-time",
    serialize=lambda value: value.isoformat(),
    parse_value=parse_datetime,
)
SCALAR_OVERRIDES = {datetime: DateTime}
