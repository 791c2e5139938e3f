"""Queries of the contract; merged into the root Query in schema/root.py."""

from __future__ import annotations

from dataclasses import replace

import strawberry
from strawberry.types import Info

from resolvers import customers, directory, disputes, events, pools, reminders, stats, transfers
from resolvers.context import Context
from schema.customer import Customer, CustomerConnection
from schema.customer_page import customer_by_id, customer_page
from schema.dispute import DisputeConnection
from schema.enums import DisputeStatus, ReminderStatus, TransferStatus
from schema.event import OwnershipEventConnection
from schema.inputs import CustomerFilter, DuplicateCheckInput
from schema.pagination import decode_cursor, page_size
from schema.reminder import Reminder
from schema.results import DuplicateMatch, OwnerLoad, OwnershipStats, ReleaseReasonCount
from schema.transfer import TransferRequest
from schema.user import Team, User

Ctx = Info[Context, None]


def _first(info: Ctx, first: int) -> int:
    return page_size(first, info.context.settings.max_page_size)


async def _customers(
    info: Ctx, filter: CustomerFilter | None, first: int, after: str | None, in_pool: bool | None
) -> CustomerConnection:
    return await customers_of(info, filter, first, after, in_pool=in_pool)


async def customers_of(
    info: Ctx,
    filter: CustomerFilter | None,
    first: int,
    after: str | None,
    *,
    in_pool: bool | None = None,
    pool_id: int | None = None,
) -> CustomerConnection:
    raw = vars(filter) if filter else {}
    spec = customers.customer_filter(info.context, raw, in_pool=in_pool)
    if pool_id is not None:
        spec = replace(spec, pool_id=pool_id, in_pool=True)
    if raw.get("recycle_due_before") is not None:
        due = await pools.due_before(info.context, raw["recycle_due_before"])
        spec = replace(spec, extra=(*spec.extra, due))
    return await customer_page(info, spec, first=_first(info, first), after_id=decode_cursor(after))


def transfer_type(t: transfers.Transfer) -> TransferRequest:
    return TransferRequest(row=t.request, customer_ids=t.customer_ids, approval_rows=t.approvals)


@strawberry.type
class CustomerQuery:
    @strawberry.field
    async def me(self, info: Ctx) -> User:
        return User(row=await directory.me(info.context))

    @strawberry.field(description="NOT_FOUND for ids that do not exist and ids you may not see.")
    async def customer(self, info: Ctx, id: strawberry.ID) -> Customer | None:
        return await customer_by_id(info, id)

    @strawberry.field
    async def customers(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: CustomerFilter | None = None,
    ) -> CustomerConnection:
        return await _customers(info, filter, first, after, None)

    @strawberry.field(description="The public pool: customers nobody owns.")
    async def pool(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: CustomerFilter | None = None,
    ) -> CustomerConnection:
        return await _customers(info, filter, first, after, True)

    @strawberry.field
    async def duplicate_check(self, info: Ctx, input: DuplicateCheckInput) -> list[DuplicateMatch]:
        found = await customers.duplicate_check(info.context, **vars(input))
        return [DuplicateMatch(**m) for m in found]

    @strawberry.field
    async def users(self, info: Ctx, team_id: strawberry.ID | None = None) -> list[User]:
        return [User(row=u) for u in await directory.list_users(info.context, team_id)]

    @strawberry.field
    async def teams(self, info: Ctx) -> list[Team]:
        return [Team(row=t) for t in await directory.list_teams(info.context)]

    @strawberry.field
    async def disputes(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        status: DisputeStatus | None = None,
    ) -> DisputeConnection:
        after_id = decode_cursor(after)
        rows, more = await disputes.list_disputes(
            info.context, status=status, first=_first(info, first), after_id=after_id
        )
        return DisputeConnection.of(rows, more, after_id)

    @strawberry.field
    async def transfer_requests(
        self, info: Ctx, status: TransferStatus | None = None
    ) -> list[TransferRequest]:
        return [transfer_type(t) for t in await transfers.list_transfers(info.context, status)]

    @strawberry.field
    async def my_reminders(self, info: Ctx, status: ReminderStatus | None = None) -> list[Reminder]:
        return [Reminder(row=r) for r in await reminders.my_reminders(info.context, status)]

    @strawberry.field
    async def ownership_events(
        self,
        info: Ctx,
        first: int = 50,
        after: str | None = None,
        customer_id: strawberry.ID | None = None,
    ) -> OwnershipEventConnection:
        after_id = decode_cursor(after)
        rows, more = await events.list_events(
            info.context, customer_id=customer_id, after_id=after_id, first=_first(info, first)
        )
        return OwnershipEventConnection.of(rows, more, after_id)

    @strawberry.field
    async def ownership_stats(
        self, info: Ctx, team_id: strawberry.ID | None = None
    ) -> OwnershipStats:
        s = await stats.ownership_stats(info.context, team_id)
        return OwnershipStats(
            owners=[
                OwnerLoad(owner=User(row=o.owner), customers=o.customers, overdue=o.overdue)
                for o in s.owners
            ],
            pool_size=s.pool_size,
            overdue_follow_ups=s.overdue_follow_ups,
            gini_of_load=s.gini_of_load,
            changes_last30_days=s.changes_last30_days,
            releases_by_reason=[
                ReleaseReasonCount(
                    code=code,
                    zh=labels.get(code, {}).get("zh", code),
                    en=labels.get(code, {}).get("en", code),
                    count=n,
                )
                for code, n in sorted(s.releases_by_reason.items())
                for labels in [info.context.settings.release_reason_codes]
            ],
        )
