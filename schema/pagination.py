"""Relay-style pages: opaque cursors over ids, `first` between 0 and the page limit."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import strawberry

from kernel.errors import Validation
from kernel.messages import N_
from resolvers.ids import MAX_ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
    has_previous_page: bool = strawberry.field(
        default=False, description="True when the page was asked for `after` a cursor."
    )
    start_cursor: str | None = None

    @classmethod
    def of(cls, edges: Sequence[Any], more: bool, after_id: int | None) -> PageInfo:
        """Keyset pages: what came before `after` is the cursor's own row and older."""
        return cls(
            has_next_page=more,
            end_cursor=edges[-1].cursor if edges else None,
            has_previous_page=after_id is not None,
            start_cursor=edges[0].cursor if edges else None,
        )


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
        raise Validation(
            N_("The cursor is not one this server gave out."), argument="after"
        ) from exc


def page_size(first: int, limit: int) -> int:
    """`first` as asked; out of range is refused, never silently capped (GitHub's rule)."""
    if first < 0:
        raise Validation(N_("`first` cannot be negative."), argument="first", limit=limit)
    if first > limit:
        raise Validation(
            N_(
                "Requesting {first} records exceeds the `first` limit of {limit} records.",
                first=first,
                limit=limit,
            ),
            argument="first",
            limit=limit,
        )
    return first
