"""FollowUp."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from db import models
from kernel.errors import NotFound
from resolvers.context import Context
from schema.enums import FollowUpChannel
from schema.pagination import PageInfo, encode_cursor
from schema.user import User, load_user

if TYPE_CHECKING:
    from schema.customer import Customer


async def load_customer(info: Info[Context, None], customer_id: int) -> Customer:
    """A visible customer, or NOT_FOUND exactly as for an id that does not exist."""
    from schema.customer import Customer

    scoped = await info.context.loaders.customer_by_id.load(customer_id)
    if scoped is None:
        raise NotFound("customer", customer_id)
    return Customer(scoped=scoped)


@strawberry.type
class FollowUp:
    row: strawberry.Private[models.FollowUp]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    async def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("schema.customer")]:
        return await load_customer(info, self.row.customer_id)

    @strawberry.field
    async def author(self, info: Info[Context, None]) -> User:
        user = await load_user(info, self.row.author_id)
        assert user is not None
        return user

    @strawberry.field
    def at(self) -> datetime:
        return self.row.at

    @strawberry.field
    def channel(self) -> FollowUpChannel:
        return FollowUpChannel(self.row.channel)

    @strawberry.field
    def summary(self) -> str:
        return self.row.summary

    @strawberry.field
    def outcome(self) -> str | None:
        return self.row.outcome

    @strawberry.field
    def next_follow_up_at(self) -> datetime | None:
        return self.row.next_follow_up_at


@strawberry.type
class FollowUpEdge:
    node: FollowUp
    cursor: str


@strawberry.type
class FollowUpConnection:
    edges: list[FollowUpEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, rows: list[models.FollowUp], more: bool) -> FollowUpConnection:
        edges = [FollowUpEdge(node=FollowUp(row=r), cursor=encode_cursor(r.id or 0)) for r in rows]
        end = edges[-1].cursor if edges else None
        return cls(edges=edges, page_info=PageInfo(has_next_page=more, end_cursor=end))
