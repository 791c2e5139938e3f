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


async def minimal_customer(info: Info[Context, None], event: models.OwnershipEvent) -> Customer:
    """The event's customer as its subscriber may still see it, or NOT_FOUND when the
    event does not concern the caller (then they have no claim on the customer at all)."""
    from schema.customer import Customer

    user_id = info.context.user_id
    if user_id is None or user_id not in (event.from_user_id, event.to_user_id):
        raise NotFound("customer", event.customer_id)
    session = await info.context.session()
    row = await session.get(models.Customer, event.customer_id)
    if row is None:
        raise NotFound("customer", event.customer_id)
    # No relation bits: nothing of it is the caller's to read.
    return Customer(scoped=ScopedRow(row, 0), minimal=True)
