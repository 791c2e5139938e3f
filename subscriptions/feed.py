"""Ownership events for every live subscriber of a worker, read once per batch.

One `EventFeed` per worker (per bus) reads each new batch of events once, in one short
session, and hands each event to every subscriber that may see it. Visibility is the
same plan as queries: the batch's statement selects each distinct plan's relation mask
(authz.plan.relation_mask, SQL) as a column, and each subscriber's check is then
`plan.allows(...)` on that mask, in memory. So the cost grows with events and distinct
plans, not with subscribers × events; the statement also re-reads the subscribers'
tokens, so a revoked one stops at the next event even when its message was lost. The
batch's customers are read in the same session, once, and each (event, plan) pair gets
one `ScopedRow` shared by every subscriber with that plan (`Follower.customers`), so a
delivery resolves `customer` without a read of its own.

A subscriber whose transport can take a ready-made message (`Direct`: the
graphql-transport-ws frames of schema/live_frames.py) and that is idle is served by the
feed itself: one subscriber per group of alike subscribers (the same plan, document and
language) goes the usual way and executes the event; the feed waits for that result and
writes it to the rest of the group, with no task woken per subscriber. A subscriber that
is busy, behind, revoked, or whose group's result is not shareable goes the usual way.

A subscriber reads the table itself only to catch up: from its `since`, and again
whenever it fell so far behind that its queue overflowed (it is never dropped). Nobody
holds a session while idle. Events commit in id order (db/events.lock_event_order) and a
subscriber's cursor only moves forward, so nothing is skipped and nothing sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from asyncio import FIRST_COMPLETED
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Hashable, Sequence
from contextlib import aclosing, asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import ColumnElement, func, or_, select
from sqlmodel import col

from authz.plan import Plan
from db.customers import ScopedRow
from db.engine import Database
from db.models import Customer, OwnershipEvent, User
from db.rows import CUSTOMER
from kernel.errors import Unauthenticated
from kernel.messages import N_
from subscriptions.bus import OWNERSHIP, Bus
from subscriptions.revocation import holds, token_is_live, token_states

log = logging.getLogger("ownergraph.subscriptions")

BATCH = 500
# Events a subscriber may have waiting before it must catch up from the table instead.
QUEUE_LIMIT = 1000
# Mask columns per statement (PostgreSQL allows 1664 result columns).
PLANS_PER_STATEMENT = 200


def plan_key(plan: Plan) -> Hashable:
    """Plans that see the same rows the same way share one mask column (and a delivery's
    result, schema/execution.py): the same person with the same rights, whenever the plan
    was built (a token's plan is rebuilt each `token_cache_seconds`, and sockets opened a
    second apart would otherwise never share). Kept with the plan: hashing the facts again
    for every delivery costs."""
    key = plan._sql.get("plan_key")
    if key is None:
        facts = replace(plan.facts, now=None)
        made = _Key((facts, tuple(sorted(plan.table.items()))))
        # One object per distinct key, so lookups compare by identity, not by value.
        if len(_keys) > 10_000:
            _keys.clear()
        key = plan._sql["plan_key"] = _keys.setdefault(made, made)
    return key


_keys: dict[_Key, _Key] = {}


class _Key:
    """Parts that are hashed once."""

    __slots__ = ("_hash", "parts")

    def __init__(self, parts: tuple[Any, ...]) -> None:
        self.parts = parts
        self._hash = hash(parts)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (
            isinstance(other, _Key) and self._hash == other._hash and self.parts == other.parts
        )


# How long the feed waits for a group's first execution before it hands the rest of the
# group their events the usual way.
GROUP_WAIT_SECONDS = 1.0
# Direct sends between two turns of the worker's other tasks.
SENDS_PER_TURN = 100


class Direct(Protocol):
    """A subscription that can be handed an event's finished message (schema/live_frames)."""

    def group(self, event: OwnershipEvent) -> Hashable | None:
        """Subscribers with the same group get the same message; None: not now."""

    def executed(self, group: Hashable) -> asyncio.Future[Any]:
        """Done once the group's result is known (shareable or not)."""

    async def send(self, event: OwnershipEvent, group: Hashable) -> bool:
        """Sends the group's finished result; False when there is none to send."""


