"""The DateTime scalar: ISO 8601, and always aware. A time without an offset is read as
UTC, so no resolver ever compares a naive time with the clock's aware one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NewType

import strawberry


def parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("A DateTime is an ISO 8601 string.")
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


DateTime = strawberry.scalar(
    NewType("DateTime", datetime),
    name="DateTime",
    description="Date with time (ISO 8601); without an offset, UTC.",
    serialize=lambda value: value.isoformat(),
    parse_value=parse_datetime,
)
SCALAR_OVERRIDES = {datetime: DateTime}
