"""Disputes over who owns a customer (DESIGN.md rule 6).

Opening one gathers the evidence and tries the rules of `settings.dispute_priority`; the
first that decides settles it at once (AUTO_RESOLVED), otherwise it escalates to the
respondent's team manager or an ARBITER, who resolves it and may split the credit. Every
step is published on the "disputes" channel; every change of owner or collaborators writes
exactly one DISPUTE_RESOLVED event in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, false, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from authz.fields import STAFF
from authz.relations import LOSSES
from db.customers import ScopedRow, customers_by_ids
from db.enums import DisputeStatus, EventKind, ReminderKind, ReminderStatus, Role
from db.models import Customer, Dispute, OwnershipEvent, Reminder, Team, User
from db.ownership import OPEN_REMINDERS, UNDECIDED, announce_disputes
from kernel.errors import Conflict, CooldownActive, Forbidden, NotFound, Validation
from kernel.messages import N_
from resolvers import validation
from resolvers.access import audit
from resolvers.awards import award_customer, parse_split, user_id_of
from resolvers.context import Context
from resolvers.evidence import decide, gather_evidence
from resolvers.ids import parse_id


def _party(ctx: Context, dispute: Any) -> ColumnElement[bool]:
    """The caller is a party to `dispute` (the model or an alias of it)."""
    me = ctx.plan.principal.user_id
    if me is None:
        return false()
    return or_(col(dispute.claimant_id) == me, col(dispute.respondent_id) == me)


def require_staff(ctx: Context) -> None:
    """Disputes are between staff and name them (a claimant is never null), and their
    evidence reads like the people's history: not for a partner token (DESIGN.md)."""
    if not ctx.plan.may(STAFF, "read"):
        raise Forbidden(N_("Disputes are between staff: a partner token may not read them."))


def is_party(ctx: Context, dispute: Dispute) -> bool:
    me = ctx.plan.principal.user_id
    return me is not None and me in (dispute.claimant_id, dispute.respondent_id)


def concerns(ctx: Context, dispute: Dispute) -> bool:
    """The caller is a party or its arbiter: entitled to the customer's minimal view once
    the dispute ended (their relation to it ends with it)."""
    me = ctx.plan.principal.user_id
    return is_party(ctx, dispute) or (me is not None and me == dispute.arbiter_id)


async def list_disputes(
    ctx: Context, *, status: str | None, first: int, after_id: int | None
) -> tuple[list[Dispute], bool]:
    """Disputes about customers the caller may see, and their own (the outcome stays theirs
    to read once the customer is not), newest first."""
    require_staff(ctx)
    # Aliased: the claimant and arbiter relations look into `dispute` themselves, and must
    # not correlate with the rows listed here.
    listed = aliased(Dispute)
    stmt = (
        select(listed)
        .join(Customer, col(Customer.id) == col(listed.customer_id))
        .where(or_(ctx.plan.customer_scope(), _party(ctx, listed)))
    )
    if status is not None:
        stmt = stmt.where(col(listed.status) == str(status))
    if after_id is not None:
        stmt = stmt.where(col(listed.id) < after_id)
    stmt = stmt.order_by(col(listed.id).desc()).limit(first + 1)
    rows = list((await (await ctx.session()).execute(stmt)).scalars())
    return rows[:first], len(rows) > first


async def get_dispute(ctx: Context, dispute_id: object) -> Dispute:
    """A dispute whose customer the caller may see; NOT_FOUND otherwise."""
    dispute, _ = await _visible(ctx, await ctx.session(), dispute_id, lock=False)
    return dispute


