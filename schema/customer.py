"""Customer, its contacts and collaborators, and the customer list."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import ColumnElement
from strawberry.types import Info

from db import models
from db.customers import CustomerFilter, ScopedRow, count_customers
from resolvers.context import Context
from schema.enums import CollaboratorRole, Stage, Tier
from schema.masking import permitted, sensitive
from schema.pagination import PageInfo, decode_cursor, encode_cursor, page_size
from schema.user import Team, User, load_team, load_user

if TYPE_CHECKING:
    from schema.dispute import Dispute
    from schema.event import OwnershipEventConnection
    from schema.followup import FollowUp, FollowUpConnection

Ctx = Info[Context, None]


@strawberry.type
class Contact:
    row: strawberry.Private[models.Contact]
    relations: strawberry.Private[int]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def title(self) -> str | None:
        return self.row.title

    @strawberry.field(description="Sensitive: null unless the caller may see contact data.")
    def phone(self, info: Ctx) -> str | None:
        return sensitive(info, self.row.customer_id, self.relations, self.row.phone)

    @strawberry.field(description="Sensitive: null unless the caller may see contact data.")
    def email(self, info: Ctx) -> str | None:
        return sensitive(info, self.row.customer_id, self.relations, self.row.email)

    @strawberry.field
    def is_decision_maker(self) -> bool:
        return self.row.is_decision_maker


@strawberry.type
class Collaborator:
    row: strawberry.Private[models.Collaborator]

    @strawberry.field
    async def user(self, info: Ctx) -> User:
        user = await load_user(info, self.row.user_id)
        assert user is not None  # a foreign key
        return user

    @strawberry.field
    def role(self) -> CollaboratorRole:
        return CollaboratorRole(self.row.role)

    @strawberry.field
    def credit_share(self) -> int:
        return self.row.credit_share


@strawberry.type
class Customer:
    scoped: strawberry.Private[ScopedRow]
    # The minimal view (schema/minimal.py): every field but id, name and the non-null
    # scalars is withheld.
    minimal: strawberry.Private[bool] = False

    @property
    def row(self) -> models.Customer:
        return self.scoped.customer

    @property
    def key(self) -> int:
        """The id nested loaders use: none for a minimal view."""
        return 0 if self.minimal else self.row.id or 0

    def _withheld(self, info: Ctx) -> bool:
        if self.minimal:
            info.context.masked.append(".".join(str(p) for p in info.path.as_list()))
        return self.minimal

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def industry(self, info: Ctx) -> str | None:
        return None if self._withheld(info) else self.row.industry

    @strawberry.field
    def region(self, info: Ctx) -> str | None:
        return None if self._withheld(info) else self.row.region

    @strawberry.field
    def size(self, info: Ctx) -> str | None:
        return None if self._withheld(info) else self.row.size

    @strawberry.field
    def tier(self) -> Tier:
        return Tier(self.row.tier)

    @strawberry.field
    def stage(self) -> Stage:
        return Stage(self.row.stage)

    @strawberry.field
    def source(self, info: Ctx) -> str | None:
        return None if self._withheld(info) else self.row.source

    @strawberry.field
    def tags(self, info: Ctx) -> list[str]:
        return [] if self._withheld(info) else list(self.row.tags or [])

    @strawberry.field(description="Null while the customer is in the public pool.")
    async def owner(self, info: Ctx) -> User | None:
        if self._withheld(info):
            return None
        return await load_user(info, self.row.owner_id)

    @strawberry.field
    async def team(self, info: Ctx) -> Team | None:
        if self._withheld(info):
            return None
        return await load_team(info, self.row.team_id)

    @strawberry.field
    def in_pool(self) -> bool:
        return self.row.owner_id is None and not self.minimal

    @strawberry.field
    def owner_credit_share(self) -> int:
        return self.row.owner_credit_share

    @strawberry.field
    async def collaborators(self, info: Ctx) -> list[Collaborator]:
        if self._withheld(info):
            return []
        rows = await info.context.loaders.collaborators_by_customer_id.load(self.row.id or 0)
        return [Collaborator(row=r) for r in rows]

    @strawberry.field
    async def contacts(self, info: Ctx) -> list[Contact]:
        if self._withheld(info):
            return []
        rows = await info.context.loaders.contacts_by_customer_id.load(self.row.id or 0)
        return [Contact(row=r, relations=self.scoped.relations) for r in rows]

    @strawberry.field(description="Sensitive.")
    def tax_id(self, info: Ctx) -> str | None:
        if self._withheld(info):
            return None
        return sensitive(info, self.row.id or 0, self.scoped.relations, self.row.tax_id)

    @strawberry.field(description="Sensitive.")
    def deal_value(self, info: Ctx) -> float | None:
        if self._withheld(info):
            return None
        return sensitive(info, self.row.id or 0, self.scoped.relations, self.row.deal_value)

    @strawberry.field
    async def created_by(self, info: Ctx) -> User | None:
        if self._withheld(info):
            return None
        return await load_user(info, self.row.created_by_id)

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def last_follow_up_at(self, info: Ctx) -> datetime | None:
        return None if self._withheld(info) else self.row.last_follow_up_at

    @strawberry.field
    def next_follow_up_due(self, info: Ctx) -> datetime | None:
        return None if self._withheld(info) else self.row.next_follow_up_due

    @strawberry.field
    async def latest_follow_up(
        self, info: Ctx
    ) -> Annotated[FollowUp, strawberry.lazy("schema.followup")] | None:
        from schema.followup import FollowUp

        if self._withheld(info) or not permitted(info, "followup", "read"):
            return None
        row = await info.context.loaders.latest_follow_up_by_customer_id.load(self.row.id or 0)
        return FollowUp(row=row) if row else None

    @strawberry.field
    async def follow_ups(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Annotated[FollowUpConnection, strawberry.lazy("schema.followup")]:
        from schema.followup import FollowUpConnection

        if self._withheld(info) or not permitted(info, "followup", "read"):
            return FollowUpConnection.of([], False)
        key = (
            self.key,
            page_size(first, info.context.settings.max_page_size),
            decode_cursor(after),
        )
        rows, more = await info.context.loaders.pages.follow_ups_by_customer_id.load(key)
        return FollowUpConnection.of(rows, more)

    @strawberry.field
    async def ownership_history(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Annotated[OwnershipEventConnection, strawberry.lazy("schema.event")]:
        from schema.event import OwnershipEventConnection

        if self._withheld(info):
            return OwnershipEventConnection.of([], False)
        key = (
            self.key,
            page_size(first, info.context.settings.max_page_size),
            decode_cursor(after),
        )
        rows, more = await info.context.loaders.pages.events_by_customer_id.load(key)
        return OwnershipEventConnection.of(rows, more)

    @strawberry.field
    async def open_disputes(
        self, info: Ctx
    ) -> list[Annotated[Dispute, strawberry.lazy("schema.dispute")]]:
        from schema.dispute import Dispute

        if self._withheld(info):
            return []
        rows = await info.context.loaders.open_disputes_by_customer_id.load(self.row.id or 0)
        return [Dispute(row=r) for r in rows]

    @strawberry.field
    def version(self) -> int:
        return self.row.version


@strawberry.type
class CustomerEdge:
    node: Customer
    cursor: str


@strawberry.type
class CustomerConnection:
    edges: list[CustomerEdge]
    page_info: PageInfo
    count_scope: strawberry.Private[tuple[ColumnElement[bool], CustomerFilter]]

    @strawberry.field(description="All matching customers the caller may see, across pages.")
    async def total_count(self, info: Ctx) -> int:
        scope, filter = self.count_scope
        return await count_customers(await info.context.session(), scope=scope, filter=filter)

    @classmethod
    def of(
        cls,
        rows: list[ScopedRow],
        more: bool,
        scope: ColumnElement[bool],
        filter: CustomerFilter,
    ) -> CustomerConnection:
        edges = [
            CustomerEdge(node=Customer(scoped=r), cursor=encode_cursor(r.customer.id or 0))
            for r in rows
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
            count_scope=(scope, filter),
        )
