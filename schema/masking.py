"""Field masking: a sensitive field the caller may not read comes back null, and the
response's `extensions.maskedFields` lists where. Checked in O(1) from the row's relation
bits against the request's plan."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from strawberry.types import Info

from db.customers import ScopedRow
from resolvers.context import Context

if TYPE_CHECKING:
    from schema.customer import Customer

T = TypeVar("T")
SENSITIVE = "customer.sensitive"


def permitted(info: Info[Context, None], obj: str, act: str) -> bool:
    """A field the caller's role or token scopes leave out whatever the row (a partner
    token without `followup:read`): False, and the field is listed as masked."""
    if info.context.plan.may(obj, act):
        return True
    _mask(info)
    return False


def sensitive(info: Info[Context, None], customer_id: int, relations: int, value: T) -> T | None:
    ctx = info.context
    plan = ctx.plan
    if plan.allows(SENSITIVE, "read", relations):
        if value is not None and plan.allows(SENSITIVE, "audit", relations):
            ctx.audited.add(customer_id)
        return value
    _mask(info)
    return None


def _mask(info: Info[Context, None]) -> None:
    info.context.masked.append(".".join(str(p) for p in info.path.as_list()))


def minimal_customer(info: Info[Context, None], view: ScopedRow) -> Customer:
    """The Customer of a minimal view (resolvers.access.minimal_view): every field beyond
    id, name and the non-null scalars comes back null or empty, and reports itself in
    `extensions.maskedFields` when resolved (Customer._withheld)."""
    from schema.customer import Customer

    return Customer(scoped=view, minimal=True)
