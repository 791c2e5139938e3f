"""Transfer requests between owners, with their approvals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Approval, TransferItem, TransferRequest, User
from ownergraph.errors import Forbidden
from resolvers.context import Context


@dataclass(frozen=True)
class Transfer:
    request: TransferRequest
    customer_ids: list[int]
    approvals: list[Approval]


async def load_transfers(session: AsyncSession, requests: list[TransferRequest]) -> list[Transfer]:
    ids = [r.id for r in requests]
    items: dict[int, list[int]] = defaultdict(list)
    approvals: dict[int, list[Approval]] = defaultdict(list)
    if ids:
        for item in (
            await session.execute(
                select(TransferItem)
                .where(TransferItem.transfer_id.in_(ids))
                .order_by(TransferItem.customer_id)
            )
        ).scalars():
            items[item.transfer_id].append(item.customer_id)
        for approval in (
            await session.execute(
                select(Approval).where(Approval.transfer_id.in_(ids)).order_by(Approval.id)
            )
        ).scalars():
            approvals[approval.transfer_id].append(approval)
    return [Transfer(r, items[r.id or 0], approvals[r.id or 0]) for r in requests]


async def list_transfers(ctx: Context, status: str | None = None) -> list[Transfer]:
    """Requests the caller is party to (asked, gives, receives, approves), and for managers
    those touching their teams."""
    plan = ctx.plan
    principal = plan.principal
    if principal.user_id is None:
        raise Forbidden("Partner tokens cannot see transfer requests.")
    stmt = select(TransferRequest)
    teams = plan.team_ids_for("customer", "read")
    if teams is not None:
        uid = principal.user_id
        approver = select(Approval.transfer_id).where(Approval.approver_id == uid)
        in_teams = select(User.id).where(User.team_id.in_(sorted(teams)))
        stmt = stmt.where(
            or_(
                TransferRequest.requested_by_id == uid,
                TransferRequest.from_user_id == uid,
                TransferRequest.to_user_id == uid,
                TransferRequest.id.in_(approver),
                TransferRequest.from_user_id.in_(in_teams),
                TransferRequest.to_user_id.in_(in_teams),
            )
        )
    if status is not None:
        stmt = stmt.where(TransferRequest.status == str(status))
    session = await ctx.session()
    rows = list(
        (await session.execute(stmt.order_by(TransferRequest.id.desc()).limit(200))).scalars()
    )
    return await load_transfers(session, rows)
