"""Ids from clients."""

from __future__ import annotations

import re

from kernel.errors import NotFound

# Ids are 32-bit integer keys: anything larger cannot exist (and PostgreSQL would refuse
# to compare it).
MAX_ID = 2**31 - 1
# Plain ASCII digits only: int() also takes "1_2", " 12", "+12" and "１２", which would
# answer customer 12 for an id it never gave out.
_DIGITS = re.compile(r"[0-9]{1,10}")


def parse_id(value: object, what: str = "customer") -> int:
    """An id from a client. Anything that is not one of ours is simply not found."""
    text = value if isinstance(value, str) else str(value) if isinstance(value, int) else ""
    if not _DIGITS.fullmatch(text):
        raise NotFound(what, value)
    ident = int(text)
    if ident <= 0 or ident > MAX_ID:
        raise NotFound(what, value)
    return ident


def parse_optional_id(value: object | None, what: str) -> int | None:
    return None if value is None else parse_id(value, what)
