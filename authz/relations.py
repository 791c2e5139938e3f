"""What each relation of policy.csv means, as SQL over the customer table.

One function per relation; `Plan` ORs them into a row scope and sums them into a bitmask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import aliased
from sqlmodel import col

from db import models
from db.enums import CollaboratorRole, TransferStatus
from db.models import Customer

# Subqueries use their own aliases and correlate only with the customer row, so a
# relation means the same inside a query that itself selects collaborators, disputes
# or transfers.
Collaborator = aliased(models.Collaborator)
Dispute = aliased(models.Dispute)
PartnerCustomer = aliased(models.PartnerCustomer)
TransferItem = aliased(models.TransferItem)
TransferRequest = aliased(models.TransferRequest)
Approval = aliased(models.Approval)

RELATIONS = (
    "any",
    "owner",
    "collaborator",
    "service_collaborator",
    "team",
    "subtree",
    "pool",
    "partner",
    "arbiter",
    "claimant",
    "approver",
    "self",
)
BIT = {name: 1 << i for i, name in enumerate(RELATIONS)}


@dataclass(frozen=True)
class Facts:
    """What the relations need to know about the caller."""

    user_id: int | None
    partner_id: int | None
    team_ids: frozenset[int]
    subtree_ids: frozenset[int]


def _owner(f: Facts) -> ColumnElement[bool]:
    return col(Customer.owner_id) == f.user_id if f.user_id else false()


def _collaborator(f: Facts, role: str | None = None) -> ColumnElement[bool]:
    if not f.user_id:
        return false()
    cond = [
        col(Collaborator.customer_id) == col(Customer.id),
        col(Collaborator.user_id) == f.user_id,
    ]
    if role:
        cond.append(col(Collaborator.role) == role)
    return exists(select(1).where(*cond))


def _teams(ids: frozenset[int]) -> ColumnElement[bool]:
    return col(Customer.team_id).in_(sorted(ids)) if ids else false()


def _partner(f: Facts) -> ColumnElement[bool]:
    if not f.partner_id:
        return false()
    shared = exists(
        select(1).where(
            col(PartnerCustomer.customer_id) == col(Customer.id),
            col(PartnerCustomer.partner_id) == f.partner_id,
        )
    )
    return or_(col(Customer.referred_by_partner_id) == f.partner_id, shared)


def _dispute(f: Facts, column: Any) -> ColumnElement[bool]:
    if not f.user_id:
        return false()
    return exists(
        select(1).where(col(Dispute.customer_id) == col(Customer.id), column == f.user_id)
    )


def _approver(f: Facts) -> ColumnElement[bool]:
    if not f.user_id:
        return false()
    return exists(
        select(1)
        .select_from(TransferItem)
        .join(TransferRequest, col(TransferRequest.id) == col(TransferItem.transfer_id))
        .join(Approval, col(Approval.transfer_id) == col(TransferItem.transfer_id))
        .where(
            and_(
                col(TransferItem.customer_id) == col(Customer.id),
                col(TransferRequest.status) == TransferStatus.PENDING,
                col(Approval.approver_id) == f.user_id,
            )
        )
    )


SQL: dict[str, Callable[[Facts], ColumnElement[bool]]] = {
    "any": lambda f: true(),
    "owner": _owner,
    "collaborator": _collaborator,
    "service_collaborator": lambda f: _collaborator(f, CollaboratorRole.SERVICE),
    "team": lambda f: _teams(f.team_ids),
    "subtree": lambda f: _teams(f.subtree_ids),
    "pool": lambda f: col(Customer.owner_id).is_(None),
    "partner": _partner,
    "arbiter": lambda f: _dispute(f, col(Dispute.arbiter_id)),
    "claimant": lambda f: _dispute(f, col(Dispute.claimant_id)),
    "approver": _approver,
    "self": lambda f: false(),  # a relation to users and tokens, never to a customer
}
