"""Merging duplicates: several customers become one, in one transaction.

Follow-ups, contacts (deduplicated by phone and email), collaborators (credit shares
recomputed to 100), reminders, disputes, partner shares and duplicate keys move to the
kept customer. The merged rows stay, with `merged_into_id` set: out of every row scope
(authz/plan.py), their ids answer with the kept customer (resolvers/loaders.py), and
their ownership events, which are append-only, read as part of the kept customer's
history. One MERGED event per merged customer, on the kept customer, carries the kept
customer's collaborators and owner share afterwards, so replaying its events alone
reproduces them (db/events.replay).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from db.customers import ScopedRow, customers_by_ids
from db.enums import CollaboratorAccess, CollaboratorRole, EventKind, ReminderStatus
from db.events import record_event
from db.keys import phone_key
from db.models import (
    Collaborator,
    Contact,
    Customer,
    CustomerKey,
    Dispute,
    FollowUp,
    PartnerCustomer,
    Reminder,
    TransferItem,
    TransferRequest,
)
from db.ownership import (
    OPEN_REMINDERS,
    OWNER_REMINDERS,
    _withdraw_disputes,
    announce_disputes,
    cancel_transfers,
)
from kernel.errors import Forbidden, NotFound, Validation
from kernel.messages import N_
from resolvers import validation
from resolvers.access import audit, get_customer
from resolvers.context import Context
from resolvers.ids import parse_id


@dataclass
class Share:
    role: str
    percent: int
    access: str = CollaboratorAccess.WRITE
    expires_at: datetime | None = None


def combined_shares(
    keep: Customer, merged: list[Customer], collaborators: dict[int, list[Collaborator]]
) -> tuple[int, dict[int, Share]]:
    """The kept owner's share and the collaborators after the merge: every credit each
    person held on any of the customers, summed per person and scaled back to 100. A
    merged customer's owner joins as a DEVELOPER (they developed that record); a pooled
    one's share goes to the kept owner."""
    assert keep.owner_id is not None
    owner_total = keep.owner_credit_share
    people: dict[int, Share] = {}

    def credit(user_id: int | None, share: Share) -> None:
        nonlocal owner_total
        if user_id is None or user_id == keep.owner_id:
            owner_total += share.percent
        elif user_id in people:
            people[user_id].percent += share.percent
        else:
            people[user_id] = share

    for c in collaborators.get(keep.id or 0, []):
        credit(c.user_id, Share(c.role, c.credit_share, c.access, c.expires_at))
    for m in merged:
        credit(m.owner_id, Share(CollaboratorRole.DEVELOPER, m.owner_credit_share))
        for c in collaborators.get(m.id or 0, []):
            credit(c.user_id, Share(c.role, c.credit_share, c.access, c.expires_at))
    total = owner_total + sum(s.percent for s in people.values())
    for share in people.values():
        share.percent = share.percent * 100 // total
    return 100 - sum(s.percent for s in people.values()), people


async def merge_customers(
    ctx: Context, keep_id: object, merge_ids: list[object], reason: str
) -> ScopedRow:
    plan = ctx.plan
    plan.require("customer", "merge")
    reason = validation.reason(reason)
    keep_ident = parse_id(keep_id)
    idents = list(
        dict.fromkeys(
            parse_id(i)
            for i in validation.within(merge_ids, ctx.settings.max_transfer_customers, "mergeIds")
        )
    )
    if not idents:
        raise Validation(N_("Name at least one customer to merge."), field="mergeIds")
    if keep_ident in idents:
        raise Validation(N_("The kept customer cannot be merged into itself."), field="mergeIds")
    now = ctx.now()
    async with ctx.transaction() as session:
        found = await customers_by_ids(
            session,
            sorted([keep_ident, *idents]),
            scope=plan.customer_scope(),
            mask=plan.relation_mask(),
            lock=True,
        )
        given = dict(zip([keep_ident, *idents], [keep_id, *merge_ids], strict=False))
        for ident in [keep_ident, *idents]:
            if ident not in found:
                raise NotFound("customer", given.get(ident, ident))
            if not plan.allows("customer", "merge", found[ident].relations):
                raise Forbidden(N_("You may not merge this customer."))
        keep = found[keep_ident].customer
        merged = [found[i].customer for i in sorted(idents)]
        if keep.owner_id is None and any(m.owner_id is not None for m in merged):
            raise Validation(
                N_("Keep an owned customer: a pooled one cannot absorb an owned one."),
                field="keepId",
            )
        await _merge(ctx, session, keep, merged, reason, now)
    return await get_customer(ctx, keep_ident)


