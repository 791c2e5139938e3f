"""Ownership events: append-only, one per change of owner or collaborators, written in
the transaction that makes the change."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import OwnershipEvent
from db.outbox import queue_message

OWNERSHIP_CHANNEL = "ownership"
_LOCKED = "event_order_locked"


async def lock_event_order(session: AsyncSession) -> None:
    """Make event ids commit in the order they were drawn.

    Subscribers read events after a cursor; on PostgreSQL a later id could otherwise
    commit before an earlier one and be skipped. SQLite writers are serial already.
    """
    if session.info.get(_LOCKED) or session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(text("SELECT pg_advisory_xact_lock(7301)"))
    session.info[_LOCKED] = True


async def record_event(
    session: AsyncSession,
    *,
    customer_id: int,
    kind: str,
    at: datetime,
    from_user_id: int | None = None,
    to_user_id: int | None = None,
    actor_id: int | None = None,
    team_id: int | None = None,
    rule: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    pool_id: int | None = None,
    reason_code: str | None = None,
) -> OwnershipEvent:
    await lock_event_order(session)
    event = OwnershipEvent(
        customer_id=customer_id,
        kind=kind,
        at=at,
        from_user_id=from_user_id,
        to_user_id=to_user_id,
        actor_id=actor_id,
        team_id=team_id,
        rule=rule,
        reason=reason,
        details=details or {},
        pool_id=pool_id,
        reason_code=reason_code,
    )
    session.add(event)
    await session.flush()
    queue_message(
        session,
        OWNERSHIP_CHANNEL,
        {"id": event.id, "customer_id": customer_id, "team_id": team_id},
    )
    return event


# Kinds whose `to_user_id` is the owner afterwards (None: the pool).
OWNER_KINDS = frozenset(
    {
        "CREATED",
        "ASSIGNED",
        "CLAIMED",
        "RELEASED",
        "RECYCLED",
        "TRANSFERRED",
        "DISPUTE_RESOLVED",
        "STAGE_HANDOFF",
    }
)


@dataclass
class OwnershipState:
    owner_id: int | None = None
    owner_credit_share: int = 100
    # user id -> (role, credit share)
    collaborators: dict[int, tuple[str, int]] = field(default_factory=dict)
    # The pool it sits in (None while owned) and whether its owner locked it.
    pool_id: int | None = None
    locked: bool = False


def replay(events: Iterable[OwnershipEvent]) -> OwnershipState:
    """A customer's owner and collaborators, rebuilt from its events alone (oldest first).

    The conventions every writer of events follows: an owner-changing event names the new
    owner in `to_user_id`, who stops being a collaborator if they were one; `details` may
    say `owner_credit_share` (the share after the event), a `collaborator_added` or
    `collaborator_removed` ({user_id, role, credit_share}), or the full `collaborators`
    list; COLLABORATOR_ADDED/REMOVED carry their collaborator at the top of `details`.
    An event leaving the customer in a pool (owner None) names that pool in `pool_id`;
    POOL_MOVED names the pool it moved to; LOCKED and UNLOCKED lock and unlock it (a
    lock's own expiry is a matter of time, not of events).
    """
    state = OwnershipState()
    for event in events:
        d = event.details or {}
        if event.kind in OWNER_KINDS:
            state.owner_id = event.to_user_id
            state.locked = False  # a lock ends with the ownership it was taken under
            state.pool_id = event.pool_id if event.to_user_id is None else None
            if event.to_user_id is not None:
                state.collaborators.pop(event.to_user_id, None)
        if event.kind == "POOL_MOVED":
            state.pool_id = event.pool_id
        elif event.kind == "LOCKED":
            state.locked = True
        elif event.kind == "UNLOCKED":
            state.locked = False
        if event.kind == "COLLABORATOR_ADDED":
            state.collaborators[int(d["user_id"])] = (d["role"], int(d["credit_share"]))
        elif event.kind == "COLLABORATOR_REMOVED":
            state.collaborators.pop(int(d["user_id"]), None)
        if removed := d.get("collaborator_removed"):
            state.collaborators.pop(int(removed["user_id"]), None)
        if added := d.get("collaborator_added"):
            state.collaborators[int(added["user_id"])] = (added["role"], int(added["credit_share"]))
        if "collaborators" in d:
            state.collaborators = {
                int(c["user_id"]): (c["role"], int(c["credit_share"])) for c in d["collaborators"]
            }
        if "owner_credit_share" in d:
            state.owner_credit_share = int(d["owner_credit_share"])
    return state
