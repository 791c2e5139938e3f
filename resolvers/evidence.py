"""Dispute evidence: what the system recorded about the two sides of a dispute, as facts the
rules read and as sentences people read; and the rules, tried in the order of
`settings.dispute_priority`.

Evidence is names, dates and counts only: never a deal value, tax id or contact, since the
claimant and the arbiter may not see a customer's sensitive fields.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import EventKind, Stage
from db.models import AuditEntry, Customer, FollowUp, OwnershipEvent, User
from resolvers.assignment import WON_ACTION

HISTORY_SHOWN = 8


@dataclass(frozen=True)
class Side:
    user_id: int
    name: str
    label: str  # "claimant" or "respondent"
    follow_ups: int = 0
    latest_follow_up: datetime | None = None

    @property
    def who(self) -> str:
        return f"{self.name} ({self.label})"


@dataclass(frozen=True)
class Evidence:
    claimant: Side
    respondent: Side
    created_by_id: int | None
    created_by_name: str | None
    created_at: datetime
    stage: str
    # Whoever owned the customer when it last became ACTIVE, from the record of that
    # moment (the win, or the lifecycle handoff it caused), never from who owns it now;
    # `closed_at` None: no such record, and it was entered ACTIVE with a deal value.
    closer_id: int | None
    closed_at: datetime | None
    history: tuple[str, ...]
    event_count: int
    now: datetime
    recent_days: int

    @property
    def sides(self) -> tuple[Side, Side]:
        return (self.claimant, self.respondent)

    def creators(self) -> list[Side]:
        return [s for s in self.sides if s.user_id == self.created_by_id]

    def closers(self) -> list[Side]:
        """The side that owned it when the deal closed, if either did."""
        return [s for s in self.sides if s.user_id == self.closer_id]

    def recent_since(self) -> datetime:
        return self.now - timedelta(days=self.recent_days)

    def recent_followers(self) -> list[Side]:
        since = self.recent_since()
        return [s for s in self.sides if s.latest_follow_up and s.latest_follow_up >= since]

    def lines(self) -> list[str]:
        """The evidence as people read it, one fact per line."""
        return [
            self._first_entry_line(),
            "Follow-ups: "
            + "; ".join(
                f"by {s.who}: {s.follow_ups}"
                + (f" (latest {_day(s.latest_follow_up)})" if s.latest_follow_up else "")
                for s in self.sides
            )
            + ".",
            self._deal_line(),
            f"Ownership history ({_plural(self.event_count, 'event')}"
            + (f", last {len(self.history)} shown" if self.event_count > len(self.history) else "")
            + "): "
            + ("; ".join(self.history) or "none")
            + ".",
        ]

    def _first_entry_line(self) -> str:
        when = _day(self.created_at)
        if creators := self.creators():
            return f"First entry: {creators[0].who} created it on {when}."
        if self.created_by_name:
            return f"First entry: neither party (created by {self.created_by_name} on {when})."
        return f"First entry: neither party (imported on {when})."

    def _deal_line(self) -> str:
        if closers := self.closers():
            if self.closed_at is None:
                return f"Closed deal: {closers[0].who} owned it when it was entered ACTIVE."
            return (
                f"Closed deal: {closers[0].who} owned it when it became ACTIVE "
                f"on {_day(self.closed_at)}."
            )
        if self.closer_id is not None or self.stage == Stage.ACTIVE:
            return "Closed deal: neither party owned it when the deal closed."
        return f"Closed deal: none (stage {self.stage})."


@dataclass(frozen=True)
class Verdict:
    rule: str
    winner: Side
    why: str


Finding = tuple[Side, str]
Rule = Callable[[Evidence], Finding | None]


def first_entry(e: Evidence) -> Finding | None:
    creators = e.creators()
    if len(creators) == 1:
        return creators[0], f"{creators[0].name} entered it first, on {_day(e.created_at)}."
    return None


def closed_deal(e: Evidence) -> Finding | None:
    closers = e.closers()
    if len(closers) == 1:
        return closers[0], f"{closers[0].name} owned it when the deal closed."
    return None


def recent_follow_up(e: Evidence) -> Finding | None:
    recent = e.recent_followers()
    if len(recent) == 1:
        side = recent[0]
        return side, (
            f"only {side.name} followed up in the last {e.recent_days} days "
            f"(on {_day(side.latest_follow_up)})."
        )
    return None


RULES: dict[str, Rule] = {
    "first_entry": first_entry,
    "closed_deal": closed_deal,
    "recent_follow_up": recent_follow_up,
}


def decide(evidence: Evidence, priority: Sequence[str]) -> Verdict | None:
    """The first rule in `priority` that decides, or None: the dispute escalates."""
    for name in priority:
        rule = RULES.get(name)
        if rule is None:
            raise ValueError(f"Unknown dispute rule {name!r}; known rules: {', '.join(RULES)}.")
        if (found := rule(evidence)) is not None:
            return Verdict(name, *found)
    return None


async def gather_evidence(
    session: AsyncSession,
    *,
    customer: Customer,
    claimant: User,
    respondent: User,
    now: datetime,
    recent_days: int,
) -> Evidence:
    """Read what the system recorded about the customer and both sides: five to seven
    statements."""
    assert customer.id is not None and claimant.id is not None and respondent.id is not None
    parties = [claimant.id, respondent.id]
    follow_ups = {
        author: (int(count), latest)
        for author, count, latest in (
            await session.execute(
                select(col(FollowUp.author_id), func.count(), func.max(col(FollowUp.at)))
                .where(
                    col(FollowUp.customer_id) == customer.id, col(FollowUp.author_id).in_(parties)
                )
                .group_by(col(FollowUp.author_id))
            )
        ).all()
    }
    event_count = int(
        await session.scalar(
            select(func.count())
            .select_from(OwnershipEvent)
            .where(col(OwnershipEvent.customer_id) == customer.id)
        )
        or 0
    )
    recent = list(
        (
            await session.execute(
                select(OwnershipEvent)
                .where(col(OwnershipEvent.customer_id) == customer.id)
                .order_by(col(OwnershipEvent.id).desc())
                .limit(HISTORY_SHOWN)
            )
        ).scalars()
    )[::-1]
    closer_id, closed_at = await _closer(session, customer)
    names = {claimant.id: claimant.name, respondent.id: respondent.name}
    wanted = {i for e in recent for i in (e.from_user_id, e.to_user_id) if i is not None}
    if customer.created_by_id is not None:
        wanted.add(customer.created_by_id)
    if wanted - names.keys():
        names.update(
            (i, name)
            for i, name in await session.execute(
                select(col(User.id), col(User.name)).where(col(User.id).in_(wanted - names.keys()))
            )
            if i is not None
        )

    def side(user: User, label: str) -> Side:
        count, latest = follow_ups.get(user.id or 0, (0, None))
        return Side(user.id or 0, user.name, label, count, latest)

    return Evidence(
        claimant=side(claimant, "claimant"),
        respondent=side(respondent, "respondent"),
        created_by_id=customer.created_by_id,
        created_by_name=names.get(customer.created_by_id or 0),
        created_at=customer.created_at,
        stage=str(customer.stage),
        closer_id=closer_id,
        closed_at=closed_at,
        history=tuple(_history_item(e, names) for e in recent),
        event_count=event_count,
        now=now,
        recent_days=recent_days,
    )


async def _closer(session: AsyncSession, customer: Customer) -> tuple[int | None, datetime | None]:
    """Who owned the customer the last time it became ACTIVE, and when: the win recorded
    at that moment names its owner then, as does a lifecycle handoff it caused. With
    neither on record (imported or entered ACTIVE), whoever it was entered for, if it is
    ACTIVE with a deal value."""
    assert customer.id is not None
    won = (
        await session.execute(
            select(col(AuditEntry.at), col(AuditEntry.detail))
            .where(col(AuditEntry.customer_id) == customer.id, col(AuditEntry.action) == WON_ACTION)
            .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
            .limit(1)
        )
    ).first()
    handoff = (
        await session.execute(
            select(col(OwnershipEvent.at), col(OwnershipEvent.from_user_id))
            .where(
                col(OwnershipEvent.customer_id) == customer.id,
                col(OwnershipEvent.kind) == EventKind.STAGE_HANDOFF,
            )
            .order_by(col(OwnershipEvent.id).desc())
            .limit(1)
        )
    ).first()
    if won is not None and (handoff is None or won.at >= handoff.at):
        owner = (won.detail or {}).get("owner_id")
        return (int(owner) if owner is not None else None), won.at
    if handoff is not None:
        return handoff.from_user_id, handoff.at
    if customer.stage != Stage.ACTIVE or not customer.deal_value:
        return None, None
    entered = await session.scalar(
        select(col(OwnershipEvent.to_user_id))
        .where(
            col(OwnershipEvent.customer_id) == customer.id,
            col(OwnershipEvent.kind) == EventKind.CREATED,
        )
        .order_by(col(OwnershipEvent.id))
        .limit(1)
    )
    return entered, None


def _history_item(event: OwnershipEvent, names: dict[int, str]) -> str:
    """ "2026-05-02 claimed: pool → Alice Wang (pool_claim)"."""

    def who(user_id: int | None) -> str:
        return "pool" if user_id is None else names.get(user_id, "a former user")

    text = f"{_day(event.at)} {event.kind.lower().replace('_', ' ')}"
    if event.kind != EventKind.CREATED or event.to_user_id is not None:
        text += f": {who(event.from_user_id)} → {who(event.to_user_id)}"
    return text + (f" ({event.rule})" if event.rule else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _day(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d}" if at else "never"
