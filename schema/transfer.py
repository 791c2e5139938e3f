"""TransferRequest and its approvals."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from db import models
from resolvers.context import Context
from schema.enums import TransferKind, TransferStatus
from schema.user import User, load_user

if TYPE_CHECKING:
    from schema.customer import Customer


@strawberry.type
class Approval:
    row: strawberry.Private[models.Approval]

    @strawberry.field
    async def approver(self, info: Info[Context, None]) -> User:
        user = await load_user(info, self.row.approver_id)
        assert user is not None
        return user

    @strawberry.field
    def approved(self) -> bool | None:
        return self.row.approved

    @strawberry.field
    def note(self) -> str | None:
        return self.row.note

    @strawberry.field
    def decided_at(self) -> datetime | None:
        return self.row.decided_at


@strawberry.type
class TransferRequest:
    row: strawberry.Private[models.TransferRequest]
    customer_ids: strawberry.Private[list[int]]
    approval_rows: strawberry.Private[list[models.Approval]]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field(description="The customers of the request that the caller may see.")
    async def customers(
        self, info: Info[Context, None]
    ) -> list[Annotated[Customer, strawberry.lazy("schema.customer")]]:
        from schema.customer import Customer

        rows = await info.context.loaders.customer_by_id.load_many(self.customer_ids)
        return [Customer(scoped=r) for r in rows if r is not None]

    @strawberry.field
    async def from_user(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.from_user_id)

    @strawberry.field
    async def to_user(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.to_user_id)

    @strawberry.field
    def kind(self) -> TransferKind:
        return TransferKind(self.row.kind)

    @strawberry.field
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field
    def status(self) -> TransferStatus:
        return TransferStatus(self.row.status)

    @strawberry.field
    def approvals(self) -> list[Approval]:
        return [Approval(row=a) for a in self.approval_rows]

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at
