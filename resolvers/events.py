"""Reading the ownership history (the append-only event log)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from db.models import Customer, OwnershipEvent
from resolvers.context import Context
from resolvers.ids import parse_optional_id


async def list_events(
    ctx: Context,
    *,
    customer_id: object | None,
    after_id: int | None,
    first: int,
    ident: int | None = None,
) -> tuple[list[OwnershipEvent], bool]:
    """Events of customers the caller may see, oldest first, after a cursor."""
    plan = ctx.plan
    stmt = (
        select(OwnershipEvent)
        .join(Customer, col(Customer.id) == col(OwnershipEvent.customer_id))
        .where(plan.customer_scope())
    )
    if (customer := parse_optional_id(customer_id, "customer")) is not None:
        stmt = stmt.where(col(OwnershipEvent.customer_id) == customer)
    if ident is not None:  # one event, for `node(id:)`
        stmt = stmt.where(col(OwnershipEvent.id) == ident)
    if after_id is not None:
        stmt = stmt.where(col(OwnershipEvent.id) > after_id)
    rows = list(
        (
            await (await ctx.session()).execute(
                stmt.order_by(col(OwnershipEvent.id)).limit(first + 1)
            )
        ).scalars()
    )
    return rows[:first], len(rows) > first
