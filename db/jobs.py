"""The background jobs as set-based SQL.

Each job is a constant number of statements however many customers or reminders it
touches: INSERT ... SELECT and UPDATE ... WHERE, never a statement per row, over at most
`limit` rows, so no transaction holds the write lock for long at a million customers.
They run in the caller's write transaction; ownergraph/scheduler.py runs them on a timer,
batch after batch, each in its own transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.engine import Database
from db.enums import EventKind, ReminderKind, ReminderStatus
from db.events import OWNERSHIP_CHANNEL, lock_event_order
from db.models import Collaborator, Customer, FollowUp, OwnershipEvent, Reminder, User
from db.outbox import queue_message
from db.ownership import after_owner_change
from db.pools import (
    Pools,
    could_be_due,
    could_be_due_branches,
    pool_of_team,
    recycle_due,
    to_ms,
)
from db.setsql import json_object as _json_object
from db.types import UTCDateTime

REMINDERS_CHANNEL = "reminders"
RECYCLE_RULE = "recycle_days"
RECYCLE_REASON_CODE = "overdue"
JOB_LOCK = 7302
OPEN = (ReminderStatus.PENDING, ReminderStatus.SNOOZED)
FOLLOW_UP_KINDS = (ReminderKind.FOLLOW_UP_DUE, ReminderKind.CADENCE_DUE)


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _at(value: datetime) -> ColumnElement[Any]:
    return literal(value, UTCDateTime())


async def refresh_statistics(db: Database) -> None:
    """Re-read the sizes the planner works from, after a run that changed many rows (a
    recycle backlog): stale ones turn the jobs' anti-joins into nested loops over the
    whole reminder table on PostgreSQL, and on SQLite, which plans from sqlite_stat1,
    statistics taken while the reminder table was small make every change of owner scan
    it (two UPDATEs of 30 ms each at 225,000 reminders). On PostgreSQL also VACUUM: the
    rows the run changed are no longer all-visible, so counts answered from an index (a
    REP's pool, db/customers.py) would read the table again until autovacuum came by."""
    await db.vacuum_analyze("customer", "reminder", "ownership_event")


async def take_job_lock(session: AsyncSession) -> bool:
    """False when another worker is running the jobs right now (PostgreSQL); SQLite's
    write transactions are serial already."""
    if not _postgres(session):
        return True
    # And no parallel workers in the job's transaction: the jobs read what is due through
    # partial indexes, a handful of rows, but the planner's statistics count the pool's
    # old recycle clocks too, expect ~50,000 rows and start two workers, which cost more
    # (~15 ms a statement at 1M, an idle tick's three reads) than the reads themselves.
    locked = await session.execute(
        text(
            f"SELECT pg_try_advisory_xact_lock({JOB_LOCK}), "
            "set_config('max_parallel_workers_per_gather', '0', true)"
        )
    )
    return bool(locked.scalar_one())


def _owned(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    # A customer waiting on a transfer decision stays where it is until it is decided.
    return and_(
        col(Customer.owner_id).is_not(None),
        col(Customer.pending_transfer_id).is_(None),
        *conditions,
    )


def unreminded() -> ColumnElement[bool]:
    """The owner has no follow-up reminder for the customer's current due time (the
    condition of the partial index ix_customer_follow_up_unreminded, word for word)."""
    reminded = col(Customer.follow_up_reminded_at)
    return or_(reminded.is_(None), reminded < col(Customer.next_follow_up_due))


def _due(pools: Pools, now: datetime, session: AsyncSession, *, ahead: bool = False) -> Any:
    """Owned customers the one rule of db/pools.recycle_due says are due by now (`ahead`:
    whose warning is due), not waiting on a transfer decision; the index-friendly
    `could_be_due` first, so each run reads only the candidates."""
    due = recycle_due(pools, _postgres(session), ahead=ahead)
    return due, and_(_owned(could_be_due(pools, _horizon(pools, now, ahead))), due.at <= to_ms(now))


def _horizon(pools: Pools, now: datetime, ahead: bool) -> datetime:
    return now + (_longest_warning(pools) if ahead else timedelta(0))


def _pick_due(
    pools: Pools,
    now: datetime,
    session: AsyncSession,
    *extra: ColumnElement[bool],
    ahead: bool = False,
    limit: int,
) -> tuple[Any, ColumnElement[bool], Any]:
    """`_due` (the rule and its condition), and a pick of up to `limit` ids of the
    customers it finds (and `extra`), None when nothing can be due. On SQLite the pick is
    a UNION of one SELECT per range of `could_be_due`: its planner, at a million rows,
    reads an OR of ranges under a LIMIT as a scan of the table (0.5 s an idle tick), each
    range alone from its partial index. PostgreSQL reads the OR as a BitmapOr of the
    ranges, and planning the UNION (the due time's expression once per range) costs 7 ms."""
    due, cond = _due(pools, now, session, ahead=ahead)
    if _postgres(session):
        return due, cond, select(col(Customer.id)).where(cond, *extra).limit(limit)
    branches = could_be_due_branches(pools, _horizon(pools, now, ahead))
    if not branches:
        return due, cond, None
    is_due = due.at <= to_ms(now)
    ranges = [select(col(Customer.id)).where(_owned(b), is_due, *extra) for b in branches]
    return due, cond, select(union(*ranges).subquery().c.id).limit(limit)


def _longest_warning(pools: Pools) -> timedelta:
    return timedelta(days=max((p.rules.warn_days_before for p in pools.by_id.values()), default=0))


async def recycle(session: AsyncSession, *, now: datetime, pools: Pools, limit: int) -> int:
    """Up to `limit` owned customers due by their pool's rules go to the pool of their
    owner's team, one RECYCLED event each (reason code `overdue`); one outbox message
    carries the highest new event id. The scheduler calls it again, in a new transaction,
    while a whole batch was due. Locked customers never go, nor protected ones before
    their protection ends: the rule says so."""
    due, cond, pick = _pick_due(pools, now, session, limit=limit)
    if pick is None:
        return 0
    ids = [int(i) for i in (await session.execute(pick)).scalars() if i is not None]
    return await pool_customers(
        session, ids, now=now, rule=RECYCLE_RULE, reason=due.reason, still_due=cond
    )


def _unlocked(now: datetime) -> ColumnElement[bool]:
    """No lock holds the customer now (none, or one whose expiry has passed)."""
    return or_(
        col(Customer.locked_at).is_(None),
        and_(col(Customer.locked_until).is_not(None), col(Customer.locked_until) <= now),
    )


async def pool_customers(
    session: AsyncSession,
    ids: list[int],
    *,
    now: datetime,
    rule: str,
    reason: ColumnElement[Any],
    still_due: ColumnElement[bool],
    reason_code: str = RECYCLE_REASON_CODE,
) -> int:
    """The customers `ids` that are owned, unlocked and still meet `still_due` go to the
    pool of their owner's team, one RECYCLED event each recording `rule`, `reason` and
    `reason_code`; the path of every job that pools customers."""
    still_due = _owned(still_due, _unlocked(now))
    if ids:
        # Keep those still due; on PostgreSQL hold the rows, so no follow-up or claim slips
        # in between the statements below. Rows before the event-order lock, as every
        # writer takes them: no deadlock.
        held = select(col(Customer.id)).where(col(Customer.id).in_(ids), still_due)
        if _postgres(session):
            held = held.with_for_update(key_share=True)
        ids = [int(i) for i in (await session.execute(held)).scalars() if i is not None]
    if not ids:
        return 0
    await lock_event_order(session)
    batch = col(Customer.id).in_(ids)
    target = pool_of_team(col(Customer.team_id))
    await session.execute(
        insert(OwnershipEvent).from_select(
            [
                "customer_id",
                "kind",
                "from_user_id",
                "rule",
                "reason",
                "at",
                "details",
                "pool_id",
                "reason_code",
            ],
            select(
                col(Customer.id),
                literal(str(EventKind.RECYCLED)),
                col(Customer.owner_id),
                literal(rule),
                reason,
                _at(now),
                _json_object(session, from_team_id=col(Customer.team_id)),
                target,
                literal(reason_code),
            )
            .where(batch)
            .order_by(col(Customer.id)),
        )
    )
    await session.execute(
        update(Customer)
        .where(batch)
        .values(
            previous_owner_id=col(Customer.owner_id),
            owner_id=None,
            team_id=None,
            pool_id=target,
            pool_entered_at=now,
            pooled_at=now,
            recycle_clock_at=now,
            locked_at=None,
            locked_until=None,
            lock_reason=None,
            protected_until=None,
            updated_at=now,
            version=col(Customer.version) + 1,
        )
        .execution_options(synchronize_session=False)
    )
    await after_owner_change(session, ids, now)
    last = await session.scalar(select(func.max(col(OwnershipEvent.id))))
    queue_message(session, OWNERSHIP_CHANNEL, {"id": last})
    return len(ids)


def _day_of(session: AsyncSession, ms: Any) -> ColumnElement[str]:
    """'YYYY-MM-DD' (UTC) of a time in epoch milliseconds."""
    if _postgres(session):
        return func.to_char(func.timezone("UTC", func.to_timestamp(ms / 1000.0)), "YYYY-MM-DD")
    return func.date(ms / 1000.0, "unixepoch")


async def warn_before_recycle(
    session: AsyncSession, *, now: datetime, pools: Pools, limit: int
) -> int:
    """A RECYCLE_WARNING to the owner once the customer is its pool's `warnDaysBefore`
    from recycling, once per recycle-clock cycle (a follow-up or a new owner starts a new
    cycle): a customer is warned in this cycle when `recycle_warned_at` is later than its
    clock."""
    warned = col(Customer.recycle_warned_at)
    # A warning at the very instant the clock restarted belongs to the cycle before.
    unwarned = or_(warned.is_(None), warned <= col(Customer.recycle_clock_at))
    _, _, pick = _pick_due(pools, now, session, unwarned, ahead=True, limit=limit)
    ids = [int(i) for i in (await session.execute(pick)).scalars()] if pick is not None else []
    if not ids:
        return 0
    when = recycle_due(pools, _postgres(session)).at
    message = (
        literal("Follow up with ")
        + col(Customer.name)
        + literal(" before ")
        + _day_of(session, when)
        + literal(" or it returns to the public pool.")
    )
    kind = literal(str(ReminderKind.RECYCLE_WARNING))
    params = _json_object(session, customer=col(Customer.name), date=_day_of(session, when))
    batch = col(Customer.id).in_(ids)
    count = await _remind_owners(session, kind, _at(now), message, batch, now, limit, params)
    await session.execute(
        update(Customer)
        .where(batch)
        .values(recycle_warned_at=now)
        .execution_options(synchronize_session=False)
    )
    return count


async def remind_due_follow_ups(session: AsyncSession, *, now: datetime, limit: int) -> int:
    """One reminder to the owner when a customer's next follow-up falls due: FOLLOW_UP_DUE
    when someone set that time explicitly, CADENCE_DUE when the tier's cadence did.
    Idempotent: `follow_up_reminded_at` records the due time the owner was reminded of
    (a change of owner clears it), so each tick reads only customers not yet reminded."""
    pick = (
        select(col(Customer.id))
        .where(
            col(Customer.owner_id).is_not(None),
            unreminded(),
            col(Customer.next_follow_up_due) <= now,
        )
        # In the partial index's order: it is read, not the table, whatever the estimates.
        .order_by(col(Customer.next_follow_up_due))
        .limit(limit)
    )
    ids = [int(i) for i in (await session.execute(pick)).scalars() if i is not None]
    if not ids:
        return 0
    explicit = exists(
        select(1).where(
            col(FollowUp.customer_id) == col(Customer.id),
            col(FollowUp.next_follow_up_at) == col(Customer.next_follow_up_due),
        )
    )
    kind = case(
        (explicit, literal(str(ReminderKind.FOLLOW_UP_DUE))),
        else_=literal(str(ReminderKind.CADENCE_DUE)),
    )
    message = case(
        (explicit, literal("Follow up with ") + col(Customer.name) + literal(", as planned.")),
        else_=literal("Time for a regular follow-up with ") + col(Customer.name) + literal("."),
    )
    batch = col(Customer.id).in_(ids)
    params = _json_object(session, customer=col(Customer.name))
    count = await _remind_owners(
        session, kind, col(Customer.next_follow_up_due), message, batch, now, limit, params
    )
    await session.execute(
        update(Customer)
        .where(batch)
        .values(follow_up_reminded_at=col(Customer.next_follow_up_due))
        .execution_options(synchronize_session=False)
    )
    return count


async def _remind_owners(
    session: AsyncSession,
    kind: ColumnElement[Any],
    due_at: Any,  # a column or an expression
    message: ColumnElement[Any],
    where: ColumnElement[bool],
    now: datetime,
    limit: int,
    params: ColumnElement[Any],
) -> int:
    """One PENDING reminder to the owner of (up to `limit`) customers matching `where`,
    set-based. Each batch's reminders leave `where`, so the next batch finds the rest."""
    result = await session.execute(
        insert(Reminder).from_select(
            [
                "user_id",
                "customer_id",
                "kind",
                "due_at",
                "status",
                "message",
                "params",
                "created_at",
            ],
            select(
                col(Customer.owner_id),
                col(Customer.id),
                kind,
                due_at,
                literal(str(ReminderStatus.PENDING)),
                message,
                params,
                _at(now),
            )
            .where(where)
            # No ORDER BY: with LIMIT it would walk the table in id order past every row
            # that does not match instead of using the condition's index.
            .limit(limit),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def fire_due_reminders(session: AsyncSession, *, now: datetime, limit: int) -> int:
    """Up to `limit` PENDING and SNOOZED reminders whose time has come become FIRED,
    announced on the reminders channel after commit."""
    due = (
        select(col(Reminder.id))
        .where(col(Reminder.status).in_(OPEN), col(Reminder.due_at) <= now)
        # No ORDER BY: with LIMIT it would walk the reminders in id order.
        .limit(limit)
    )
    # The ids first, then the rows by id: as one UPDATE ... WHERE id IN (SELECT ...),
    # SQLite plans the outer statement from the reminder table's statistics, and with
    # those of a small table (before a backlog run wrote 225,000) scans it (40 ms).
    # The ids are held (PostgreSQL; SQLite's writer is alone), so the UPDATE names nothing
    # but them: given the status again, PostgreSQL read every open reminder by the status
    # index (estimated from the same stale statistics) and compared each with the 2,000
    # ids, 2.7 s a batch.
    if _postgres(session):
        due = due.with_for_update(skip_locked=True)
    ids = [int(i) for i in (await session.execute(due)).scalars() if i is not None]
    if not ids:
        return 0
    fired = (
        await session.execute(
            update(Reminder)
            .where(col(Reminder.id).in_(ids))
            .values(status=ReminderStatus.FIRED, fired_at=now)
            .returning(col(Reminder.id), col(Reminder.user_id))
            .execution_options(synchronize_session=False)
        )
    ).all()
    # Subscribers re-read their user's fired reminders: one wake-up per user will do.
    last: dict[int, int] = {}
    for reminder_id, user_id in fired:
        last[user_id] = max(last.get(user_id, 0), int(reminder_id or 0))
    for user_id in sorted(last):
        queue_message(session, REMINDERS_CHANNEL, {"id": last[user_id], "user_id": user_id})
    return len(fired)


EXPIRY_RULE = "collaborator_expired"


async def remove_expired_collaborators(session: AsyncSession, *, now: datetime, limit: int) -> int:
    """Collaborators whose `expires_at` has come are removed, on up to `limit` customers per
    batch (each has at most `max_collaborators`): one COLLABORATOR_REMOVED event each, in
    customer and user order, whose `owner_credit_share` counts the shares returned so far,
    so replaying the events gives the owner's share; the shares go back to the owner.
    Returns how many collaborators went."""
    expires = col(Collaborator.expires_at)
    pick = (
        select(col(Collaborator.customer_id))
        .where(expires.is_not(None), expires <= now)
        .distinct()
        .limit(limit)
    )
    ids = sorted(int(i) for i in (await session.execute(pick)).scalars())
    if not ids:
        return 0
    if _postgres(session):
        # Customers first, as every writer of collaborators locks them: the expired set
        # cannot change under the statements below.
        await session.execute(
            select(col(Customer.id))
            .where(col(Customer.id).in_(ids))
            .order_by(col(Customer.id))
            .with_for_update(key_share=True)
        )
    await lock_event_order(session)
    expired = and_(col(Collaborator.customer_id).in_(ids), expires <= now)
    returned = func.sum(col(Collaborator.credit_share)).over(
        partition_by=col(Collaborator.customer_id), order_by=col(Collaborator.user_id)
    )
    rows = (
        select(
            col(Collaborator.customer_id),
            col(Collaborator.user_id),
            col(Collaborator.role),
            col(Collaborator.access),
            col(Collaborator.credit_share),
            col(Customer.team_id),
            (col(Customer.owner_credit_share) + returned).label("owner_share"),
            col(User.name),
        )
        .join(Customer, col(Customer.id) == col(Collaborator.customer_id))
        .join(User, col(User.id) == col(Collaborator.user_id))
        .where(expired)
        .subquery()
    )
    reason = (
        rows.c.name
        + literal(" (")
        + rows.c.role
        + literal(", ")
        + rows.c.access
        + literal(", ")
        + cast(rows.c.credit_share, String)
        + literal("%) expired; the share returns to the owner.")
    )
    written = await session.execute(
        insert(OwnershipEvent).from_select(
            ["customer_id", "kind", "team_id", "rule", "reason", "at", "details"],
            select(
                rows.c.customer_id,
                literal(str(EventKind.COLLABORATOR_REMOVED)),
                rows.c.team_id,
                literal(EXPIRY_RULE),
                reason,
                _at(now),
                _json_object(
                    session,
                    user_id=rows.c.user_id,
                    role=rows.c.role,
                    access=rows.c.access,
                    credit_share=rows.c.credit_share,
                    owner_credit_share=rows.c.owner_share,
                ),
            ).order_by(rows.c.customer_id, rows.c.user_id),
        )
    )
    share = (
        select(func.coalesce(func.sum(col(Collaborator.credit_share)), 0))
        .where(col(Collaborator.customer_id) == col(Customer.id), expires <= now)
        .scalar_subquery()
    )
    await session.execute(
        update(Customer)
        .where(col(Customer.id).in_(ids))
        .values(
            owner_credit_share=col(Customer.owner_credit_share) + share,
            version=col(Customer.version) + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(Collaborator).where(expired).execution_options(synchronize_session=False)
    )
    last = await session.scalar(select(func.max(col(OwnershipEvent.id))))
    queue_message(session, OWNERSHIP_CHANNEL, {"id": last})
    return int(written.rowcount or 0)  # type: ignore[attr-defined]
