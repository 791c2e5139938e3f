"""Ids from clients, and the global ids (Relay) given to them."""

from __future__ import annotations

import re

from strawberry.relay import GlobalID
from strawberry.relay.types import GlobalIDValueError

from kernel.errors import NotFound

# Ids are 32-bit integer keys: anything larger cannot exist (and PostgreSQL would refuse
# to compare it).
MAX_ID = 2**31 - 1
# Plain ASCII digits only: int() also takes "1_2", " 12", "+12" and "１２", which would
# answer customer 12 for an id it never gave out.
_DIGITS = re.compile(r"[0-9]{1,10}")
# What a caller names (`what`, also in NOT_FOUND's message) -> the GraphQL type whose global
# ids it takes. A global id of another type is not one of these: NOT_FOUND.
TYPE_OF = {
    "customer": "Customer",
    "user": "User",
    "team": "Team",
    "follow-up": "FollowUp",
    "ownership event": "OwnershipEvent",
    "transfer request": "TransferRequest",
    "dispute": "Dispute",
    "reminder": "Reminder",
    "token": "ApiToken",
    "audit entry": "AuditEntry",
    "export request": "ExportRequest",
    "export": "ExportRequest",
    "pool": "Pool",
}


def global_id(type_name: str, ident: int) -> str:
    """The opaque id clients see: strawberry's relay encoding, base64 of "Type:id"."""
    return str(GlobalID(type_name, str(ident)))


def _number(text: str) -> int | None:
    if not _DIGITS.fullmatch(text):
        return None
    ident = int(text)
    return ident if 0 < ident <= MAX_ID else None


def decode_global_id(value: object) -> tuple[str, int] | None:
    """(type name, database id) of a global id this server could have given out."""
    if not isinstance(value, str):
        return None
    try:
        gid = GlobalID.from_id(value)
    except (GlobalIDValueError, ValueError):
        return None
    ident = _number(gid.node_id)
    return None if ident is None else (gid.type_name, ident)


def parse_id(value: object, what: str = "customer") -> int:
    """An id from a client: the bare database id or the type's global id. Anything that is
    not one of ours (malformed, another type's) is simply not found."""
    text = value if isinstance(value, str) else str(value) if isinstance(value, int) else ""
    ident = _number(text)
    if ident is None:
        decoded = decode_global_id(value)
        if decoded is None or decoded[0] != TYPE_OF.get(what):
            raise NotFound(what, value)
        ident = decoded[1]
    return ident


def parse_optional_id(value: object | None, what: str) -> int | None:
    return None if value is None else parse_id(value, what)
