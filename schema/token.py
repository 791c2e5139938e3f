"""ApiToken and the `apiTokens` query. The token itself is shown once, when issued."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from resolvers import tokens
from resolvers.context import Context
from resolvers.ids import global_id
from schema.node import Node
from schema.user import User, load_user

Ctx = Info[Context, None]


@strawberry.type
class ApiToken(Node):
    id: strawberry.ID = strawberry.field(description="What revokeApiToken takes.")
    database_id: int
    partner_name: str | None
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    user_id: strawberry.Private[int | None]

    @strawberry.field(description="Null for a partner's token.")
    async def user(self, info: Ctx) -> User | None:
        return await load_user(info, self.user_id)

    @classmethod
    def of(cls, listed: tokens.Listed) -> ApiToken:
        row = listed.row
        return cls(
            id=strawberry.ID(global_id("ApiToken", row.id or 0)),
            database_id=row.id or 0,
            partner_name=listed.partner_name,
            scopes=list(row.scopes or []),
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            user_id=row.user_id,
        )


@strawberry.type
class TokenQuery:
    @strawberry.field(description="ADMIN: every token; anyone else: their own. Newest first.")
    async def api_tokens(self, info: Ctx, include_revoked: bool = False) -> list[ApiToken]:
        listed = await tokens.list_api_tokens(info.context, include_revoked=include_revoked)
        return [ApiToken.of(t) for t in listed]
