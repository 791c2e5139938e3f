"""Lifecycle ownership (DESIGN.md rule 5): what happens when a customer becomes ACTIVE.

Always: the win is recorded (an audit entry the weighted assignment strategy counts).
With `settings.handoff_on_active`: primary ownership moves to a member of
`settings.handoff_team`, chosen by `settings.handoff_strategy`; the rep who won it stays
as a collaborator (DEVELOPER if they entered it, else CLOSER) keeping their credit share.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import CollaboratorRole, EventKind
from db.events import record_event
from db.models import Collaborator, Customer, Team
from db.ownership import after_owner_change, owner_columns
from resolvers.access import audit
from resolvers.assignment import WON_ACTION, pick_in_team
from resolvers.context import Context

HANDOFF_RULE = "lifecycle_handoff"
log = logging.getLogger("ownergraph.lifecycle")


async def on_became_active(ctx: Context, session: AsyncSession, customer_id: int) -> None:
    """Called by resolvers/customers.update_customer inside its transaction, after the
    stage changed to ACTIVE (and the version was bumped there)."""
    customer = (
        await session.execute(
            select(Customer)
            .where(col(Customer.id) == customer_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    audit(
        ctx, session, WON_ACTION, customer_id, owner_id=customer.owner_id, team_id=customer.team_id
    )
    settings = ctx.settings
    if not settings.handoff_on_active or not settings.handoff_team or customer.owner_id is None:
        return
    team = (
        await session.execute(select(Team).where(col(Team.name) == settings.handoff_team))
    ).scalar_one_or_none()
    if team is None or team.id is None:
        log.warning("handoff team %r does not exist; no handoff", settings.handoff_team)
        return
    if customer.team_id == team.id:
        return  # already with the service team
    now = ctx.now()
    successor = await pick_in_team(session, settings.handoff_strategy, team.id, now=now)
    if successor is None or successor.id is None or successor.id == customer.owner_id:
        log.warning("nobody in %s has room; %s stays with its owner", team.name, customer_id)
        return
    details = await _hand_over(session, customer, successor.id, team.id, now)
    await record_event(
        session,
        customer_id=customer_id,
        kind=EventKind.STAGE_HANDOFF,
        at=now,
        from_user_id=customer.owner_id,
        to_user_id=successor.id,
        actor_id=ctx.user_id,
        team_id=team.id,
        rule=HANDOFF_RULE,
        reason=f"Became ACTIVE; handed to {team.name}.",
        details=details,
    )


async def _hand_over(
    session: AsyncSession, customer: Customer, successor_id: int, team_id: int, now: Any
) -> dict[str, Any]:
    """Move ownership; the old owner becomes a collaborator with the owner's credit share,
    and a successor who was a collaborator gives that role up, keeping their share as
    owner. Shares keep summing to 100."""
    assert customer.id is not None and customer.owner_id is not None
    previous, share = customer.owner_id, customer.owner_credit_share
    rows = {
        c.user_id: c
        for c in (
            await session.execute(
                select(Collaborator)
                .where(
                    col(Collaborator.customer_id) == customer.id,
                    col(Collaborator.user_id).in_([previous, successor_id]),
                )
                .execution_options(populate_existing=True)
            )
        ).scalars()
    }
    details: dict[str, Any] = {}
    successor_share = 0
    if (joined := rows.get(successor_id)) is not None:
        successor_share = joined.credit_share
        details["collaborator_removed"] = {
            "user_id": successor_id,
            "role": joined.role,
            "credit_share": joined.credit_share,
        }
        await session.execute(
            delete(Collaborator).where(
                col(Collaborator.customer_id) == customer.id,
                col(Collaborator.user_id) == successor_id,
            )
        )
    role = (
        CollaboratorRole.DEVELOPER
        if previous == customer.created_by_id
        else CollaboratorRole.CLOSER
    )
    if (kept := rows.get(previous)) is not None:  # owner and collaborator both: merge
        kept.credit_share += share
        role = CollaboratorRole(kept.role)
    else:
        session.add(
            Collaborator(customer_id=customer.id, user_id=previous, role=role, credit_share=share)
        )
    details["collaborator_added"] = {
        "user_id": previous,
        "role": str(role),
        "credit_share": kept.credit_share if kept is not None else share,
    }
    details["owner_credit_share"] = successor_share
    await session.execute(
        update(Customer)
        .where(col(Customer.id) == customer.id)
        .values(
            **owner_columns(successor_id, team_id, now, previous=previous),
            owner_credit_share=successor_share,
        )
        .execution_options(synchronize_session=False)
    )
    # The winner stays on as collaborator; the owner's reminders go to the successor.
    await after_owner_change(session, [customer.id], now)
    await session.flush()
    return details
