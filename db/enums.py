"""The domain's closed vocabularies, stored as strings."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "ADMIN"
    DIRECTOR = "DIRECTOR"
    MANAGER = "MANAGER"
    REP = "REP"
    SERVICE = "SERVICE"
    AUDITOR = "AUDITOR"
    ARBITER = "ARBITER"
    PARTNER = "PARTNER"


class Tier(StrEnum):
    A = "A"
    B = "B"
    C = "C"


class Stage(StrEnum):
    LEAD = "LEAD"
    NEW = "NEW"
    ACTIVE = "ACTIVE"
    DORMANT = "DORMANT"
    LOST = "LOST"


class CollaboratorRole(StrEnum):
    DEVELOPER = "DEVELOPER"
    CLOSER = "CLOSER"
    SERVICE = "SERVICE"
    SUPPORT = "SUPPORT"


class CollaboratorAccess(StrEnum):
    READ = "READ"  # sees the customer and its contacts
    WRITE = "WRITE"  # also logs follow-ups and edits


class FollowUpChannel(StrEnum):
    CALL = "CALL"
    VISIT = "VISIT"
    EMAIL = "EMAIL"
    MESSAGE = "MESSAGE"
    MEETING = "MEETING"


class EventKind(StrEnum):
    CREATED = "CREATED"
    ASSIGNED = "ASSIGNED"
    CLAIMED = "CLAIMED"
    RELEASED = "RELEASED"
    RECYCLED = "RECYCLED"
    TRANSFERRED = "TRANSFERRED"
    DISPUTE_RESOLVED = "DISPUTE_RESOLVED"
    STAGE_HANDOFF = "STAGE_HANDOFF"
    COLLABORATOR_ADDED = "COLLABORATOR_ADDED"
    COLLABORATOR_REMOVED = "COLLABORATOR_REMOVED"
    # Between pools, by a pool admin (db/pools.py); locks by the owner.
    POOL_MOVED = "POOL_MOVED"
    LOCKED = "LOCKED"
    UNLOCKED = "UNLOCKED"
    MERGED = "MERGED"  # on the kept customer, one per customer merged into it


class TransferKind(StrEnum):
    REASSIGNMENT = "REASSIGNMENT"
    REFERRAL = "REFERRAL"
    CUSTOMER_REQUEST = "CUSTOMER_REQUEST"
    DEPARTURE = "DEPARTURE"


class TransferStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


class DisputeStatus(StrEnum):
    OPEN = "OPEN"
    AUTO_RESOLVED = "AUTO_RESOLVED"
    ESCALATED = "ESCALATED"
    RESOLVED = "RESOLVED"
    WITHDRAWN = "WITHDRAWN"


class ReminderKind(StrEnum):
    FOLLOW_UP_DUE = "FOLLOW_UP_DUE"
    CADENCE_DUE = "CADENCE_DUE"
    RECYCLE_WARNING = "RECYCLE_WARNING"
    TRANSFER_APPROVAL = "TRANSFER_APPROVAL"
    DISPUTE_ASSIGNED = "DISPUTE_ASSIGNED"
    # To the owner's manager: a due follow-up stayed undone (db/escalation.py).
    OVERDUE_ESCALATION = "OVERDUE_ESCALATION"


class ReminderStatus(StrEnum):
    PENDING = "PENDING"
    FIRED = "FIRED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    SNOOZED = "SNOOZED"
    CANCELLED = "CANCELLED"


class KeyKind(StrEnum):
    """Exact duplicate keys of a customer; each (kind, value) belongs to one customer."""

    NAME = "name"
    TAX_ID = "taxId"
    PHONE = "phone"
    EMAIL_DOMAIN = "emailDomain"


class ExportStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"  # never stored: an APPROVED export past its expiry reads as this
