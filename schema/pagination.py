"""Relay-style pages: opaque cursors over ids, `first` bounded."""

from __future__ import annotations

import base64
import binascii

import strawberry

from kernel.errors import Validation
from resolvers.ids import MAX_ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(ident: int) -> str:
    return base64.urlsafe_b64encode(f"og:{ident}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        ident = int(number)
        if prefix != "og" or not 0 <= ident <= MAX_ID:
            raise ValueError(raw)
        return ident
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Validation("The cursor is not one this server gave out.", argument="after") from exc


def page_size(first: int, limit: int) -> int:
    if first < 0:
        raise Validation("`first` cannot be negative.", argument="first")
    return min(first, limit)
