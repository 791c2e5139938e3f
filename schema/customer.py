"""Customer, its contacts and collaborators, and the customer list: plain data, built in
bulk by schema/customer_page.py (masks applied there, once per row)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from db.customers import ScopedRow
from kernel.errors import NotFound
from resolvers.context import Context
from schema.enums import CollaboratorAccess, CollaboratorRole, Stage, Tier
from schema.masking import path_of
from schema.node import Node
from schema.pagination import PageInfo, decode_cursor, page_size
from schema.plain import attr
from schema.user import Team, User

if TYPE_CHECKING:
    from schema.dispute import Dispute
    from schema.event import OwnershipEventConnection
    from schema.followup import FollowUp, FollowUpConnection
    from schema.pools import Pool

Ctx = Info[Context, None]
SENSITIVE_NOTE = "Sensitive: null unless the caller may see contact data."


@strawberry.type
class Contact:
    id: strawberry.ID = attr()
    name: str = attr()
    title: str | None = attr()
    phone: str | None = attr(SENSITIVE_NOTE)
    email: str | None = attr(SENSITIVE_NOTE)
    is_decision_maker: bool = attr()


@strawberry.type
class Collaborator:
    user: User
    role: CollaboratorRole
    credit_share: int
    # READ sees the customer and its contacts; WRITE also follows up and edits.
    access: CollaboratorAccess
    # Removed by the scheduler at this time; null: never.
    expires_at: datetime | None


@strawberry.type
class Customer(Node):
    # The row it was built from (a Core row or an entity) and the caller's relation bits.
    row: strawberry.Private[Any]
    relations: strawberry.Private[int]
    database_id: int = attr()
    name: str = attr()
    industry: str | None = attr()
    region: str | None = attr()
    size: str | None = attr()
    tier: Tier = attr()
    stage: Stage = attr()
    source: str | None = attr()
    tags: list[str] = attr()
    owner: User | None = attr("Null while the customer is in the public pool.")
    team: Team | None = attr()
    in_pool: bool = attr()
    owner_credit_share: int = attr()
    collaborators: list[Collaborator] = attr()
    contacts: list[Contact] = attr()
    tax_id: str | None = attr("Sensitive.")
    deal_value: float | None = attr("Sensitive.")
    created_by: User | None = attr()
    created_at: datetime = attr()
    last_follow_up_at: datetime | None = attr()
    next_follow_up_due: datetime | None = attr()
    latest_follow_up: Annotated[FollowUp, strawberry.lazy("schema.followup")] | None = attr()
    open_disputes: list[Annotated[Dispute, strawberry.lazy("schema.dispute")]] = attr()
    version: int = attr()
    pool: Annotated[Pool, strawberry.lazy("schema.pools")] | None = attr(
        "The pool it sits in; null while owned."
    )
    locked: bool = attr("Locked by its owner: never recycled, not released until unlocked.")
    locked_until: datetime | None = attr("When the lock ends by itself; null: when unlocked.")
    protected_until: datetime | None = attr(
        "New or newly claimed: not recycled before this; null: no protection."
    )
    recycle_due_at: datetime | None = attr(
        "When it goes to the pool if nothing happens, by the same rule the recycle job "
        "uses; null: never (or in a pool)."
    )
    # What the caller may not read of this customer (the plan's masks and its pool's
    # hidden fields), worked out once when it is built.
    hidden: strawberry.Private[frozenset[str]] = frozenset()

    @property
    def scoped(self) -> ScopedRow:
        return ScopedRow(self.row, self.relations)

    @strawberry.field
    async def follow_ups(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Annotated[FollowUpConnection, strawberry.lazy("schema.followup")]:
        from schema.followup import FollowUpConnection

        ctx = info.context
        if "follow_ups" in self.hidden:
            ctx.masked.append(path_of(info))
            return FollowUpConnection.of([], False)
        key = (self.row.id, page_size(first, ctx.settings.max_page_size), decode_cursor(after))
        rows, more = await ctx.loaders.pages.follow_ups_by_customer_id.load(key)
        return FollowUpConnection.of(rows, more, key[2])

    @strawberry.field(
        description="Set on a customer merged into another: the customer it was merged into."
    )
    async def merged_into(self, info: Ctx) -> Customer | None:
        from schema.customer_page import customer_by_id

        kept = getattr(self.row, "merged_into_id", None)
        if kept is None:
            return None
        try:
            return await customer_by_id(info, kept)
        except NotFound:
            return None

    @strawberry.field
    async def ownership_history(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Annotated[OwnershipEventConnection, strawberry.lazy("schema.event")]:
        from schema.event import OwnershipEventConnection

        ctx = info.context
        if "ownership_history" in ctx.field_masks.hidden("customer", self.relations):
            return OwnershipEventConnection.of([], False)  # reported by the page's builder
        key = (self.row.id, page_size(first, ctx.settings.max_page_size), decode_cursor(after))
        rows, more = await ctx.loaders.pages.events_by_customer_id.load(key)
        return OwnershipEventConnection.of(rows, more, key[2])


@strawberry.type
class CustomerEdge:
    node: Customer
    cursor: str = attr()


@strawberry.type
class CustomerConnection:
    edges: list[CustomerEdge]
    page_info: PageInfo
    total_count: int = attr("All matching customers the caller may see, across pages.")
