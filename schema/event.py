"""OwnershipEvent: the append-only history. Its id is also the subscription cursor."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from db import models
from kernel.errors import NotFound
from resolvers.context import Context
from schema.enums import OwnershipEventKind
from schema.followup import load_customer
from schema.minimal import minimal_customer
from schema.pagination import PageInfo, encode_cursor
from schema.user import User, load_user

if TYPE_CHECKING:
    from schema.customer import Customer


@strawberry.type
class OwnershipEvent:
    row: strawberry.Private[models.OwnershipEvent]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field(description="Pass as `since` to replay what came after this event.")
    def cursor(self) -> str:
        return encode_cursor(self.row.id or 0)

    @strawberry.field(description="Readable even when the customer no longer is to you.")
    def customer_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.customer_id))

    @strawberry.field
    async def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("schema.customer")]:
        try:
            return await load_customer(info, self.row.customer_id)
        except NotFound:
            # Moved out of the caller's sight: the event is still theirs if it names them.
            user_id = info.context.user_id
            concerned = user_id is not None and user_id in (
                self.row.from_user_id,
                self.row.to_user_id,
            )
            return await minimal_customer(info, self.row.customer_id, concerns_caller=concerned)

    @strawberry.field
    def kind(self) -> OwnershipEventKind:
        return OwnershipEventKind(self.row.kind)

    @strawberry.field
    async def from_owner(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.from_user_id)

    @strawberry.field
    async def to_owner(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.to_user_id)

    @strawberry.field
    async def actor(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.actor_id)

    @strawberry.field
    def rule(self) -> str | None:
        return self.row.rule

    @strawberry.field
    def reason(self) -> str | None:
        return self.row.reason

    @strawberry.field
    def at(self) -> datetime:
        return self.row.at


@strawberry.type
class OwnershipEventEdge:
    node: OwnershipEvent
    cursor: str


@strawberry.type
class OwnershipEventConnection:
    edges: list[OwnershipEventEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, rows: list[models.OwnershipEvent], more: bool) -> OwnershipEventConnection:
        edges = [
            OwnershipEventEdge(node=OwnershipEvent(row=r), cursor=encode_cursor(r.id or 0))
            for r in rows
        ]
        end = edges[-1].cursor if edges else None
        return cls(edges=edges, page_info=PageInfo(has_next_page=more, end_cursor=end))
