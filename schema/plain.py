"""Plain-data fields: attributes filled once when an object is built, read by strawberry's
default resolver (no method call, no `Info`, no task per field)."""

from __future__ import annotations

from typing import Any

import strawberry


def attr(description: str | None = None) -> Any:
    """A field that is an attribute set after construction (not an `__init__` argument),
    so an object can be built from a row in one place and only with what was selected."""
    field = strawberry.field(description=description)
    field.init = False
    return field
