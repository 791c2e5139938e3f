"""What each relation of policy.csv means, as SQL over the customer table.

One function per relation; `Plan` ORs them into a row scope and sums them into a bitmask.
Some relations read the recorded history (audit entries, ownership events) as of the
request's time: they widen a row scope for one action and are never needed per row
(`SCOPE_ONLY`), so the relation mask of every listed row leaves them out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, not_, or_, select, true
from sqlalchemy.orm import aliased
from sqlmodel import col

from db import models
from db.customers import broad
from db.enums import CollaboratorAccess, CollaboratorRole, DisputeStatus, EventKind, TransferStatus
from db.models import Customer
from db.pools import member_pools

# Subqueries use their own aliases and correlate only with the customer row, so a
# relation means the same inside a query that itself selects collaborators, disputes
# or transfers.
Collaborator = aliased(models.Collaborator)
Dispute = aliased(models.Dispute)
PartnerCustomer = aliased(models.PartnerCustomer)
TransferItem = aliased(models.TransferItem)
TransferRequest = aliased(models.TransferRequest)
Approval = aliased(models.Approval)
AuditEntry = aliased(models.AuditEntry)
Event = aliased(models.OwnershipEvent)
Loss = aliased(models.OwnershipEvent)

RELATIONS = (
    "any",
    "owner",
    "collaborator",
    "write_collaborator",
    "service_collaborator",
    "team",
    "subtree",
    "pool",
    "partner",
    "arbiter",
    "claimant",
    "approver",
    "self",
    "duplicate_notice",
    "former_owner",
)
BIT = {name: 1 << i for i, name in enumerate(RELATIONS)}
SCOPE_ONLY = frozenset({"duplicate_notice", "former_owner"})

# The audit action recorded when createCustomer answers DUPLICATE_CUSTOMER naming a
# customer: the caller now knows it exists and may dispute it for a while.
DUPLICATE_NOTICE = "customer.duplicate"
# Ways an owner loses a customer (their ownership events name them in `from_user_id`)...
LOSSES = (
    EventKind.ASSIGNED,
    EventKind.TRANSFERRED,
    EventKind.RECYCLED,
    EventKind.DISPUTE_RESOLVED,
    EventKind.STAGE_HANDOFF,
    EventKind.RELEASED,
)
# ...and those that leave them a right to dispute it. Giving it up (RELEASED) does not: the
# pool's reclaim cooldown must not be undone by a dispute.
INVOLUNTARY = (
    EventKind.ASSIGNED,
    EventKind.TRANSFERRED,
    EventKind.RECYCLED,
    EventKind.DISPUTE_RESOLVED,
)
UNDECIDED = (DisputeStatus.OPEN, DisputeStatus.ESCALATED)


@dataclass(frozen=True)
class Windows:
    """How long the history-reading relations look back (settings of the same names)."""

    duplicate_notice_hours: float = 1
    former_owner_days: float = 90
    reclaim_cooldown_days: float = 30


@dataclass(frozen=True)
class Facts:
    """What the relations need to know about the caller."""

    user_id: int | None
    partner_id: int | None
    team_ids: frozenset[int]
    subtree_ids: frozenset[int]
    # The request's time, for relations that read history; without it they never hold.
    now: datetime | None = None
    windows: Windows = field(default_factory=Windows)
    # The caller's teams and every team above them: a pool naming one of these is theirs.
    pool_team_ids: frozenset[int] = frozenset()


def _owner(f: Facts) -> ColumnElement[bool]:
    return col(Customer.owner_id) == f.user_id if f.user_id else false()


def _collaborator(
    f: Facts, role: str | None = None, access: str | None = None
) -> ColumnElement[bool]:
    """The caller collaborates on the customer (in `role`, with `access`, when given). An
    expired collaborator is none from its expiry on, before the job removes the row."""
    if not f.user_id:
        return false()
    cond = [col(Collaborator.user_id) == f.user_id]
    if role:
        cond.append(col(Collaborator.role) == role)
    if access:
        cond.append(col(Collaborator.access) == access)
    if f.now is not None:
        expires = col(Collaborator.expires_at)
        cond.append(or_(expires.is_(None), expires > f.now))
    return _among(select(col(Collaborator.customer_id)).where(*cond))


def _among(customer_ids: Select[Any]) -> ColumnElement[bool]:
    """The customer is one of `customer_ids`: an uncorrelated subquery, read once per
    statement (an index lookup of the caller's rows) instead of an EXISTS per customer,
    so an OR of relations can still be answered branch by branch from indexes."""
    return col(Customer.id).in_(customer_ids)


def _teams(ids: frozenset[int]) -> ColumnElement[bool]:
    return col(Customer.team_id).in_(sorted(ids)) if ids else false()


def _partner(f: Facts) -> ColumnElement[bool]:
    if not f.partner_id:
        return false()
    shared = _among(
        select(col(PartnerCustomer.customer_id)).where(
            col(PartnerCustomer.partner_id) == f.partner_id
        )
    )
    return or_(col(Customer.referred_by_partner_id) == f.partner_id, shared)


def _dispute(f: Facts, column: Any, *status: str) -> ColumnElement[bool]:
    if not f.user_id:
        return false()
    cond = [column == f.user_id]
    if status:
        cond.append(col(Dispute.status).in_(status))
    return _among(select(col(Dispute.customer_id)).where(*cond))


def _last_loss(f: Facts, kinds: tuple[str, ...], since: datetime) -> ColumnElement[bool]:
    """The caller's latest loss of the customer is one of `kinds`, at `since` or later.
    Read from the caller's own losses (index ix_event_from_user), not per customer row:
    a latest loss at `since` or later is one of the losses since then."""
    latest = (
        select(func.max(col(Loss.id)))
        .where(
            col(Loss.from_user_id) == f.user_id,
            col(Loss.customer_id) == col(Event.customer_id),
            col(Loss.kind).in_(LOSSES),
        )
        .scalar_subquery()
    )
    return _among(
        select(col(Event.customer_id)).where(
            col(Event.from_user_id) == f.user_id,
            col(Event.kind).in_(kinds),
            col(Event.at) >= since,
            col(Event.id) == latest,
        )
    )


def _cooling_down(f: Facts) -> ColumnElement[bool]:
    """The caller gave the customer up themselves, and its reclaim cooldown still runs."""
    assert f.now is not None
    since = f.now - timedelta(days=f.windows.reclaim_cooldown_days)
    return _last_loss(f, (EventKind.RELEASED,), since)


def _former_owner(f: Facts) -> ColumnElement[bool]:
    """The caller owned it until recently and lost it without giving it up."""
    if not f.user_id or f.now is None:
        return false()
    return _last_loss(f, INVOLUNTARY, f.now - timedelta(days=f.windows.former_owner_days))


def _duplicate_notice(f: Facts) -> ColumnElement[bool]:
    """A DUPLICATE_CUSTOMER answer named it to the caller a moment ago (not during their
    own reclaim cooldown: see `_cooling_down`)."""
    if not f.user_id or f.now is None:
        return false()
    told = _among(
        select(col(AuditEntry.customer_id)).where(
            col(AuditEntry.actor_id) == f.user_id,
            col(AuditEntry.action) == DUPLICATE_NOTICE,
            col(AuditEntry.at) >= f.now - timedelta(hours=f.windows.duplicate_notice_hours),
        )
    )
    return and_(told, not_(_cooling_down(f)))


def _pool(f: Facts) -> ColumnElement[bool]:
    """In a pool the caller belongs to. A row written without a pool (straight to the
    table, as by the first release) counts as in the default pool."""
    members = member_pools(f.user_id, sorted(f.pool_team_ids))
    default_is_mine = exists(
        select(1).where(col(models.Pool.is_default).is_(True), col(models.Pool.id).in_(members))
    )
    return and_(
        # A term, not the whole AND: the scope's AND with LIVE flattens the clauses.
        broad(col(Customer.owner_id).is_(None)),
        or_(
            col(Customer.pool_id).in_(members),
            and_(col(Customer.pool_id).is_(None), default_is_mine),
        ),
    )


def _approver(f: Facts) -> ColumnElement[bool]:
    if not f.user_id:
        return false()
    return _among(
        select(col(TransferItem.customer_id))
        .join(TransferRequest, col(TransferRequest.id) == col(TransferItem.transfer_id))
        .join(Approval, col(Approval.transfer_id) == col(TransferItem.transfer_id))
        .where(
            col(TransferRequest.status) == TransferStatus.PENDING,
            col(Approval.approver_id) == f.user_id,
        )
    )


SQL: dict[str, Callable[[Facts], ColumnElement[bool]]] = {
    "any": lambda f: true(),
    "owner": _owner,
    # Any access sees the customer; WRITE also follows up and edits (policy.csv).
    "collaborator": _collaborator,
    "write_collaborator": lambda f: _collaborator(f, access=CollaboratorAccess.WRITE),
    "service_collaborator": lambda f: _collaborator(f, CollaboratorRole.SERVICE),
    "team": lambda f: _teams(f.team_ids),
    "subtree": lambda f: _teams(f.subtree_ids),
    # In a pool the caller belongs to (db/pools.member_pools); any other is invisible.
    "pool": lambda f: _pool(f),
    "partner": _partner,
    # While the dispute is undecided only: an arbiter or claimant sees nothing once it ends
    # (the outcome stays readable on the dispute itself, to its parties).
    "arbiter": lambda f: _dispute(f, col(Dispute.arbiter_id), *UNDECIDED),
    "claimant": lambda f: _dispute(f, col(Dispute.claimant_id), *UNDECIDED),
    "approver": _approver,
    "self": lambda f: false(),  # a relation to users and tokens, never to a customer
    "duplicate_notice": _duplicate_notice,
    "former_owner": _former_owner,
}
