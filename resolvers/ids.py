"""Ids from clients."""

from __future__ import annotations

from kernel.errors import NotFound

# Ids are 32-bit integer keys: anything larger cannot exist (and PostgreSQL would refuse
# to compare it).
MAX_ID = 2**31 - 1


def parse_id(value: object, what: str = "customer") -> int:
    """An id from a client. Anything that is not one of ours is simply not found."""
    try:
        ident = int(str(value))
    except ValueError:
        raise NotFound(what, value) from None
    if ident <= 0 or ident > MAX_ID:
        raise NotFound(what, value)
    return ident


def parse_optional_id(value: object | None, what: str) -> int | None:
    return None if value is None else parse_id(value, what)
