"""AuditEntry and the `auditLog` query."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import ColumnElement
from strawberry.types import Info

from resolvers import audit
from resolvers.context import Context
from resolvers.ids import global_id
from schema.node import Node
from schema.pagination import PageInfo, decode_cursor, encode_cursor, page_size
from schema.user import User, load_user

if TYPE_CHECKING:
    from schema.customer import Customer

Ctx = Info[Context, None]


@strawberry.type
class AuditEntry(Node):
    id: strawberry.ID
    database_id: int
    at: datetime
    partner_name: str | None
    action: str = strawberry.field(
        description="e.g. customer.read_sensitive, ownership.claimed, token.issue, rules.set"
    )
    details: str | None = strawberry.field(description="JSON text.")
    actor_id: strawberry.Private[int | None]
    customer_id: strawberry.Private[int | None]

    @strawberry.field(description="Null for the system and the command line.")
    async def actor(self, info: Ctx) -> User | None:
        return await load_user(info, self.actor_id)

    @strawberry.field(description="Null when there is none, or you may no longer see it.")
    async def customer(
        self, info: Ctx
    ) -> Annotated[Customer, strawberry.lazy("schema.customer")] | None:
        from schema.customer_page import customer_of

        if self.customer_id is None:
            return None
        scoped = await info.context.loaders.customer_by_id.load(self.customer_id)
        return await customer_of(info, scoped) if scoped else None

    @classmethod
    def of(cls, entry: audit.Entry) -> AuditEntry:
        row = entry.row
        return cls(
            id=strawberry.ID(global_id("AuditEntry", row.id or 0)),
            database_id=row.id or 0,
            at=row.at,
            partner_name=entry.partner_name,
            action=row.action,
            details=json.dumps(row.detail, sort_keys=True, ensure_ascii=False)
            if row.detail
            else None,
            actor_id=row.actor_id,
            customer_id=row.customer_id,
        )


@strawberry.type
class AuditEntryEdge:
    node: AuditEntry
    cursor: str


@strawberry.type
class AuditEntryConnection:
    edges: list[AuditEntryEdge]
    page_info: PageInfo
    where: strawberry.Private[ColumnElement[bool]]

    @strawberry.field(description="Entries matching the filters, across pages.")
    async def total_count(self, info: Ctx) -> int:
        return await audit.count_audit_entries(info.context, self.where)


@strawberry.type
class AuditQuery:
    @strawberry.field(description="Newest first. AUDITOR and ADMIN only.")
    async def audit_log(
        self,
        info: Ctx,
        first: int = 50,
        after: str | None = None,
        action: str | None = None,
        actor_id: strawberry.ID | None = None,
        customer_id: strawberry.ID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> AuditEntryConnection:
        ctx = info.context
        page = await audit.audit_log(
            ctx,
            first=page_size(first, ctx.settings.max_page_size),
            after_id=decode_cursor(after),
            action=action,
            actor_id=actor_id,
            customer_id=customer_id,
            since=since,
            until=until,
        )
        edges = [
            AuditEntryEdge(node=AuditEntry.of(e), cursor=encode_cursor(e.row.id or 0))
            for e in page.entries
        ]
        return AuditEntryConnection(
            edges=edges,
            page_info=PageInfo.of(edges, page.more, decode_cursor(after)),
            where=page.where,
        )
