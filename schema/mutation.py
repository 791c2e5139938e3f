"""Mutations on customers and their follow-ups and reminders; merged into the root in
schema/root.py with the other groups."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from resolvers import customers, followups, merge, reminders
from resolvers.context import Context
from schema.customer import Customer
from schema.customer_page import customer_of
from schema.followup import FollowUp
from schema.inputs import CreateCustomerInput, LogFollowUpInput, UpdateCustomerInput
from schema.reminder import Reminder

Ctx = Info[Context, None]


def _given(input: object) -> dict[str, object]:
    """The fields a client actually sent (UNSET ones left out; explicit nulls kept)."""
    return {k: v for k, v in vars(input).items() if v is not strawberry.UNSET}


@strawberry.type
class CustomerMutation:
    @strawberry.mutation(description="First entry: you own what you create, unless it exists.")
    async def create_customer(
        self,
        info: Ctx,
        input: CreateCustomerInput,
        confirm_duplicate: Annotated[
            bool,
            strawberry.argument(
                description="Create it although it matches a customer on warning keys only."
            ),
        ] = False,
    ) -> Customer:
        fields = vars(input).copy()
        fields["contacts"] = [vars(c) for c in input.contacts or []]
        created = await customers.create_customer(
            info.context, confirm_duplicate=confirm_duplicate, **fields
        )
        return await customer_of(info, created)

    @strawberry.mutation(
        description="Merge duplicates into the kept customer (MANAGER in team, DIRECTOR, ADMIN)."
    )
    async def merge_customers(
        self, info: Ctx, keep_id: strawberry.ID, merge_ids: list[strawberry.ID], reason: str
    ) -> Customer:
        kept = await merge.merge_customers(info.context, keep_id, list(merge_ids), reason)
        return await customer_of(info, kept)

    @strawberry.mutation
    async def update_customer(
        self,
        info: Ctx,
        id: strawberry.ID,
        input: UpdateCustomerInput,
        expected_version: int | None = None,
    ) -> Customer:
        scoped = await customers.update_customer(info.context, id, _given(input), expected_version)
        return await customer_of(info, scoped)

    @strawberry.mutation
    async def log_follow_up(self, info: Ctx, input: LogFollowUpInput) -> FollowUp:
        return FollowUp(row=await followups.log_follow_up(info.context, **vars(input)))

    @strawberry.mutation
    async def acknowledge_reminder(self, info: Ctx, id: strawberry.ID) -> Reminder:
        return Reminder(row=await reminders.acknowledge_reminder(info.context, id))

    @strawberry.mutation
    async def snooze_reminder(self, info: Ctx, id: strawberry.ID, until: datetime) -> Reminder:
        return Reminder(row=await reminders.snooze_reminder(info.context, id, until))