@dataclass(eq=False)
class Follower:
    """One subscription's place in the feed."""

    plan: Plan
    customer_id: int | None = None
    team_id: int | None = None
    key: Hashable = None
    cursor: int = 0  # the last event delivered (or where to start)
    queue: deque[OwnershipEvent] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    behind: bool = True  # starts by catching up from `cursor`
    overflows: int = 0
    revoked: bool = False
    # Queued events' customers as this plan sees them (None: not visible), read by the
    # feed once for every follower with the same plan; taken by the delivery.
    customers: dict[int, ScopedRow | None] = field(default_factory=dict)
    direct: Direct | None = None
    parked: bool = False  # waiting for its next event, every earlier one delivered

    @property
    def idle(self) -> bool:
        return self.parked and not self.queue and not self.behind and not self.revoked

    def __post_init__(self) -> None:
        self.key = plan_key(self.plan)

    @property
    def user_id(self) -> int | None:
        return self.plan.principal.user_id

    @property
    def token_id(self) -> int | None:
        return self.plan.principal.token_id

    def wants(self, event: OwnershipEvent, from_team: int | None, mask: int) -> bool:
        """In memory: the same question `filters()` asks in SQL."""
        if self.customer_id is not None and event.customer_id != self.customer_id:
            return False
        if self.team_id is not None and self.team_id not in (event.team_id, from_team):
            return False
        concerned = self.user_id is not None and self.user_id in (
            event.from_user_id,
            event.to_user_id,
        )
        return concerned or self.plan.allows("customer", "read", mask)

    def filters(self) -> list[ColumnElement[bool]]:
        """Events of customers the caller sees now, and events that moved a customer from
        or to the caller (so the old owner hears of the transfer that took it away)."""
        seen = [self.plan.customer_scope()]
        if self.user_id is not None:
            seen += [
                col(OwnershipEvent.from_user_id) == self.user_id,
                col(OwnershipEvent.to_user_id) == self.user_id,
            ]
        conds = [or_(*seen)]
        if self.customer_id is not None:
            conds.append(col(OwnershipEvent.customer_id) == self.customer_id)
        if self.team_id is not None:
            previous_owner_in_team = col(OwnershipEvent.from_user_id).in_(
                select(col(User.id)).where(col(User.team_id) == self.team_id)
            )
            conds.append(or_(col(OwnershipEvent.team_id) == self.team_id, previous_owner_in_team))
        return conds

    def push(self, event: OwnershipEvent, limit: int, customer: ScopedRow | None) -> None:
        # Kept while catching up too: what the catch-up's read misses comes after it.
        if len(self.queue) >= limit:
            self.queue.clear()
            self.customers.clear()
            self.behind = True
            self.overflows += 1
        else:
            self.queue.append(event)
            self.customers[event.id or 0] = customer
        self.arrived.set()


