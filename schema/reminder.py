"""Reminder."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from db import models
from resolvers import reminders
from resolvers.context import Context
from resolvers.ids import global_id
from schema.enums import ReminderKind, ReminderStatus
from schema.node import Node
from schema.pagination import encode_cursor
from schema.plain import attr

if TYPE_CHECKING:
    from schema.customer import Customer


@strawberry.type
class Reminder(Node):
    row: strawberry.Private[models.Reminder]

    database_id: int = attr()

    def __post_init__(self) -> None:
        self.id = strawberry.ID(global_id("Reminder", self.row.id or 0))
        self.database_id = self.row.id or 0

    @strawberry.field(description="Pass as `since` to reminderDue to replay what came after.")
    def cursor(self) -> str:
        return encode_cursor(self.row.id or 0)

    @strawberry.field
    def kind(self) -> ReminderKind:
        return ReminderKind(self.row.kind)

    @strawberry.field(description="Null when the caller can no longer see the customer.")
    async def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("schema.customer")] | None:
        from schema.customer_page import customer_of

        if self.row.customer_id is None:
            return None
        scoped = await info.context.loaders.customer_by_id.load(self.row.customer_id)
        return await customer_of(info, scoped) if scoped else None

    @strawberry.field
    def due_at(self) -> datetime:
        return self.row.due_at

    @strawberry.field(description="Names the customer only while you may see it.")
    async def message(self, info: Info[Context, None]) -> str:
        return await reminders.reminder_message(info.context, self.row)

    @strawberry.field
    def status(self) -> ReminderStatus:
        return ReminderStatus(self.row.status)
