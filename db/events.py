"""Ownership events: append-only, one per change of owner or collaborators, written in
the transaction that makes the change."""

from __future__ import annotations

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
    if session.info.get(_LOCKED) or session.bind.dialect.name != "postgresql":
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
    )
    session.add(event)
    await session.flush()
    queue_message(
        session,
        OWNERSHIP_CHANNEL,
        {"id": event.id, "customer_id": customer_id, "team_id": team_id},
    )
    return event
