"""The contract's enums, exposed from the domain's own (db.enums)."""

from __future__ import annotations

import strawberry

from db import enums

Role = strawberry.enum(enums.Role)
Tier = strawberry.enum(enums.Tier)
Stage = strawberry.enum(enums.Stage)
CollaboratorRole = strawberry.enum(enums.CollaboratorRole)
FollowUpChannel = strawberry.enum(enums.FollowUpChannel)
OwnershipEventKind = strawberry.enum(enums.EventKind, name="OwnershipEventKind")
TransferKind = strawberry.enum(enums.TransferKind)
TransferStatus = strawberry.enum(enums.TransferStatus)
DisputeStatus = strawberry.enum(enums.DisputeStatus)
ReminderKind = strawberry.enum(enums.ReminderKind)
ReminderStatus = strawberry.enum(enums.ReminderStatus)
