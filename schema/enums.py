"""The contract's enums, exposed from the domain's own (db.enums).

`strawberry.enum` registers a class in place and returns it, so the names exported here
are the domain classes themselves and serve as annotations.
"""

from __future__ import annotations

from typing import TypeAlias

import strawberry

from db.enums import (
    CollaboratorAccess,
    CollaboratorRole,
    DisputeStatus,
    EventKind,
    FollowUpChannel,
    ReminderKind,
    ReminderStatus,
    Role,
    Stage,
    Tier,
    TransferKind,
    TransferStatus,
)

strawberry.enum(Role)
strawberry.enum(Tier)
strawberry.enum(Stage)
strawberry.enum(CollaboratorRole)
strawberry.enum(CollaboratorAccess)
strawberry.enum(FollowUpChannel)
strawberry.enum(EventKind, name="OwnershipEventKind")
strawberry.enum(TransferKind)
strawberry.enum(TransferStatus)
strawberry.enum(DisputeStatus)
strawberry.enum(ReminderKind)
strawberry.enum(ReminderStatus)

OwnershipEventKind: TypeAlias = EventKind
