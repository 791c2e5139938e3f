"""The tables. Every entity of DESIGN.md, one class each.

Ids are integers; enums are stored as their string values (see `db.enums`); times are
timezone-aware UTC (`UTCDateTime`). Ownership events are append-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from db.types import UTCDateTime


def _time(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _json() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Team(SQLModel, table=True):
    __tablename__ = "team"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=120)
    parent_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    # Circular with users.team_id; created after both tables exist.
    manager_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", use_alter=True, name="fk_team_manager")),
    )
    # Materialised path "/1/4/" so a subtree is one indexed prefix match.
    path: str = Field(default="/", index=True, max_length=400)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    email: str = Field(unique=True, max_length=254)
    role: str = Field(max_length=16, index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    regions: list[str] = _json()
    industries: list[str] = _json()
    capacity: int | None = None
    # Customers the user may hold locked at once; None: the user may not lock any.
    lock_quota: int | None = None
    active: bool = True
    created_at: datetime = _time(nullable=False)
    deactivated_at: datetime | None = _time()


class Partner(SQLModel, table=True):
    __tablename__ = "partner"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=120)
    active: bool = True
    created_at: datetime = _time(nullable=False)


UNWARNED = (
    "owner_id IS NOT NULL AND (recycle_warned_at IS NULL OR recycle_warned_at <= recycle_clock_at)"
)
UNREMINDED = (
    "owner_id IS NOT NULL AND (follow_up_reminded_at IS NULL "
    "OR follow_up_reminded_at < next_follow_up_due)"
)
UNESCALATED = (
    "owner_id IS NOT NULL AND (overdue_escalated_at IS NULL "
    "OR overdue_escalated_at < next_follow_up_due)"
)


class Pool(SQLModel, table=True):
    """A public pool (公海). `rules` holds only what the pool sets; a rule it leaves out is
    the setting of the same name (db/pools.Rules)."""

    __tablename__ = "pool"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=120)
    is_default: bool = False
    rules: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _time(nullable=False)


class PoolTeam(SQLModel, table=True):
    """Owners in this team (and the teams below it, unless a deeper pool names them)
    recycle into the pool; members of these teams see and claim from it."""

    __tablename__ = "pool_team"

    pool_id: int = Field(foreign_key="pool.id", primary_key=True)
    team_id: int = Field(foreign_key="team.id", primary_key=True, index=True)


class PoolAdmin(SQLModel, table=True):
    __tablename__ = "pool_admin"

    pool_id: int = Field(foreign_key="pool.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True, index=True)


class Customer(SQLModel, table=True):
    __tablename__ = "customer"
    __table_args__ = (
        # The jobs' partial indexes (db/jobs.py): only rows a job may still have to touch.
        Index(
            "ix_customer_recycle_owned",
            "tier",
            "recycle_clock_at",
            sqlite_where=text("owner_id IS NOT NULL"),
            postgresql_where=text("owner_id IS NOT NULL"),
        ),
        Index(
            "ix_customer_recycle_unwarned",
            "tier",
            "recycle_clock_at",
            sqlite_where=text(UNWARNED),
            postgresql_where=text(UNWARNED),
        ),
        Index(
            "ix_customer_follow_up_unreminded",
            "next_follow_up_due",
            sqlite_where=text(UNREMINDED),
            postgresql_where=text(UNREMINDED),
        ),
        Index(
            "ix_customer_follow_up_unescalated",
            "next_follow_up_due",
            sqlite_where=text(UNESCALATED),
            postgresql_where=text(UNESCALATED),
        ),
        Index(
            "ix_customer_pending_transfer",
            "pending_transfer_id",
            sqlite_where=text("pending_transfer_id IS NOT NULL"),
            postgresql_where=text("pending_transfer_id IS NOT NULL"),
        ),
        Index("ix_customer_owner_id_id", "owner_id", "id"),
        Index("ix_customer_team_id_id", "team_id", "id"),
        # Customers merged into one (resolvers/merge.py): its history and id redirects.
        Index(
            "ix_customer_merged_into",
            "merged_into_id",
            sqlite_where=text("merged_into_id IS NOT NULL"),
            postgresql_where=text("merged_into_id IS NOT NULL"),
        ),
        # The pools' customers by pool: counted from the index alone (a REP's pool branch,
        # db/customers.count_customers), however many there are.
        Index(
            "ix_customer_pooled",
            "pool_id",
            sqlite_where=text("owner_id IS NULL AND merged_into_id IS NULL"),
            postgresql_where=text("owner_id IS NULL AND merged_into_id IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    name_key: str = Field(max_length=200, index=True)
    industry: str | None = Field(default=None, max_length=80, index=True)
    region: str | None = Field(default=None, max_length=80, index=True)
    size: str | None = Field(default=None, max_length=40)
    tier: str = Field(default="C", max_length=1)
    stage: str = Field(default="LEAD", max_length=16, index=True)
    source: str | None = Field(default=None, max_length=80)
    tags: list[str] = _json()
    tax_id: str | None = Field(default=None, max_length=64)
    deal_value: float | None = None
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = _time(nullable=False)
    updated_at: datetime = _time(nullable=False)
    # Ownership. owner_id NULL means the customer is in the public pool.
    owner_id: int | None = Field(default=None, foreign_key="users.id")
    team_id: int | None = Field(default=None, foreign_key="team.id")
    owner_credit_share: int = 100
    owned_since: datetime | None = _time()
    previous_owner_id: int | None = Field(default=None, foreign_key="users.id")
    pooled_at: datetime | None = _time()
    # Reset by a follow-up and by every change of owner; the recycle job reads it.
    recycle_clock_at: datetime = _time(nullable=False)
    last_follow_up_at: datetime | None = _time()
    next_follow_up_due: datetime | None = _time(index=True)
    # The due time the current owner was last reminded of (db/jobs.remind_due_follow_ups).
    follow_up_reminded_at: datetime | None = _time()
    # The due time whose overdue follow-up was escalated to the owner's manager.
    overdue_escalated_at: datetime | None = _time()
    # When the owner was warned of recycling; a warning not later than the recycle clock
    # belongs to an earlier cycle (db/jobs.warn_before_recycle).
    recycle_warned_at: datetime | None = _time()
    referred_by_partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)
    pending_transfer_id: int | None = Field(default=None, foreign_key="transfer_request.id")
    # Set when this customer was merged into another: the row stays, out of every scope,
    # and its id answers with the kept customer.
    merged_into_id: int | None = Field(default=None, foreign_key="customer.id")
    version: int = 1
    # The pool it sits in (NULL while owned) and since when (the embargo runs from then).
    pool_id: int | None = Field(default=None, foreign_key="pool.id", index=True)
    pool_entered_at: datetime | None = _time()
    # A lock by the owner: never recycled, not released, until unlocked, `locked_until`
    # passes or the owner changes (db/ownership.owner_columns).
    locked_at: datetime | None = _time()
    locked_until: datetime | None = _time()
    lock_reason: str | None = Field(default=None, max_length=2000)
    # No recycling before this (new and newly claimed customers, the pool's protectionDays).
    protected_until: datetime | None = _time()


class CustomerKey(SQLModel, table=True):
    """An exact duplicate key (normalised name, tax id, phone, email domain)."""

    __tablename__ = "customer_key"

    kind: str = Field(primary_key=True, max_length=16)
    value: str = Field(primary_key=True, max_length=200)
    customer_id: int = Field(foreign_key="customer.id", index=True)


class Contact(SQLModel, table=True):
    __tablename__ = "contact"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    name: str = Field(max_length=120)
    title: str | None = Field(default=None, max_length=120)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    is_decision_maker: bool = False


class Collaborator(SQLModel, table=True):
    __tablename__ = "collaborator"
    __table_args__ = (
        Index("ix_collaborator_user_customer", "user_id", "customer_id"),
        # The expiry job (db/jobs.py) reads only collaborators that expire.
        Index(
            "ix_collaborator_expires_at",
            "expires_at",
            sqlite_where=text("expires_at IS NOT NULL"),
            postgresql_where=text("expires_at IS NOT NULL"),
        ),
    )

    customer_id: int = Field(foreign_key="customer.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    role: str = Field(max_length=16)
    credit_share: int
    # READ or WRITE (db.enums.CollaboratorAccess); authz/relations.py reads it.
    access: str = Field(default="WRITE", max_length=8)
    # The scheduler removes the collaborator at this time (db/jobs.py); None: never.
    expires_at: datetime | None = _time()


class PartnerCustomer(SQLModel, table=True):
    """A customer shared with a partner."""

    __tablename__ = "partner_customer"
    __table_args__ = (Index("ix_partner_customer_customer", "customer_id"),)

    partner_id: int = Field(foreign_key="partner.id", primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", primary_key=True)


class FollowUp(SQLModel, table=True):
    __tablename__ = "follow_up"
    __table_args__ = (Index("ix_follow_up_customer_at", "customer_id", "at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    author_id: int = Field(foreign_key="users.id", index=True)
    at: datetime = _time(nullable=False)
    channel: str = Field(max_length=16)
    summary: str = Field(max_length=4000)
    outcome: str | None = Field(default=None, max_length=4000)
    next_follow_up_at: datetime | None = _time()


class OwnershipEvent(SQLModel, table=True):
    """Append-only. `id` is monotonic and doubles as the subscription cursor."""

    __tablename__ = "ownership_event"
    __table_args__ = (
        Index("ix_event_customer_id", "customer_id", "id"),
        # Daily claim limits: a user's claims from a pool since local midnight.
        Index("ix_event_actor_kind_at", "actor_id", "kind", "at"),
        # A person's losses (authz.relations._last_loss): their latest per customer.
        Index("ix_event_from_user", "from_user_id", "customer_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    kind: str = Field(max_length=24)
    from_user_id: int | None = Field(default=None, foreign_key="users.id")
    to_user_id: int | None = Field(default=None, foreign_key="users.id")
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    # The owner's team after the event, so subscribers can filter by team.
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    rule: str | None = Field(default=None, max_length=120)
    reason: str | None = Field(default=None, max_length=2000)
    at: datetime = _time(nullable=False, index=True)
    # The pool the event concerns: entered (RELEASED, RECYCLED, POOL_MOVED, CREATED in the
    # pool) or left (CLAIMED, ASSIGNED from it); daily claim limits count by it.
    pool_id: int | None = Field(default=None, foreign_key="pool.id")
    # Why it went to a pool (settings.release_reason_codes), for RELEASED and RECYCLED.
    reason_code: str | None = Field(default=None, max_length=40)
    # Whatever replay needs beyond from/to: collaborator and credit changes.
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Reminder(SQLModel, table=True):
    __tablename__ = "reminder"
    __table_args__ = (
        Index("ix_reminder_user_status", "user_id", "status", "due_at"),
        Index("ix_reminder_status_due", "status", "due_at"),
        Index("ix_reminder_kind_ref", "kind", "ref_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    kind: str = Field(max_length=24)
    due_at: datetime = _time(nullable=False)
    status: str = Field(default="PENDING", max_length=16)
    message: str = Field(max_length=500)
    # What the reader's language fills into the kind's text (resolvers/reminders.py);
    # `message` is its English rendering, kept for reminders written without params.
    params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The transfer or dispute a reminder is about, when it is about one.
    ref_id: int | None = None
    created_at: datetime = _time(nullable=False)
    fired_at: datetime | None = _time()


class TransferRequest(SQLModel, table=True):
    __tablename__ = "transfer_request"

    id: int | None = Field(default=None, primary_key=True)
    from_user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    to_user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    requested_by_id: int = Field(foreign_key="users.id")
    kind: str = Field(max_length=24)
    reason: str = Field(max_length=2000)
    status: str = Field(default="PENDING", max_length=16, index=True)
    created_at: datetime = _time(nullable=False)
    decided_at: datetime | None = _time()
    # When it executes, the old owner stays on as a collaborator in this role (None: they
    # are removed) with this access.
    keep_previous_owner_as: str | None = Field(default=None, max_length=16)
    keep_previous_owner_access: str = Field(default="READ", max_length=8)


class TransferItem(SQLModel, table=True):
    __tablename__ = "transfer_item"

    transfer_id: int = Field(foreign_key="transfer_request.id", primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", primary_key=True, index=True)


class Approval(SQLModel, table=True):
    __tablename__ = "approval"
    __table_args__ = (UniqueConstraint("transfer_id", "approver_id"),)

    id: int | None = Field(default=None, primary_key=True)
    transfer_id: int = Field(foreign_key="transfer_request.id", index=True)
    approver_id: int = Field(foreign_key="users.id", index=True)
    approved: bool | None = None
    note: str | None = Field(default=None, max_length=2000)
    decided_at: datetime | None = _time()


class DisputeChange(SQLModel, table=True):
    """One row per change of a dispute, in commit order: the cursor of disputeUpdated."""

    __tablename__ = "dispute_change"

    id: int | None = Field(default=None, primary_key=True)
    dispute_id: int = Field(foreign_key="dispute.id", index=True)
    at: datetime = _time(nullable=False)


class Dispute(SQLModel, table=True):
    __tablename__ = "dispute"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    claimant_id: int = Field(foreign_key="users.id", index=True)
    respondent_id: int | None = Field(default=None, foreign_key="users.id")
    arbiter_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    reason: str = Field(max_length=2000)
    status: str = Field(default="OPEN", max_length=16, index=True)
    evidence: list[str] = _json()
    rule: str | None = Field(default=None, max_length=120)
    awarded_to_id: int | None = Field(default=None, foreign_key="users.id")
    credit_split: list[dict[str, int]] = _json()
    resolved_by_id: int | None = Field(default=None, foreign_key="users.id")
    note: str | None = Field(default=None, max_length=2000)
    opened_at: datetime = _time(nullable=False)
    resolved_at: datetime | None = _time()


class ApiToken(SQLModel, table=True):
    """A bearer token. Only its SHA-256 is stored; the JWT itself is shown once."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)
    scopes: list[str] = _json()
    created_at: datetime = _time(nullable=False)
    expires_at: datetime | None = _time()
    last_used_at: datetime | None = _time()
    revoked_at: datetime | None = _time()


