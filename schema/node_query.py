"""`node(id:)` and `nodes(ids:)`: any Node by its global id, through the same visibility as
the type's own query. A malformed id, another kind of id, and an id the caller may not see
all answer null, exactly like an id that does not exist."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from strawberry.types import Info

from db import models
from kernel.errors import Forbidden, NotFound, Validation
from kernel.messages import N_
from resolvers import audit, disputes, events, exports, reminders, tokens, transfers
from resolvers.context import Context
from resolvers.ids import decode_global_id
from schema.audit import AuditEntry
from schema.customer_page import customer_of
from schema.dispute import Dispute
from schema.event import OwnershipEvent
from schema.export import ExportRequest
from schema.followup import FollowUp
from schema.masking import path_of
from schema.node import Node
from schema.query import transfer_type
from schema.reminder import Reminder
from schema.token import ApiToken
from schema.user import Team, User

Ctx = Info[Context, None]
# Finds one visible object by database id; `path` is where its masked fields are reported.
Finder = Callable[[Ctx, int, str], Awaitable[Node | None]]


async def _customer(info: Ctx, ident: int, path: str) -> Node | None:
    scoped = await info.context.loaders.customer_by_id.load(ident)
    return await customer_of(info, scoped, path) if scoped else None


async def _user(info: Ctx, ident: int, path: str) -> Node | None:
    info.context.plan.require("user", "read")  # as `users`
    row = await info.context.loaders.user_by_id.load(ident)
    return User(row=row) if row else None


async def _team(info: Ctx, ident: int, path: str) -> Node | None:
    info.context.plan.require("user", "read")  # as `teams`
    row = await info.context.loaders.team_by_id.load(ident)
    return Team(row=row) if row else None


async def _follow_up(info: Ctx, ident: int, path: str) -> Node | None:
    """As `Customer.followUps`: the customer visible and its follow-ups not masked."""
    ctx = info.context
    row = await (await ctx.session()).get(models.FollowUp, ident)
    if row is None:
        return None
    scoped = await ctx.loaders.customer_by_id.load(row.customer_id)
    if scoped is None or "follow_ups" in ctx.field_masks.hidden("customer", scoped.relations):
        return None
    return FollowUp(row=row)


async def _event(info: Ctx, ident: int, path: str) -> Node | None:
    rows, _ = await events.list_events(
        info.context, customer_id=None, after_id=None, first=1, ident=ident
    )
    return OwnershipEvent(row=rows[0]) if rows else None


async def _transfer(info: Ctx, ident: int, path: str) -> Node | None:
    found = await transfers.list_transfers(info.context, ident=ident)
    return transfer_type(found[0]) if found else None


async def _dispute(info: Ctx, ident: int, path: str) -> Node | None:
    return Dispute(row=await disputes.get_dispute(info.context, ident))


async def _reminder(info: Ctx, ident: int, path: str) -> Node | None:
    found = await reminders.my_reminders(info.context, ident=ident)
    return Reminder(row=found[0]) if found else None


async def _token(info: Ctx, ident: int, path: str) -> Node | None:
    found = await tokens.list_api_tokens(info.context, ident=ident)
    return ApiToken.of(found[0]) if found else None


async def _audit_entry(info: Ctx, ident: int, path: str) -> Node | None:
    page = await audit.audit_log(info.context, first=1, after_id=None, ident=ident)
    return AuditEntry.of(page.entries[0]) if page.entries else None


async def _export(info: Ctx, ident: int, path: str) -> Node | None:
    rows, _ = await exports.list_export_requests(
        info.context, status=None, first=1, after_id=None, ident=ident
    )
    return ExportRequest.of(info.context, rows[0]) if rows else None


FINDERS: dict[str, Finder] = {
    "Customer": _customer,
    "User": _user,
    "Team": _team,
    "FollowUp": _follow_up,
    "OwnershipEvent": _event,
    "TransferRequest": _transfer,
    "Dispute": _dispute,
    "Reminder": _reminder,
    "ApiToken": _token,
    "AuditEntry": _audit_entry,
    "ExportRequest": _export,
}


async def find_node(info: Ctx, value: object, path: str) -> Node | None:
    decoded = decode_global_id(value)
    finder = FINDERS.get(decoded[0]) if decoded else None
    if decoded is None or finder is None:
        return None
    try:
        return await finder(info, decoded[1], path)
    except (NotFound, Forbidden):
        # Not the caller's to see: the same answer as an id that does not exist.
        return None


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="Any object by its global id; null when it does not exist, is not "
        "yours to see, or the id is not one of ours."
    )
    async def node(self, info: Ctx, id: strawberry.ID) -> Node | None:
        return await find_node(info, id, path_of(info))

    @strawberry.field(
        description="Several objects by global id, in order; null for each `node` would "
        "answer null for. At most the page size limit."
    )
    async def nodes(self, info: Ctx, ids: list[strawberry.ID]) -> list[Node | None]:
        limit = info.context.settings.max_page_size
        if len(ids) > limit:
            raise Validation(N_("At most {limit} ids at once.", limit=limit), argument="ids")
        base = path_of(info)
        # One after another: they share the request's session.
        return [await find_node(info, value, f"{base}.{i}") for i, value in enumerate(ids)]