class EventFeed:
    """Runs while at least one subscriber follows it."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        now: Callable[[], datetime],
        *,
        batch: int = BATCH,
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        self._db = db
        # Weakly: feeds are kept per bus (`feed_for`), and must not keep their bus alive.
        self._bus = weakref.ref(bus)
        self._now = now
        self._batch = batch
        self._queue_limit = queue_limit
        self._followers: set[Follower] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._head = 0
        self.batches = 0  # batches read so far (for tests and metrics)

    @property
    def follower_count(self) -> int:
        return len(self._followers)

    @asynccontextmanager
    async def following(
        self, follower: Follower, *, since: int | None
    ) -> AsyncIterator[AsyncGenerator[OwnershipEvent, None]]:
        """The follower's events after `since` (None: from now on), in id order, then
        live. The generator raises `Unauthenticated` once the token is found dead."""
        self._followers.add(follower)
        try:
            if self._task is None or self._task.done():
                self._ready.clear()
                self._task = asyncio.create_task(self._run(), name="ownergraph-event-feed")
            # Following first, then taking where "now" is (the running feed's head, or the
            # table's): what commits later comes live, or by catching up.
            if since is not None:
                follower.cursor = since
            elif self._ready.is_set():
                follower.cursor = self._head
            else:
                follower.cursor = await self.latest()
            await self._ready.wait()
            rows = self._events(follower)
            async with aclosing(rows):
                yield rows
        finally:
            self._followers.discard(follower)
            if not self._followers:
                await self._stop()

    async def _events(self, follower: Follower) -> AsyncGenerator[OwnershipEvent, None]:
        while True:
            if follower.revoked:
                raise Unauthenticated(N_("The token has been revoked."))
            if follower.behind:
                overflows = follower.overflows
                try:
                    rows = await self._catch_up(follower)
                except Exception:
                    # The database is away or busy: wait and read again, never give up.
                    log.warning("could not catch a subscriber up; retrying", exc_info=True)
                    await asyncio.sleep(1.0)
                    continue
                for row in rows:
                    follower.cursor = row.id or 0
                    yield row
                if len(rows) < self._batch and follower.overflows == overflows:
                    follower.behind = False
            elif follower.queue:
                event = follower.queue.popleft()
                if (event.id or 0) <= follower.cursor:
                    follower.customers.pop(event.id or 0, None)
                else:
                    follower.cursor = event.id or 0
                    yield event
            else:
                follower.arrived.clear()
                follower.parked = True
                try:
                    await follower.arrived.wait()
                finally:
                    follower.parked = False

    async def latest(self) -> int:
        """The newest event id now."""
        async with self._db.read() as session:
            return (await session.scalar(select(func.max(col(OwnershipEvent.id))))) or 0

    async def _catch_up(self, follower: Follower) -> Sequence[OwnershipEvent]:
        stmt = (
            select(OwnershipEvent)
            .join(Customer, col(Customer.id) == col(OwnershipEvent.customer_id))
            .where(col(OwnershipEvent.id) > follower.cursor, *follower.filters())
            .order_by(col(OwnershipEvent.id))
            .limit(self._batch)
        )
        async with self._db.read() as session:
            if not await token_is_live(session, follower.plan.principal, self._now()):
                follower.revoked = True
                return []
            return list((await session.execute(stmt)).scalars())

    async def _run(self) -> None:
        while (bus := self._bus()) is not None:
            try:
                async with bus.subscribe(OWNERSHIP) as messages:
                    del bus
                    pump = asyncio.create_task(self._pump(messages))
                    try:
                        await self._serve()
                    finally:
                        pump.cancel()
                        with suppress(asyncio.CancelledError):
                            await pump
            except Exception:
                # The bus or the database is away: keep every follower, try again shortly.
                log.warning("the event feed stopped; restarting", exc_info=True)
                await asyncio.sleep(1.0)
                self._wake.set()

    async def _serve(self) -> None:
        if not self._ready.is_set():
            self._head = await self.latest()
            self._ready.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while await self._read_batch() == self._batch:
                pass

    async def _pump(self, messages: Any) -> None:
        async for _ in messages:  # any ownership message, or a resync: read what is new
            self._wake.set()

    async def _read_batch(self) -> int:
        followers = list(self._followers)
        plans = {f.key: f.plan for f in followers}
        keys = list(plans)
        tokens = {f.token_id for f in followers if f.token_id is not None}
        from_user = select(col(User.team_id)).where(
            col(User.id) == col(OwnershipEvent.from_user_id)
        )
        async with self._db.read() as session:
            rows = (
                await session.execute(
                    select(OwnershipEvent, from_user.scalar_subquery().label("from_team"))
                    .where(col(OwnershipEvent.id) > self._head)
                    .order_by(col(OwnershipEvent.id))
                    .limit(self._batch)
                )
            ).all()
            ids = [event.id or 0 for event, _ in rows]
            # Per event and plan: the relation bits, and whether the customer is in scope.
            masks: dict[int, dict[Hashable, tuple[int, bool]]] = {ident: {} for ident in ids}
            for start in range(0, len(keys) if ids else 0, PLANS_PER_STATEMENT):
                chunk = keys[start : start + PLANS_PER_STATEMENT]
                columns: list[Any] = []
                for i, k in enumerate(chunk):
                    columns.append(plans[k].relation_mask().label(f"m{i}"))
                    columns.append(plans[k].customer_scope().label(f"s{i}"))
                found = await session.execute(
                    select(col(OwnershipEvent.id), *columns)
                    .join(Customer, col(Customer.id) == col(OwnershipEvent.customer_id))
                    .where(col(OwnershipEvent.id).in_(ids))
                )
                for ident, *values in found:
                    pairs = zip(values[::2], values[1::2], strict=True)
                    masks[ident or 0].update(
                        (k, (int(m or 0), bool(v))) for k, (m, v) in zip(chunk, pairs, strict=True)
                    )
            customer_ids = sorted({event.customer_id for event, _ in rows})
            customers = (
                {
                    r.id: r
                    for r in await session.execute(
                        select(CUSTOMER).where(CUSTOMER.c.id.in_(customer_ids))
                    )
                }
                if customer_ids and followers
                else {}
            )
            states = await token_states(session, tokens, self._now()) if ids else None
        self.batches += 1
        for follower in followers:
            if states is not None and not holds(follower.plan.principal, states):
                follower.revoked = True
                follower.arrived.set()
        for event, from_team in rows:
            ident = event.id or 0
            shared: dict[Hashable, ScopedRow | None] = {}
            wanting: list[tuple[Follower, ScopedRow | None]] = []
            for follower in followers:
                mask, visible = masks[ident].get(follower.key, (0, False))
                if ident > follower.cursor and follower.wants(event, from_team, mask):
                    if follower.key not in shared:
                        row = customers.get(event.customer_id) if visible else None
                        scoped = None if row is None else ScopedRow(cast(Customer, row), mask)
                        shared[follower.key] = scoped
                    wanting.append((follower, shared[follower.key]))
            await self._hand_out(event, wanting)
        if rows:
            self._head = rows[-1][0].id or self._head
        return len(rows)

    async def _hand_out(
        self, event: OwnershipEvent, wanting: list[tuple[Follower, ScopedRow | None]]
    ) -> None:
        """Each follower gets the event: queued (its own delivery executes it), or, when
        it is idle and another of its group executes it, the finished message."""
        groups: dict[Hashable, list[tuple[Follower, ScopedRow | None]]] = {}
        for follower, customer in wanting:
            direct = follower.direct
            group = direct.group(event) if direct is not None and follower.idle else None
            if group is None:
                follower.push(event, self._queue_limit, customer)
            else:
                groups.setdefault(group, []).append((follower, customer))
        pending: dict[asyncio.Future[Any], Hashable] = {}
        for group, members in groups.items():
            direct = members[0][0].direct
            assert direct is not None
            executed = direct.executed(group)
            if not executed.done():  # one of them executes it, the usual way
                follower, customer = members.pop(0)
                follower.push(event, self._queue_limit, customer)
            pending[executed] = group
        # Each group as soon as its result is in (executions run one after another); past
        # the deadline, the rest of each group its own way.
        sent = 0
        deadline = asyncio.get_running_loop().time() + GROUP_WAIT_SECONDS
        while pending:
            left = deadline - asyncio.get_running_loop().time()
            done: set[Any] = set()
            if left > 0:
                done, _ = await asyncio.wait(pending, timeout=left, return_when=FIRST_COMPLETED)
            for executed in done or list(pending):  # none in time: all of them, now
                group = pending.pop(executed)
                for follower, customer in groups[group]:
                    sent = await self._send_or_push(follower, customer, event, group, sent)

    async def _send_or_push(
        self,
        follower: Follower,
        customer: ScopedRow | None,
        event: OwnershipEvent,
        group: Hashable,
        sent: int,
    ) -> int:
        """The group's finished message if the follower can still take it, else its own
        delivery; every SENDS_PER_TURN messages the worker's other tasks get a turn (a
        thousand in a row would hold up every request, mutations included)."""
        ident, direct = event.id or 0, follower.direct
        if (
            direct is None
            or not follower.idle
            or ident <= follower.cursor
            or not await direct.send(event, group)
        ):
            follower.push(event, self._queue_limit, customer)
            return sent
        follower.cursor = ident
        sent += 1
        if sent % SENDS_PER_TURN == 0:
            await asyncio.sleep(0)
        return sent

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


_feeds: weakref.WeakKeyDictionary[Bus, EventFeed] = weakref.WeakKeyDictionary()


def feed_for(db: Database, bus: Bus, now: Callable[[], datetime]) -> EventFeed:
    """The worker's feed: one per bus."""
    feed = _feeds.get(bus)
    if feed is None:
        feed = _feeds[bus] = EventFeed(db, bus, now)
    return feed
