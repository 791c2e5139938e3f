"""TransferRequest and its approvals."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from db import models
from resolvers.context import Context
from resolvers.ids import global_id
from schema.enums import TransferKind, TransferStatus
from schema.node import Node
from schema.plain import attr
from schema.user import User, load_user

if TYPE_CHECKING:
    from schema.customer import Customer


@strawberry.type
class Approval:
    row: strawberry.Private[Any]
    approved: bool | None = attr()
    note: str | None = attr()
    decided_at: datetime | None = attr()

    def __post_init__(self) -> None:
        self.approved = self.row.approved
        self.note = self.row.note
        self.decided_at = self.row.decided_at

    @strawberry.field
    async def approver(self, info: Info[Context, None]) -> User:
        user = await load_user(info, self.row.approver_id)
        assert user is not None
        return user


@strawberry.type
class TransferRequest(Node):
    row: strawberry.Private[Any]
    customer_ids: strawberry.Private[list[int]]
    approval_rows: strawberry.Private[list[models.Approval]]
    database_id: int = attr()
    kind: TransferKind = attr()
    reason: str = attr()
    status: TransferStatus = attr()
    approvals: list[Approval] = attr()
    created_at: datetime = attr()

    def __post_init__(self) -> None:
        row = self.row
        self.id = strawberry.ID(global_id("TransferRequest", row.id))
        self.database_id = row.id
        self.kind = row.kind
        self.reason = row.reason
        self.status = row.status
        self.approvals = [Approval(row=a) for a in self.approval_rows]
        self.created_at = row.created_at

    @strawberry.field(description="The customers of the request that the caller may see.")
    async def customers(
        self, info: Info[Context, None]
    ) -> list[Annotated[Customer, strawberry.lazy("schema.customer")]]:
        from schema.customer_page import customers_by_ids

        return await customers_by_ids(info, self.customer_ids)

    @strawberry.field
    async def from_user(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.from_user_id)

    @strawberry.field
    async def to_user(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.to_user_id)
