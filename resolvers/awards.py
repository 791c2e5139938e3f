"""Applying a dispute's award: the winner becomes (or stays) the owner, an optional credit
split makes the other party a collaborator, and exactly one DISPUTE_RESOLVED event records
whatever changed, with what replay needs (owner share and the full collaborator set)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import CollaboratorRole, EventKind
from db.events import record_event
from db.models import Collaborator, Customer, Dispute, User
from db.ownership import after_owner_change, owner_columns
from kernel.errors import NotFound, Validation, VersionConflict
from kernel.messages import N_
from resolvers.ids import parse_id

MAX_REASON = 2000


@dataclass(frozen=True)
class Share:
    user_id: int
    percent: int


async def award_customer(
    session: AsyncSession,
    customer: Customer,
    dispute: Dispute,
    winner: int,
    shares: list[Share] | None,
    *,
    actor_id: int | None,
    rule: str,
    reason: str,
    now: datetime,
) -> list[dict[str, int]]:
    """Give the customer to `winner`, with the credit split if one is given; write the one
    event when owner or collaborators change. Returns the credit split to record."""
    assert customer.id is not None
    rows = {
        c.user_id: c
        for c in (
            await session.execute(
                select(Collaborator).where(col(Collaborator.customer_id) == customer.id)
            )
        ).scalars()
    }
    before = {uid: (c.role, c.credit_share) for uid, c in rows.items()}
    parties = {dispute.claimant_id, dispute.respondent_id}
    owner_share, after = credit_after(
        customer.owner_id, customer.owner_credit_share, before, winner, shares, parties
    )
    recorded = (
        [{"user_id": s.user_id, "percent": s.percent} for s in shares]
        if shares is not None
        else [{"user_id": winner, "percent": owner_share}]
    )
    moves = winner != customer.owner_id
    if not moves and owner_share == customer.owner_credit_share and after == before:
        return recorded  # nothing changed hands: no event
    for uid, row in rows.items():
        if uid not in after:
            await session.delete(row)
        elif after[uid] != before[uid]:
            row.role, row.credit_share = after[uid]
    session.add_all(
        Collaborator(customer_id=customer.id, user_id=uid, role=role, credit_share=share)
        for uid, (role, share) in after.items()
        if uid not in rows
    )
    await session.flush()
    values: dict[str, Any] = {
        "owner_credit_share": owner_share,
        "version": customer.version + 1,
        "updated_at": now,
    }
    team_id = customer.team_id
    if moves:
        new_owner = await session.get(User, winner)
        if new_owner is None or not new_owner.active:
            raise Validation(N_("The awarded user is no longer active."), field="awardToUserId")
        team_id = new_owner.team_id
        values.update(owner_columns(winner, team_id, now, previous=customer.owner_id))
    result = await session.execute(
        update(Customer)
        .where(col(Customer.id) == customer.id, col(Customer.version) == customer.version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise VersionConflict(N_("The customer changed while the dispute was being decided."))
    if moves:
        await after_owner_change(session, [customer.id], now, except_dispute_id=dispute.id)
    await record_event(
        session,
        customer_id=customer.id,
        kind=EventKind.DISPUTE_RESOLVED,
        at=now,
        from_user_id=customer.owner_id,
        to_user_id=winner,
        actor_id=actor_id,
        team_id=team_id,
        rule=rule,
        reason=reason[:MAX_REASON],
        details={
            "dispute_id": dispute.id,
            "owner_credit_share": owner_share,
            "credit_split": recorded,
            "collaborators": [
                {"user_id": uid, "role": str(role), "credit_share": share}
                for uid, (role, share) in sorted(after.items())
            ],
        },
    )
    return recorded


Credit = dict[int, tuple[str, int]]  # collaborator id -> (role, share)


def credit_after(
    owner_id: int | None,
    owner_share: int,
    before: Credit,
    winner: int,
    shares: list[Share] | None,
    parties: set[int | None],
) -> tuple[int, Credit]:
    """Owner share and collaborators once `winner` owns the customer. The winner takes the
    owner's place (a collaborator's own share folding into it); a split then sets the shares
    of those it names, and must leave owner plus collaborators at exactly 100."""
    after = dict(before)
    if winner != owner_id and winner in after:
        owner_share += after.pop(winner)[1]
    if shares is None:
        return owner_share, after
    if any(s.user_id not in parties and s.user_id not in before for s in shares):
        raise Validation(
            N_("A credit split names the parties and the customer's collaborators only."),
            field="creditSplit",
        )
    after.pop(winner, None)
    for s in shares:
        if s.user_id == winner:
            owner_share = s.percent
        else:
            role = after.get(s.user_id, (CollaboratorRole.DEVELOPER, 0))[0]
            after[s.user_id] = (role, s.percent)
    total = owner_share + sum(share for _, share in after.values())
    if total != 100:
        raise Validation(
            N_(
                "Owner and collaborators would hold {total}%, not 100%, of the credit. Name "
                "every collaborator who holds credit in the split.",
                total=total,
            ),
            field="creditSplit",
        )
    return owner_share, after


def parse_split(raw: list[dict[str, Any]] | None, winner: int) -> list[Share] | None:
    if raw is None:
        return None
    shares = [Share(user_id_of(s.get("user_id"), "creditSplit"), int(s["percent"])) for s in raw]
    if len({s.user_id for s in shares}) != len(shares):
        raise Validation(N_("Name each person once in the credit split."), field="creditSplit")
    if any(not 0 < s.percent <= 100 for s in shares):
        raise Validation(N_("Credit shares are whole percents from 1 to 100."), field="creditSplit")
    if sum(s.percent for s in shares) != 100:
        raise Validation(N_("The credit split must add up to 100."), field="creditSplit")
    if winner not in {s.user_id for s in shares}:
        raise Validation(N_("The credit split must include the awarded user."), field="creditSplit")
    return shares


def user_id_of(value: object, field: str) -> int:
    try:
        return parse_id(value, "user")
    except NotFound:
        raise Validation(N_("{value!r} is not a user id.", value=value), field=field) from None
