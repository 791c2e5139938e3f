"""Mutations on disputes; merged into the root in schema/root.py with the other groups."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import disputes
from resolvers.context import Context
from schema.dispute import Dispute
from schema.inputs import CreditShareInput

Ctx = Info[Context, None]


@strawberry.type
class DisputeMutation:
    @strawberry.mutation(
        description="Claim a customer someone else owns. The rules may settle it at once "
        "(AUTO_RESOLVED); otherwise it is ESCALATED to the owner's manager or an arbiter."
    )
    async def open_dispute(self, info: Ctx, customer_id: strawberry.ID, reason: str) -> Dispute:
        return Dispute(row=await disputes.open_dispute(info.context, customer_id, reason))

    @strawberry.mutation(
        description="The arbiter's award, to the claimant or the respondent; `creditSplit` "
        "(summing to 100, including the awarded user) makes the other party a collaborator."
    )
    async def resolve_dispute(
        self,
        info: Ctx,
        id: strawberry.ID,
        award_to_user_id: strawberry.ID,
        credit_split: list[CreditShareInput] | None = None,
        note: str | None = None,
    ) -> Dispute:
        split = None if credit_split is None else [vars(s) for s in credit_split]
        row = await disputes.resolve_dispute(info.context, id, award_to_user_id, split, note)
        return Dispute(row=row)

    @strawberry.mutation(description="The claimant gives up; nothing changes hands.")
    async def withdraw_dispute(self, info: Ctx, id: strawberry.ID) -> Dispute:
        return Dispute(row=await disputes.withdraw_dispute(info.context, id))
