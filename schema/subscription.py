"""The root Subscription: fields only, each pointing at resolvers/live.py.

Over WebSocket (graphql-transport-ws or legacy graphql-ws); the token goes in
`connection_init`'s payload as {"authorization": "Bearer ..."}.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import strawberry
from strawberry.types import Info

from kernel.errors import Validation
from resolvers import live
from resolvers.context import Context
from schema.dispute import Dispute
from schema.event import OwnershipEvent
from schema.live_frames import Frames
from schema.pagination import decode_cursor
from schema.reminder import Reminder

Ctx = Info[Context, None]


def _since(cursor: str | None) -> int | None:
    try:
        return decode_cursor(cursor)
    except Validation as exc:
        raise Validation(exc.message, argument="since") from None


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Ownership events of customers you may see, as they happen. `since` (an "
        "event's cursor) replays what came after it first, with no gap and no duplicate."
    )
    async def ownership_changed(
        self,
        info: Ctx,
        customer_id: strawberry.ID | None = None,
        team_id: strawberry.ID | None = None,
        since: str | None = None,
    ) -> AsyncGenerator[OwnershipEvent, None]:
        rows = live.ownership_changed(
            info.context,
            customer_id=customer_id,
            team_id=team_id,
            since=_since(since),
            direct=Frames.of(info),
        )
        async with aclosing(rows):
            async for row, known in rows:
                yield OwnershipEvent(row=row, known=None if known is live.UNKNOWN else (known,))

    @strawberry.subscription(
        description="Your reminders as they fire. `since`: the cursor of the last one you got."
    )
    async def reminder_due(
        self, info: Ctx, since: str | None = None
    ) -> AsyncGenerator[Reminder, None]:
        rows = live.reminder_due(info.context, since=_since(since))
        async with aclosing(rows):
            async for row in rows:
                yield Reminder(row=row)

    @strawberry.subscription(
        description="Disputes about customers you may see, as they change. `since` (the "
        "`cursor` of a dispute this subscription delivered) replays the changes after it "
        "first, with no gap and no duplicate."
    )
    async def dispute_updated(
        self, info: Ctx, customer_id: strawberry.ID | None = None, since: str | None = None
    ) -> AsyncGenerator[Dispute, None]:
        rows = live.dispute_updated(info.context, customer_id=customer_id, since=_since(since))
        async with aclosing(rows):
            async for change, row in rows:
                yield Dispute(row=row, change=change)
