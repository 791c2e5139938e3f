"""Dispute."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from resolvers import disputes
from resolvers.context import Context
from resolvers.ids import global_id
from schema.enums import DisputeStatus
from schema.minimal import visible_or_minimal
from schema.node import Node
from schema.pagination import PageInfo, encode_cursor
from schema.plain import attr
from schema.user import User, load_user

if TYPE_CHECKING:
    from schema.customer import Customer


@strawberry.type
class CreditShare:
    user: User
    percent: int


@strawberry.type
class Dispute(Node):
    row: strawberry.Private[Any]
    database_id: int = attr()
    reason: str = attr()
    status: DisputeStatus = attr()
    evidence: list[str] = attr("What the system recorded, gathered when the dispute opened.")
    rule: str | None = attr("The rule that decided it, when a rule did.")
    opened_at: datetime = attr()
    resolved_at: datetime | None = attr()
    cursor: str | None = attr(
        "On what disputeUpdated delivers: pass as its `since` to replay what came after."
    )
    # The dispute change log position it was delivered at (subscriptions only).
    change: strawberry.Private[int | None] = None

    def __post_init__(self) -> None:
        row = self.row
        self.id = strawberry.ID(global_id("Dispute", row.id))
        self.database_id = row.id
        self.reason = row.reason
        self.status = row.status
        self.evidence = row.evidence or []
        self.rule = row.rule
        self.opened_at = row.opened_at
        self.resolved_at = row.resolved_at
        self.cursor = encode_cursor(self.change) if self.change is not None else None

    def share_key(self) -> tuple[str, int, int] | None:
        """A delivered change: subscribers who see it alike share one execution."""
        return None if self.change is None else ("Dispute", self.row.id, self.change)

    @strawberry.field(
        description="The disputed customer. To a party who may no longer see it (the "
        "dispute ended and the customer stayed with or went to the other side): its id and "
        "name only (so too to its arbiter), every other field null or empty and listed in "
        "`extensions.maskedFields`."
    )
    async def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("schema.customer")]:
        concerned = disputes.concerns(info.context, self.row)
        return await visible_or_minimal(info, self.row.customer_id, concerns_caller=concerned)

    @strawberry.field
    async def claimant(self, info: Info[Context, None]) -> User:
        user = await load_user(info, self.row.claimant_id)
        assert user is not None
        return user

    @strawberry.field
    async def respondent(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.respondent_id)

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


@strawberry.type
class DisputeEdge:
    node: Dispute
    cursor: str


@strawberry.type
class DisputeConnection:
    edges: list[DisputeEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, rows: list[Any], more: bool, after_id: int | None = None) -> DisputeConnection:
        edges = [DisputeEdge(node=Dispute(row=r), cursor=encode_cursor(r.id or 0)) for r in rows]
        return cls(edges=edges, page_info=PageInfo.of(edges, more, after_id))