async def _merge(
    ctx: Context,
    session: AsyncSession,
    keep: Customer,
    merged: list[Customer],
    reason: str,
    now: datetime,
) -> None:
    assert keep.id is not None
    ids = [m.id for m in merged if m.id is not None]
    everyone = [keep.id, *ids]
    # Their pending transfers can no longer execute as asked.
    await cancel_transfers(
        session,
        col(TransferRequest.id).in_(
            select(col(TransferItem.transfer_id)).where(col(TransferItem.customer_id).in_(ids))
        ),
        now,
    )
    await _contacts(ctx, session, keep.id, ids)
    moved_disputes = [
        int(d)
        for d in (
            await session.execute(select(col(Dispute.id)).where(col(Dispute.customer_id).in_(ids)))
        ).scalars()
        if d is not None
    ]
    for model in (FollowUp, Reminder, Dispute, CustomerKey):
        await session.execute(
            update(model)
            .where(col(model.customer_id).in_(ids))
            .values(customer_id=keep.id)
            .execution_options(synchronize_session=False)
        )
    await _partners(session, keep.id, ids)
    # Reminders that came with owning a merged customer are not the kept owner's.
    await session.execute(
        update(Reminder)
        .where(
            col(Reminder.customer_id) == keep.id,
            col(Reminder.kind).in_(OWNER_REMINDERS),
            col(Reminder.status).in_(OPEN_REMINDERS),
            col(Reminder.user_id).is_distinct_from(keep.owner_id),
        )
        .values(status=ReminderStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    # Disputes against a merged customer's owner cannot be decided on the kept one.
    await _withdraw_disputes(session, [keep.id], now, None)
    # The disputes that came along now concern the kept customer: `disputeUpdated` says so.
    await announce_disputes(session, [(d, keep.id) for d in moved_disputes], now)

    collaborators: dict[int, list[Collaborator]] = {}
    of_everyone = col(Collaborator.customer_id).in_(everyone)
    for c in (await session.execute(select(Collaborator).where(of_everyone))).scalars():
        collaborators.setdefault(c.customer_id, []).append(c)
    await session.execute(delete(Collaborator).where(of_everyone))
    owner_share, people = keep.owner_credit_share, dict[int, Share]()
    if keep.owner_id is not None:
        owner_share, people = combined_shares(keep, merged, collaborators)
    else:  # everything pooled: nobody's credit to combine
        people = {
            c.user_id: Share(c.role, c.credit_share, c.access, c.expires_at)
            for c in collaborators.get(keep.id, [])
        }
    if people:
        # Core rows: the deleted ones are still in the session's identity map.
        await session.execute(
            insert(Collaborator),
            [
                {
                    "customer_id": keep.id,
                    "user_id": uid,
                    "role": s.role,
                    "credit_share": s.percent,
                    "access": s.access,
                    "expires_at": s.expires_at,
                }
                for uid, s in sorted(people.items())
            ],
        )

    latest = max(
        (m.last_follow_up_at for m in [keep, *merged] if m.last_follow_up_at), default=None
    )
    await session.execute(
        update(Customer)
        .where(col(Customer.id) == keep.id)
        .values(
            owner_credit_share=owner_share,
            last_follow_up_at=latest,
            recycle_clock_at=max(m.recycle_clock_at for m in [keep, *merged]),
            version=keep.version + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    # Customers merged earlier into the merged ones now point at the kept one directly.
    await session.execute(
        update(Customer)
        .where(col(Customer.merged_into_id).in_(ids))
        .values(merged_into_id=keep.id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Customer)
        .where(col(Customer.id).in_(ids))
        .values(
            merged_into_id=keep.id,
            owner_id=None,
            team_id=None,
            owned_since=None,
            # In no pool and under no lock: a merged row is nobody's and nowhere.
            pool_id=None,
            pool_entered_at=None,
            locked_at=None,
            locked_until=None,
            lock_reason=None,
            protected_until=None,
            owner_credit_share=100,
            pending_transfer_id=None,
            version=Customer.version + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    details: dict[str, Any] = {
        "owner_credit_share": owner_share,
        "collaborators": [
            {"user_id": uid, "role": s.role, "credit_share": s.percent, "access": s.access}
            for uid, s in sorted(people.items())
        ],
    }
    for m in merged:
        await record_event(
            session,
            customer_id=keep.id,
            kind=EventKind.MERGED,
            at=now,
            from_user_id=m.owner_id,
            to_user_id=keep.owner_id,
            actor_id=ctx.user_id,
            team_id=keep.team_id,
            reason=reason,
            details={"merged_customer_id": m.id, "merged_name": m.name, **details},
        )
    audit(ctx, session, "customer.merge", keep.id, merged=ids, reason=reason)


async def _contacts(ctx: Context, session: AsyncSession, keep_id: int, ids: list[int]) -> None:
    """Merged contacts move unless the kept customer already has their phone or email."""
    region = ctx.settings.phone_region
    rows = (
        await session.execute(
            select(Contact)
            .where(col(Contact.customer_id).in_([keep_id, *ids]))
            .order_by(col(Contact.customer_id) != keep_id, col(Contact.id))
        )
    ).scalars()
    seen: set[tuple[str, str]] = set()
    moved: list[int] = []
    dropped: list[int] = []
    for contact in rows:
        keys = set()
        if contact.phone:
            keys.add(("phone", phone_key(contact.phone, region)))
        if contact.email:
            keys.add(("email", contact.email.strip().casefold()))
        if contact.customer_id != keep_id:
            assert contact.id is not None
            (dropped if keys & seen else moved).append(contact.id)
        seen |= keys
    if dropped:
        await session.execute(delete(Contact).where(col(Contact.id).in_(dropped)))
    if moved:
        await session.execute(
            update(Contact)
            .where(col(Contact.id).in_(moved))
            .values(customer_id=keep_id)
            .execution_options(synchronize_session=False)
        )


async def _partners(session: AsyncSession, keep_id: int, ids: list[int]) -> None:
    """A partner a merged customer was shared with or referred by sees the kept one."""
    shared = aliased(PartnerCustomer)
    partners = (
        select(col(PartnerCustomer.partner_id))
        .where(col(PartnerCustomer.customer_id).in_(ids))
        .union(
            select(col(Customer.referred_by_partner_id)).where(
                col(Customer.id).in_(ids), col(Customer.referred_by_partner_id).is_not(None)
            )
        )
    )
    wanted = {p for p in (await session.execute(partners)).scalars() if p is not None} - set(
        (
            await session.execute(
                select(col(shared.partner_id)).where(col(shared.customer_id) == keep_id)
            )
        ).scalars()
    )
    await session.execute(delete(PartnerCustomer).where(col(PartnerCustomer.customer_id).in_(ids)))
    if wanted:
        await session.execute(
            insert(PartnerCustomer),
            [{"partner_id": p, "customer_id": keep_id} for p in sorted(wanted)],
        )
