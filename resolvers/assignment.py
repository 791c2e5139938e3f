"""Assignment rules: who gets a customer created by import, web form, a manager or a partner."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AssignmentRule, Customer, User
from resolvers.context import Context


async def choose_owner(
    ctx: Context, session: AsyncSession, customer: Customer
) -> tuple[User | None, str]:
    """The owner the first matching rule picks, and the rule's name; the pool when none."""
    rules = (
        await session.execute(select(AssignmentRule).order_by(AssignmentRule.position))
    ).scalars()
    for rule in rules:
        if all(
            want is None or want == have
            for want, have in (
                (rule.region, customer.region),
                (rule.industry, customer.industry),
                (rule.tier, customer.tier),
                (rule.source, customer.source),
            )
        ):
            if rule.strategy == "user" and rule.user_id is not None:
                user = await session.get(User, rule.user_id)
                if user is not None and user.active:
                    return user, rule.name
    return None, "pool"
