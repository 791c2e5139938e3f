"""Mutations of ownership between people: transfers, hand-overs, departures,
collaborators, and API tokens; merged into the root in schema/root.py."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from resolvers import collaborators, portfolio, tokens, transfers
from resolvers.context import Context
from resolvers.ids import global_id
from schema.customer import Customer
from schema.customer_page import customer_of
from schema.enums import CollaboratorAccess, CollaboratorRole
from schema.inputs import RequestTransferInput
from schema.query import transfer_type
from schema.results import HandOverResult, IssuedToken
from schema.transfer import TransferRequest
from schema.user import User

Ctx = Info[Context, None]


@strawberry.type
class TransferMutation:
    @strawberry.mutation(description="Ask to move customers of one owner to another user.")
    async def request_transfer(self, info: Ctx, input: RequestTransferInput) -> TransferRequest:
        transfer = await transfers.request_transfer(info.context, **vars(input))
        return transfer_type(transfer)

    @strawberry.mutation(description="Approve or reject; the last approval executes it.")
    async def decide_transfer(
        self, info: Ctx, id: strawberry.ID, approve: bool, note: str | None = None
    ) -> TransferRequest:
        return transfer_type(await transfers.decide_transfer(info.context, id, approve, note))

    @strawberry.mutation(description="The requester withdraws a request while it is pending.")
    async def cancel_transfer(self, info: Ctx, id: strawberry.ID) -> TransferRequest:
        return transfer_type(await transfers.cancel_transfer(info.context, id))

    @strawberry.mutation(description="Departure: a whole portfolio to a successor or the pool.")
    async def hand_over_portfolio(
        self,
        info: Ctx,
        from_user_id: strawberry.ID,
        reason: str,
        to_user_id: strawberry.ID | None = None,
        keep_previous_owner_as: CollaboratorRole | None = None,
        keep_previous_owner_access: CollaboratorAccess = CollaboratorAccess.READ,
    ) -> HandOverResult:
        done = await portfolio.hand_over_portfolio(
            info.context,
            from_user_id,
            to_user_id,
            reason,
            keep_previous_owner_as,
            keep_previous_owner_access,
        )
        to_user = User(row=done.to_user) if done.to_user else None
        return HandOverResult(moved=done.moved, to_user=to_user, to_pool=done.to_user is None)

    @strawberry.mutation
    async def deactivate_user(
        self, info: Ctx, id: strawberry.ID, hand_over_to_user_id: strawberry.ID | None = None
    ) -> User:
        return User(row=await portfolio.deactivate_user(info.context, id, hand_over_to_user_id))

    @strawberry.mutation
    async def add_collaborator(
        self,
        info: Ctx,
        customer_id: strawberry.ID,
        user_id: strawberry.ID,
        role: CollaboratorRole,
        credit_share: int,
        access: CollaboratorAccess = CollaboratorAccess.WRITE,
        expires_at: datetime | None = None,
    ) -> Customer:
        scoped = await collaborators.add_collaborator(
            info.context, customer_id, user_id, role, credit_share, access, expires_at
        )
        return await customer_of(info, scoped)

    @strawberry.mutation
    async def remove_collaborator(
        self, info: Ctx, customer_id: strawberry.ID, user_id: strawberry.ID
    ) -> Customer:
        scoped = await collaborators.remove_collaborator(info.context, customer_id, user_id)
        return await customer_of(info, scoped)

    @strawberry.mutation(description="The token is shown once; only its hash is kept.")
    async def issue_api_token(
        self,
        info: Ctx,
        scopes: list[str],
        partner_name: str | None = None,
        user_id: strawberry.ID | None = None,
        expires_at: datetime | None = None,
    ) -> IssuedToken:
        issued = await tokens.issue_api_token(
            info.context,
            scopes=scopes,
            partner_name=partner_name,
            user_id=user_id,
            expires_at=expires_at,
        )
        return IssuedToken(
            id=strawberry.ID(global_id("ApiToken", issued.row.id or 0)),
            token=issued.token,
            scopes=list(issued.row.scopes),
            expires_at=issued.row.expires_at,
        )

    @strawberry.mutation
    async def revoke_api_token(self, info: Ctx, id: strawberry.ID) -> bool:
        return await tokens.revoke_api_token(info.context, id)
