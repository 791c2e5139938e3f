"""The minimal view of a customer: what an event's subscriber may know of a customer
that has moved out of their sight.

When a customer is transferred, released or recycled away from someone, the event that
tells them so is theirs to receive, but the customer is no longer theirs to read. The
event's `customer` is non-null in the contract, so it comes as this view instead of an
error: its id and name; every field that may be null comes back null, every list empty,
and each is listed in `extensions.maskedFields`. The few non-null scalars (tier, stage,
inPool, ownerCreditShare, createdAt, version) keep their stored values: the contract
leaves nothing else to give, and a made-up value would be a lie a client might act on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from strawberry.types import Info

from db import models
from db.customers import ScopedRow
from kernel.errors import NotFound
from resolvers.context import Context

if TYPE_CHECKING:
    from schema.customer import Customer


async def minimal_customer(
    info: Info[Context, None], customer_id: int, *, concerns_caller: bool
) -> Customer:
    """The customer as the caller may still see it through something that concerns them
    (an event that moved it from or to them), or NOT_FOUND when nothing does (then they
    have no claim on the customer at all)."""
    from schema.customer import Customer

    if not concerns_caller:
        raise NotFound("customer", customer_id)
    session = await info.context.session()
    row = await session.get(models.Customer, customer_id)
    if row is None:
        raise NotFound("customer", customer_id)
    # No relation bits: nothing of it is the caller's to read.
    return Customer(scoped=ScopedRow(row, 0), minimal=True)