async def open_dispute(ctx: Context, customer_id: object, reason: str) -> Dispute:
    """Claim a customer someone else owns. The caller needs a dispute right to it (policy
    `customer, dispute`: one they can see, one a DUPLICATE_CUSTOMER answer just named to
    them, one they lost lately); without one it answers as a missing id. The rules may
    settle it at once."""
    plan = ctx.plan
    plan.require("customer", "dispute")
    claimant_id = plan.principal.user_id
    if claimant_id is None:
        raise Forbidden(N_("Disputes are opened by people, not partner tokens."))
    reason = validation.reason(reason)
    now = ctx.now()
    async with ctx.transaction() as session:
        found = await customers_by_ids(
            session,
            [parse_id(customer_id)],
            scope=plan.customer_scope("dispute"),
            mask=plan.relation_mask(),
            lock=True,
        )
        if not found:
            raise NotFound("customer", customer_id)
        customer = next(iter(found.values())).customer
        assert customer.id is not None
        if customer.owner_id is None:
            raise Validation(N_("This customer is in the public pool: claim it instead."))
        if customer.owner_id == claimant_id:
            raise Validation(N_("You own this customer already."))
        await _check_cooldown(ctx, session, customer.id, claimant_id, now)
        existing = await session.scalar(
            select(col(Dispute.id)).where(
                col(Dispute.customer_id) == customer.id,
                col(Dispute.claimant_id) == claimant_id,
                col(Dispute.status).in_(UNDECIDED),
            )
        )
        if existing is not None:
            raise Conflict(
                N_("You already have an open dispute over this customer."), disputeId=str(existing)
            )
        claimant = await session.get(User, claimant_id)
        respondent = await session.get(User, customer.owner_id)
        assert claimant is not None and respondent is not None
        evidence = await gather_evidence(
            session,
            customer=customer,
            claimant=claimant,
            respondent=respondent,
            now=now,
            recent_days=ctx.settings.dispute_recent_days,
        )
        lines = evidence.lines()
        dispute = Dispute(
            customer_id=customer.id,
            claimant_id=claimant_id,
            respondent_id=respondent.id,
            reason=reason,
            status=DisputeStatus.OPEN,
            evidence=lines,
            opened_at=now,
        )
        session.add(dispute)
        await session.flush()
        assert dispute.id is not None
        verdict = decide(evidence, ctx.settings.dispute_priority)
        if verdict is not None:
            winner = verdict.winner.user_id
            split = await award_customer(
                session,
                customer,
                dispute,
                winner,
                None,
                actor_id=None,
                rule=verdict.rule,
                reason=f"Dispute {dispute.id}: {reason}",
                now=now,
            )
            dispute.status = DisputeStatus.AUTO_RESOLVED
            dispute.rule = verdict.rule
            dispute.awarded_to_id = winner
            dispute.credit_split = split
            dispute.resolved_at = now
            dispute.evidence = [*lines, f"Decided by rule {verdict.rule}: {verdict.why}"]
        else:
            arbiter = await choose_arbiter(session, respondent, claimant_id)
            dispute.status = DisputeStatus.ESCALATED
            dispute.arbiter_id = arbiter.id if arbiter else None
            tried = ", ".join(ctx.settings.dispute_priority) or "none configured"
            to = arbiter.name if arbiter else "whoever may arbitrate"
            dispute.evidence = [*lines, f"No rule decides ({tried}): escalated to {to}."]
            if arbiter is not None:
                session.add(
                    Reminder(
                        user_id=arbiter.id or 0,
                        customer_id=customer.id,
                        kind=ReminderKind.DISPUTE_ASSIGNED,
                        due_at=now,
                        message=f"Dispute over {customer.name}: {claimant.name} claims, "
                        f"{respondent.name} owns.",
                        params={
                            "customer": customer.name,
                            "claimant": claimant.name,
                            "respondent": respondent.name,
                        },
                        ref_id=dispute.id,
                        created_at=now,
                    )
                )
        audit(ctx, session, "dispute.open", customer.id, dispute=dispute.id, status=dispute.status)
        await session.flush()
        await announce_disputes(session, [(dispute.id or 0, customer.id or 0)], now)
    return dispute


async def _check_cooldown(
    ctx: Context, session: AsyncSession, customer_id: int, claimant_id: int, now: datetime
) -> None:
    """A dispute does not undo the pool's rules: whoever gave a customer up waits out the
    reclaim cooldown, whoever holds it now. (Reached only when the caller sees the customer
    through another relation; the history-reading dispute rights exclude this already.)"""
    last = (
        await session.execute(
            select(col(OwnershipEvent.kind), col(OwnershipEvent.at))
            .where(
                col(OwnershipEvent.customer_id) == customer_id,
                col(OwnershipEvent.from_user_id) == claimant_id,
                col(OwnershipEvent.kind).in_(LOSSES),
            )
            .order_by(col(OwnershipEvent.id).desc())
            .limit(1)
        )
    ).first()
    if last is None or last.kind != EventKind.RELEASED:
        return
    until = last.at + timedelta(days=ctx.settings.reclaim_cooldown_days)
    if now < until:
        day = until.date().isoformat()
        raise CooldownActive(
            N_(
                "You released this customer on {value}; you may not dispute it before {day}.",
                value=last.at.date().isoformat(),
                day=day,
            ),
            until=day,
        )


async def choose_arbiter(session: AsyncSession, respondent: User, claimant_id: int) -> User | None:
    """The respondent's team manager, unless a party to the dispute; else the first ARBITER."""
    parties = {claimant_id, respondent.id}
    if respondent.team_id is not None:
        team = await session.get(Team, respondent.team_id)
        if team is not None and team.manager_id is not None and team.manager_id not in parties:
            manager = await session.get(User, team.manager_id)
            if manager is not None and manager.active:
                return manager
    return await session.scalar(
        select(User)
        .where(
            col(User.role) == Role.ARBITER, col(User.active).is_(True), col(User.id).not_in(parties)
        )
        .order_by(col(User.id))
        .limit(1)
    )


