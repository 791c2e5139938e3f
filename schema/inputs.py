"""Input types of the contract."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.enums import (
    CollaboratorAccess,
    CollaboratorRole,
    FollowUpChannel,
    Stage,
    Tier,
    TransferKind,
)

__all__ = ["CollaboratorRole"]


@strawberry.input
class CustomerFilter:
    owner_id: strawberry.ID | None = None
    team_id: strawberry.ID | None = None
    region: str | None = None
    industry: str | None = None
    tier: Tier | None = None
    stage: Stage | None = None
    in_pool: bool | None = None
    overdue: bool | None = None
    search: str | None = None
    pool_id: strawberry.ID | None = strawberry.field(
        default=None, description="Customers in this pool."
    )
    locked: bool | None = strawberry.field(default=None, description="Locked now, or not.")
    recycle_due_before: datetime | None = strawberry.field(
        default=None, description="Owned customers due to go to the pool before this time."
    )


@strawberry.input
class ContactInput:
    name: str
    title: str | None = None
    phone: str | None = None
    email: str | None = None
    is_decision_maker: bool | None = False


@strawberry.input
class CreateCustomerInput:
    name: str
    industry: str | None = None
    region: str | None = None
    size: str | None = None
    tier: Tier | None = Tier.C
    stage: Stage | None = Stage.LEAD
    source: str | None = None
    tags: list[str] | None = None
    tax_id: str | None = None
    deal_value: float | None = None
    contacts: list[ContactInput] | None = None
    assign_by_rules: bool | None = False


@strawberry.input
class UpdateCustomerInput:
    name: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    region: str | None = strawberry.UNSET
    size: str | None = strawberry.UNSET
    tier: Tier | None = strawberry.UNSET
    stage: Stage | None = strawberry.UNSET
    source: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    tax_id: str | None = strawberry.UNSET
    deal_value: float | None = strawberry.UNSET


@strawberry.input
class DuplicateCheckInput:
    name: str | None = None
    tax_id: str | None = None
    phone: str | None = None
    email: str | None = None


@strawberry.input
class LogFollowUpInput:
    customer_id: strawberry.ID
    channel: FollowUpChannel
    summary: str
    outcome: str | None = None
    at: datetime | None = None
    next_follow_up_at: datetime | None = None


@strawberry.input
class RequestTransferInput:
    customer_ids: list[strawberry.ID]
    to_user_id: strawberry.ID
    kind: TransferKind
    reason: str
    keep_previous_owner_as: CollaboratorRole | None = strawberry.field(
        default=None, description="Keep the old owner on as a collaborator; null: removed."
    )
    keep_previous_owner_access: CollaboratorAccess = CollaboratorAccess.READ


@strawberry.input
class CreditShareInput:
    user_id: strawberry.ID
    percent: int
