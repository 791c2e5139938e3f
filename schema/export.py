"""ExportRequest, its connection, and the export query and mutations; merged into the
root in schema/root.py. The CSV itself is served by ownergraph/exports_route.py."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from db import models
from db.enums import ExportStatus
from resolvers import exports
from resolvers.context import Context
from resolvers.ids import global_id
from schema.inputs import CustomerFilter
from schema.node import Node
from schema.pagination import PageInfo, decode_cursor, encode_cursor, page_size
from schema.user import User, load_user

Ctx = Info[Context, None]

strawberry.enum(ExportStatus)


@strawberry.type
class ExportRequest(Node):
    id: strawberry.ID
    database_id: int
    requested_by_id: strawberry.Private[int]
    decided_by_id: strawberry.Private[int | None]
    reason: str
    fields: list[str]
    row_count: int = strawberry.field(
        description="Rows the requester may see under the filter, counted at request time."
    )
    status: ExportStatus
    decided_at: datetime | None
    decision_note: str | None
    download_url: str | None = strawberry.field(
        description="While APPROVED and unexpired, for the requester only: GET it with "
        "the requester's bearer token."
    )
    expires_at: datetime | None
    created_at: datetime

    @strawberry.field
    async def requested_by(self, info: Ctx) -> User:
        user = await load_user(info, self.requested_by_id)
        assert user is not None  # a foreign key
        return user

    @strawberry.field
    async def decided_by(self, info: Ctx) -> User | None:
        return await load_user(info, self.decided_by_id)

    @classmethod
    def of(cls, ctx: Context, row: models.ExportRequest) -> ExportRequest:
        return cls(
            id=strawberry.ID(global_id("ExportRequest", row.id or 0)),
            database_id=row.id or 0,
            requested_by_id=row.requested_by_id,
            decided_by_id=row.decided_by_id,
            reason=row.reason,
            fields=list(row.fields),
            row_count=row.row_count,
            status=exports.status_of(row, ctx.now()),
            decided_at=row.decided_at,
            decision_note=row.note,
            download_url=exports.download_url(ctx, row),
            expires_at=row.expires_at,
            created_at=row.created_at,
        )


@strawberry.type
class ExportRequestEdge:
    node: ExportRequest
    cursor: str


@strawberry.type
class ExportRequestConnection:
    edges: list[ExportRequestEdge]
    page_info: PageInfo


@strawberry.type
class ExportQuery:
    @strawberry.field(
        description="Newest first. Your own requests, those waiting for your decision and "
        "those you decided; ADMIN sees all."
    )
    async def export_requests(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        status: ExportStatus | None = None,
    ) -> ExportRequestConnection:
        ctx = info.context
        rows, more = await exports.list_export_requests(
            ctx,
            status=status,
            first=page_size(first, ctx.settings.max_page_size),
            after_id=decode_cursor(after),
        )
        edges = [
            ExportRequestEdge(node=ExportRequest.of(ctx, r), cursor=encode_cursor(r.id or 0))
            for r in rows
        ]
        return ExportRequestConnection(
            edges=edges, page_info=PageInfo.of(edges, more, decode_cursor(after))
        )


@strawberry.type
class ExportMutation:
    @strawberry.mutation(
        description="Ask for a CSV of customers (MANAGER, REP); your manager, a director "
        "above or an admin decides."
    )
    async def request_export(
        self,
        info: Ctx,
        filter: CustomerFilter | None = None,
        *,
        fields: list[str],
        reason: str,
    ) -> ExportRequest:
        raw = (
            {k: v for k, v in vars(filter).items() if v is not strawberry.UNSET} if filter else None
        )
        row = await exports.request_export(info.context, filter=raw, fields=fields, reason=reason)
        return ExportRequest.of(info.context, row)

    @strawberry.mutation(description="The requester's manager, a director above or an admin.")
    async def decide_export(
        self, info: Ctx, id: strawberry.ID, approve: bool, note: str | None = None
    ) -> ExportRequest:
        row = await exports.decide_export(info.context, id, approve, note)
        return ExportRequest.of(info.context, row)
