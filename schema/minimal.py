"""The minimal view of a customer: what a caller may know of a customer that has moved out
of their sight but that still concerns them.

When a customer is transferred, released or recycled away from someone, the event that
tells them so is theirs to receive; a dispute they were a party to stays theirs to read
after it ends. The customer is no longer theirs to read, yet the contract's `customer` is
non-null there, so it comes as this view instead of an error: its id and name; every field
that may be null comes back null, every list empty, and each is listed in
`extensions.maskedFields` (resolvers.access.minimal_view, authz.fields.MINIMAL). The few
non-null scalars keep their stored values: a made-up value would be a lie a client might
act on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strawberry.types import Info

from db import models
from kernel.errors import NotFound
from resolvers.access import minimal_view
from resolvers.context import Context

if TYPE_CHECKING:
    from schema.customer import Customer


async def visible_or_minimal(
    info: Info[Context, None],
    customer_id: int,
    *,
    concerns_caller: bool,
    known: tuple[Any] | None = None,
) -> Customer:
    """The customer as the caller may see it; else, when it concerns them, its minimal
    view; else NOT_FOUND, exactly as for an id that does not exist. `known`: (the row as
    already read for the caller's plan, or None,), instead of loading it."""
    from schema.customer_page import customer_by_id, customer_of

    try:
        return await customer_by_id(info, customer_id, known=known)
    except NotFound:
        if not concerns_caller:
            raise
    row = await (await info.context.session()).get(models.Customer, customer_id)
    if row is None:
        raise NotFound("customer", customer_id)
    return await customer_of(info, minimal_view(row))
