"""FollowUp: plain data built from a row."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.ids import global_id
from schema.enums import FollowUpChannel
from schema.node import Node
from schema.pagination import PageInfo, encode_cursor
from schema.plain import attr
from schema.user import User, load_user

if TYPE_CHECKING:
    from schema.customer import Customer


async def load_customer(info: Info[Context, None], customer_id: int) -> Customer:
    """A visible customer, or NOT_FOUND exactly as for an id that does not exist."""
    from schema.customer_page import customer_by_id

    return await customer_by_id(info, customer_id)


@strawberry.type
class FollowUp(Node):
    row: strawberry.Private[Any]
    database_id: int = attr()
    at: datetime = attr()
    channel: FollowUpChannel = attr()
    summary: str = attr()
    outcome: str | None = attr()
    next_follow_up_at: datetime | None = attr()

    def __post_init__(self) -> None:
        row = self.row
        self.id = strawberry.ID(global_id("FollowUp", row.id))
        self.database_id = row.id
        self.at = row.at
        self.channel = row.channel
        self.summary = row.summary
        self.outcome = row.outcome
        self.next_follow_up_at = row.next_follow_up_at

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


@strawberry.type
class FollowUpEdge:
    node: FollowUp
    cursor: str


@strawberry.type
class FollowUpConnection:
    edges: list[FollowUpEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, rows: list[Any], more: bool, after_id: int | None = None) -> FollowUpConnection:
        edges = [FollowUpEdge(node=FollowUp(row=r), cursor=encode_cursor(r.id or 0)) for r in rows]
        return cls(edges=edges, page_info=PageInfo.of(edges, more, after_id))
