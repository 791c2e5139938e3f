"""OwnershipEvent: the append-only history. Its id is also the subscription cursor."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.ids import global_id
from schema.enums import OwnershipEventKind
from schema.masking import staff_user
from schema.minimal import visible_or_minimal
from schema.node import Node
from schema.pagination import PageInfo, encode_cursor
from schema.plain import attr
from schema.user import User

if TYPE_CHECKING:
    from schema.customer import Customer


@strawberry.type
class OwnershipEvent(Node):
    row: strawberry.Private[Any]
    # The customer as the live feed read it for this plan: (ScopedRow or None,), or None
    # when it was not read (then it loads as usual).
    known: strawberry.Private[tuple[Any] | None] = None
    database_id: int = attr()
    cursor: str = attr("Pass as `since` to replay what came after this event.")
    customer_id: strawberry.ID = attr("Readable even when the customer no longer is to you.")
    kind: OwnershipEventKind = attr()
    rule: str | None = attr()
    reason: str | None = attr()
    at: datetime = attr()

    def __post_init__(self) -> None:
        row = self.row
        self.id = strawberry.ID(global_id("OwnershipEvent", row.id))
        self.database_id = row.id
        self.cursor = encode_cursor(row.id or 0)
        self.customer_id = row.customer_id
        self.kind = row.kind
        self.rule = row.rule
        self.reason = row.reason
        self.at = row.at

    def share_key(self) -> tuple[str, int]:
        """Subscribers who see this event alike share one execution (schema/execution.py)."""
        return self.share_key_of(self.row.id)

    @staticmethod
    def share_key_of(event_id: int) -> tuple[str, int]:
        return ("OwnershipEvent", event_id)

    @strawberry.field
    async def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("schema.customer")]:
        # Moved out of the caller's sight: still theirs to hear of when it names them.
        user_id = info.context.user_id
        concerned = user_id is not None and user_id in (
            self.row.from_user_id,
            self.row.to_user_id,
        )
        return await visible_or_minimal(
            info, self.row.customer_id, concerns_caller=concerned, known=self.known
        )

    # People: null for a caller who may not see staff (a partner), like Customer.owner.
    @strawberry.field
    async def from_owner(self, info: Info[Context, None]) -> User | None:
        return await staff_user(info, self.row.from_user_id)

    @strawberry.field
    async def to_owner(self, info: Info[Context, None]) -> User | None:
        return await staff_user(info, self.row.to_user_id)

    @strawberry.field
    async def actor(self, info: Info[Context, None]) -> User | None:
        return await staff_user(info, self.row.actor_id)


@strawberry.type
class OwnershipEventEdge:
    node: OwnershipEvent
    cursor: str


@strawberry.type
class OwnershipEventConnection:
    edges: list[OwnershipEventEdge]
    page_info: PageInfo

    @classmethod
    def of(
        cls, rows: list[Any], more: bool, after_id: int | None = None
    ) -> OwnershipEventConnection:
        edges = [
            OwnershipEventEdge(node=OwnershipEvent(row=r), cursor=encode_cursor(r.id or 0))
            for r in rows
        ]
        return cls(edges=edges, page_info=PageInfo.of(edges, more, after_id))
