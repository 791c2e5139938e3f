"""Disputes over who owns a customer."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Customer, Dispute
from resolvers.context import Context


async def list_disputes(
    ctx: Context, *, status: str | None, first: int, after_id: int | None
) -> tuple[list[Dispute], bool]:
    """Disputes about customers the caller may see, newest first."""
    stmt = (
        select(Dispute)
        .join(Customer, Customer.id == Dispute.customer_id)
        .where(ctx.plan.customer_scope())
    )
    if status is not None:
        stmt = stmt.where(Dispute.status == str(status))
    if after_id is not None:
        stmt = stmt.where(Dispute.id < after_id)
    stmt = stmt.order_by(Dispute.id.desc()).limit(first + 1)
    rows = list((await (await ctx.session()).execute(stmt)).scalars())
    return rows[:first], len(rows) > first
