"""Loading a customer to act on it: NOT_FOUND when the caller may not see it (exactly as
for an id that does not exist), FORBIDDEN when it may see it but not do this."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from authz.fields import MINIMAL
from db.customers import ScopedRow, customers_by_ids
from db.models import AuditEntry, Customer
from kernel.errors import Forbidden, NotFound
from kernel.messages import N_
from resolvers.context import Context
from resolvers.ids import parse_id

# "You may not <phrase> this customer." where the bare action reads wrong.
ROW_PHRASES = {
    "collaborate": N_("You may not change the collaborators of this customer."),
    "follow_up": N_("You may not log follow-ups on this customer."),
}


async def get_customer(ctx: Context, customer_id: object) -> ScopedRow:
    """A customer the caller may see (fresh after a write), or NOT_FOUND."""
    scoped = await ctx.loaders.customer_by_id.load(parse_id(customer_id))
    if scoped is None:
        raise NotFound("customer", customer_id)
    return scoped


async def customer_for(
    ctx: Context, session: AsyncSession, customer_id: object, act: str, *, lock: bool = True
) -> ScopedRow:
    plan = ctx.plan
    ident = parse_id(customer_id)
    found = await customers_by_ids(
        session, [ident], scope=plan.customer_scope(), mask=plan.relation_mask(), lock=lock
    )
    scoped = found.get(ident)
    if scoped is None:
        raise NotFound("customer", customer_id)
    if not plan.allows("customer", act, scoped.relations):
        refused = ROW_PHRASES.get(act) or N_(
            "You may not {act} this customer.", act=act.replace("_", " ")
        )
        raise Forbidden(refused)
    return scoped


def minimal_view(row: Customer) -> ScopedRow:
    """A customer the caller may not see but is entitled to hear of (a dispute they were a
    party to): its id and name, the values its non-null fields must have, nothing else, and
    no relation to it: its relation bits are authz.fields.MINIMAL, which withholds the rest
    wherever the object is built (schema/customer_page.py), listed in maskedFields."""
    stub = Customer(
        id=row.id,
        name=row.name,
        name_key="",
        tier=row.tier,
        stage=row.stage,
        owner_credit_share=row.owner_credit_share,
        created_at=row.created_at,
        updated_at=row.updated_at,
        recycle_clock_at=row.recycle_clock_at,
        version=row.version,
        owner_id=row.owner_id,  # for inPool only: the owner is withheld
        merged_into_id=row.merged_into_id,
    )
    return ScopedRow(stub, MINIMAL)


def audit(
    ctx: Context, session: AsyncSession, action: str, customer_id: int | None, **detail: object
) -> None:
    principal = ctx.principal
    if principal is not None and principal.user_id is None and principal.partner_id is None:
        detail = {"by": principal.name, **detail}  # the operator, on the command line
    session.add(
        AuditEntry(
            at=ctx.now(),
            actor_id=principal.user_id if principal else None,
            partner_id=principal.partner_id if principal else None,
            action=action,
            customer_id=customer_id,
            detail=detail,
        )
    )