async def resolve_dispute(
    ctx: Context,
    dispute_id: object,
    award_to_user_id: object,
    credit_split: list[dict[str, Any]] | None = None,
    note: str | None = None,
) -> Dispute:
    """The arbiter's award. Two arbiters at once: the first wins, the other gets CONFLICT."""
    plan = ctx.plan
    actor_id = plan.principal.user_id
    winner = user_id_of(award_to_user_id, "awardToUserId")
    if credit_split is not None:
        validation.within(credit_split, ctx.settings.max_collaborators + 1, "creditSplit")
    shares = parse_split(credit_split, winner)
    note = validation.text(note, "note", required=False)
    now = ctx.now()
    async with ctx.transaction() as session:
        # Customer row first (locked), then the dispute row: the order every writer uses.
        dispute, scoped = await _visible(ctx, session, dispute_id, lock=True)
        customer = scoped.customer
        if actor_id in (dispute.claimant_id, dispute.respondent_id):
            raise Forbidden(N_("A party to a dispute cannot resolve it."))
        if dispute.arbiter_id != actor_id and not plan.allows(
            "customer", "arbitrate", scoped.relations
        ):
            raise Forbidden(N_("Only the assigned arbiter or a manager above it may resolve this."))
        if winner not in (dispute.claimant_id, dispute.respondent_id):
            raise Validation(
                N_("Award the customer to the claimant or the respondent."), field="awardToUserId"
            )
        await _settle(
            session,
            dispute,
            DisputeStatus.RESOLVED,
            awarded_to_id=winner,
            resolved_by_id=actor_id,
            note=note,
            resolved_at=now,
        )
        if customer.owner_id != dispute.respondent_id:
            raise Conflict(
                N_(
                    "The customer changed hands since this dispute was opened; the claimant "
                    "may withdraw it and dispute the new owner."
                )
            )
        split = await award_customer(
            session,
            customer,
            dispute,
            winner,
            shares,
            actor_id=actor_id,
            rule="arbitration",
            reason=note or f"Dispute {dispute.id}: {dispute.reason}",
            now=now,
        )
        dispute.credit_split = split
        await _close_reminders(session, dispute, acknowledged_by=actor_id)
        audit(ctx, session, "dispute.resolve", customer.id, dispute=dispute.id, awarded_to=winner)
        await session.flush()
        await announce_disputes(session, [(dispute.id or 0, customer.id or 0)], now)
    return dispute


async def withdraw_dispute(ctx: Context, dispute_id: object) -> Dispute:
    """The claimant gives up. Nothing changes hands."""
    now = ctx.now()
    async with ctx.transaction() as session:
        dispute, _ = await _visible(ctx, session, dispute_id, lock=True)
        if dispute.claimant_id != ctx.plan.principal.user_id:
            raise Forbidden(N_("Only the claimant may withdraw a dispute."))
        await _settle(session, dispute, DisputeStatus.WITHDRAWN, resolved_at=now)
        await _close_reminders(session, dispute, acknowledged_by=None)
        audit(ctx, session, "dispute.withdraw", dispute.customer_id, dispute=dispute.id)
        await session.flush()
        await announce_disputes(session, [(dispute.id or 0, dispute.customer_id)], now)
    return dispute


async def _visible(
    ctx: Context, session: AsyncSession, dispute_id: object, *, lock: bool
) -> tuple[Dispute, ScopedRow]:
    """A dispute is as visible as its customer, or to its parties and arbiter (a settled one
    then answers CONFLICT, not as missing): NOT_FOUND exactly like a missing id otherwise.
    (A party's relation bits to the customer stay as they are.)"""
    plan = ctx.plan
    ident = parse_id(dispute_id, "dispute")
    dispute = await session.get(Dispute, ident)
    if dispute is None:
        raise NotFound("dispute", dispute_id)
    found = await customers_by_ids(
        session,
        [dispute.customer_id],
        scope=true() if concerns(ctx, dispute) else plan.customer_scope(),
        mask=plan.relation_mask(),
        lock=lock,
    )
    if dispute.customer_id not in found:
        raise NotFound("dispute", dispute_id)
    return dispute, found[dispute.customer_id]


async def _settle(session: AsyncSession, dispute: Dispute, status: str, **values: Any) -> None:
    """Move an undecided dispute to `status`: a conditional UPDATE, so of two concurrent
    settlements exactly one matches and the other gets CONFLICT."""
    result = await session.execute(
        update(Dispute)
        .where(col(Dispute.id) == dispute.id, col(Dispute.status).in_(UNDECIDED))
        .values(status=status, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(dispute)
        state = dispute.status.lower().replace("_", " ")
        raise Conflict(N_("This dispute is {state} already.", state=state), status=dispute.status)
    await session.refresh(dispute)


async def _close_reminders(
    session: AsyncSession, dispute: Dispute, *, acknowledged_by: int | None
) -> None:
    """The arbiter's DISPUTE_ASSIGNED reminder is done: acknowledged by the one who resolved
    it, cancelled for anyone else."""
    status: Any = ReminderStatus.CANCELLED
    if acknowledged_by is not None:
        status = case(
            (col(Reminder.user_id) == acknowledged_by, ReminderStatus.ACKNOWLEDGED),
            else_=ReminderStatus.CANCELLED,
        )
    await session.execute(
        update(Reminder)
        .where(
            col(Reminder.kind) == ReminderKind.DISPUTE_ASSIGNED,
            col(Reminder.ref_id) == dispute.id,
            col(Reminder.status).in_(OPEN_REMINDERS),
        )
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