class AuditEntry(SQLModel, table=True):
    """Append-only: a trigger refuses UPDATE and DELETE (migration 0004)."""

    __tablename__ = "audit_entry"
    # auditLog filters by action, newest first.
    __table_args__ = (Index("ix_audit_entry_action_id", "action", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _time(nullable=False, index=True)
    actor_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    partner_id: int | None = Field(default=None, foreign_key="partner.id")
    action: str = Field(max_length=40)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AssignmentRule(SQLModel, table=True):
    """One line of the ordered assignment rule list; empty matchers match anything."""

    __tablename__ = "assignment_rule"

    id: int | None = Field(default=None, primary_key=True)
    position: int = Field(index=True)
    name: str = Field(max_length=120)
    region: str | None = Field(default=None, max_length=80)
    industry: str | None = Field(default=None, max_length=80)
    tier: str | None = Field(default=None, max_length=1)
    source: str | None = Field(default=None, max_length=80)
    strategy: str = Field(max_length=24)
    user_id: int | None = Field(default=None, foreign_key="users.id")
    team_id: int | None = Field(default=None, foreign_key="team.id")
    # Round-robin position: the last user this rule assigned to.
    last_user_id: int | None = Field(default=None, foreign_key="users.id")
    # Only people whose regions / industries include the customer's (resolvers/assignment.py).
    by_region: bool = Field(default=False)
    by_industry: bool = Field(default=False)
    # May give a rep's own entry (assignByRules) to someone outside the rep's team.
    cross_team: bool = Field(default=False)


class ExportRequest(SQLModel, table=True):
    """A CSV export waiting for, or given, approval. The filter is kept as the client sent
    it and applied again at download time, under the requester's scope of that moment."""

    __tablename__ = "export_request"
    __table_args__ = (Index("ix_export_request_status_id", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    requested_by_id: int = Field(foreign_key="users.id", index=True)
    filter: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    fields: list[str] = _json()
    reason: str = Field(max_length=2000)
    row_count: int
    # PENDING, APPROVED or REJECTED; EXPIRED is APPROVED past `expires_at`, read as such.
    status: str = Field(default="PENDING", max_length=16)
    decided_by_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    decided_at: datetime | None = _time()
    note: str | None = Field(default=None, max_length=2000)
    expires_at: datetime | None = _time()
    created_at: datetime = _time(nullable=False)


class PersistedQuery(SQLModel, table=True):
    """A GraphQL document known by the SHA-256 of its text (Apollo's persisted queries):
    registered by a client at run time, or loaded from a client build's manifest."""

    __tablename__ = "persisted_query"

    sha256: str = Field(primary_key=True, max_length=64)
    body: str
    # The operation's name in a manifest, when it gave one.
    name: str | None = Field(default=None, max_length=200)
    # "registered" (sent by a client) or "manifest" (`ownergraph persisted-queries load`).
    source: str = Field(max_length=16)
    created_at: datetime = _time(nullable=False)
