"""Dispute."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from db import models
from resolvers import disputes
from resolvers.context import Context
from schema.enums import DisputeStatus
from schema.followup import load_customer
from schema.masking import minimal_customer
from schema.pagination import PageInfo, encode_cursor
from schema.user import User, load_user

if TYPE_CHECKING:
    from schema.customer import Customer


@strawberry.type
class CreditShare:
    user: User
    percent: int


@strawberry.type
class Dispute:
    row: strawberry.Private[models.Dispute]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field(
        description="To a party who may no longer see the customer (the dispute ended): "
        "its id and name only, every other field null or empty and listed in "
        "`extensions.maskedFields` (non-null scalars keep their values)."
    )
    async def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("schema.customer")]:
        from schema.customer import Customer

        ctx = info.context
        scoped = await ctx.loaders.customer_by_id.load(self.row.customer_id)
        if scoped is not None:
            return Customer(scoped=scoped)
        view = await disputes.party_view(ctx, self.row)
        if view is None:
            return await load_customer(info, self.row.customer_id)  # NOT_FOUND
        return minimal_customer(info, view)

    @strawberry.field
    async def claimant(self, info: Info[Context, None]) -> User:
        user = await load_user(info, self.row.claimant_id)
        assert user is not None
        return user

    @strawberry.field
    async def respondent(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.respondent_id)

    @strawberry.field
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field
    def status(self) -> DisputeStatus:
        return DisputeStatus(self.row.status)

    @strawberry.field(description="What the system recorded, gathered when the dispute opened.")
    def evidence(self) -> list[str]:
        return list(self.row.evidence or [])

    @strawberry.field(description="The rule that decided it, when a rule did.")
    def rule(self) -> str | None:
        return self.row.rule

    @strawberry.field
    async def awarded_to(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.awarded_to_id)

    @strawberry.field
    async def credit_split(self, info: Info[Context, None]) -> list[CreditShare]:
        shares = []
        for share in self.row.credit_split or []:
            user = await load_user(info, int(share["user_id"]))
            if user is not None:
                shares.append(CreditShare(user=user, percent=int(share["percent"])))
        return shares

    @strawberry.field
    async def resolved_by(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.resolved_by_id)

    @strawberry.field
    async def arbiter(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.arbiter_id)

    @strawberry.field
    def opened_at(self) -> datetime:
        return self.row.opened_at

    @strawberry.field
    def resolved_at(self) -> datetime | None:
        return self.row.resolved_at


@strawberry.type
class DisputeEdge:
    node: Dispute
    cursor: str


@strawberry.type
class DisputeConnection:
    edges: list[DisputeEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, rows: list[models.Dispute], more: bool) -> DisputeConnection:
        edges = [DisputeEdge(node=Dispute(row=r), cursor=encode_cursor(r.id or 0)) for r in rows]
        end = edges[-1].cursor if edges else None
        return cls(edges=edges, page_info=PageInfo(has_next_page=more, end_cursor=end))
