"""Fan-out that scales with events, not subscribers × events: a few hundred subscribers
on one worker, every event delivered to each who may see it exactly once, and each new
batch of events read once for all of them; a subscriber that falls behind is caught up
from the table, never dropped."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from contextlib import AsyncExitStack
from typing import Any

from kernel.clock import FrozenClock
from resolvers.context import context_for_user
from schema.pagination import encode_cursor
from subscriptions.feed import EventFeed, Follower, feed_for
from tests.conftest import Api, db_id
from tests.subscriptions.test_live import WAIT, connect, create, last_event

IDS = """
subscription Ids($since: String) { ownershipChanged(since: $since) { id } }
"""
EVENTS_AFTER = """
query After($after: String) { ownershipEvents(after: $after, first: 100) { edges { node { id } } } }
"""
RELEASE = """
mutation Release($id: ID!) { releaseToPool(customerId: $id, reason: "no capacity") { id } }
"""
# Who watches, and how many subscriptions each opens (one connection each).
WATCHERS = {
    "alice@demo.test": 80,
    "carol@demo.test": 80,
    "manager.east@demo.test": 70,
    "admin@demo.test": 70,
}
EVENT_SELECTS = "FROM ownership_event"


async def following(feed: EventFeed, n: int) -> None:
    """Until `n` subscriptions follow the worker's feed."""
    async with asyncio.timeout(WAIT):
        while feed.follower_count < n:
            await asyncio.sleep(0.01)


async def release_and_receive(
    api: Api, made: int, sockets: dict[Any, tuple[Any, list[str]]]
) -> tuple[int, list[dict[str, Any]]]:
    """Once every subscription follows the feed: release `made` to the pool (visible to
    everyone), then one delivery per subscription, each of that event. Returns how many
    statements ran before the release, and the delivered `ownershipChanged` nodes."""
    feed = feed_for(api.services.db, api.services.bus, api.services.clock.now)
    await following(feed, sum(len(ops) for _, ops in sockets.values()))
    before = len(api.statements)
    await api.ok(RELEASE, {"id": made}, as_user="alice@demo.test")
    event, _ = await last_event(api, made)
    nodes = []
    for live, ops in sockets.values():
        for _ in ops:
            message = await live.message_any()
            assert message["type"] == "next", message
            node = message["payload"]["data"]["ownershipChanged"]
            assert db_id(node["id"]) == event
            nodes.append(node)
    return before, nodes


async def test_hundreds_of_subscribers_lose_nothing_and_get_nothing_twice(api: Api) -> None:
    start = await create(api, "alice@demo.test", "fan start")
    _, cursor = await last_event(api, start)
    feed = feed_for(api.services.db, api.services.bus, api.services.clock.now)
    async with AsyncExitStack() as stack:
        sockets: dict[str, Any] = {}
        ops: dict[str, list[str]] = {}
        for email, n in WATCHERS.items():
            sockets[email] = await stack.enter_async_context(
                connect(api.app, await api.token(email))
            )
            ops[email] = [await sockets[email].subscribe(IDS, {"since": cursor}) for _ in range(n)]
        total = sum(WATCHERS.values())
        await following(feed, total)

        statements, batches = len(api.statements), feed.batches
        made = [
            await create(api, email, f"fan {i}")
            for i, email in enumerate(["alice@demo.test", "carol@demo.test", "bob@demo.test"] * 4)
        ]
        # Visible to everyone watching (the pool): once it arrives, nothing else is due.
        await api.ok(RELEASE, {"id": start}, as_user="alice@demo.test")
        sentinel = (await last_event(api, start))[0]

        received: dict[str, Counter[tuple[str, int]]] = {}
        for email, live in sockets.items():
            got: Counter[tuple[str, int]] = Counter()
            done: set[str] = set()
            while len(done) < len(ops[email]):
                message = await live.message_any()
                assert message["type"] == "next", message
                ident = db_id(message["payload"]["data"]["ownershipChanged"]["id"])
                got[(message["id"], ident)] += 1
                if ident == sentinel:
                    done.add(message["id"])
            received[email] = got
        live_selects = [
            s for s in api.statements[statements:] if s.lstrip().upper().startswith("SELECT")
        ]
        batches_read = feed.batches - batches

    events = len(made) + 1
    for email, got in received.items():
        data = await api.ok(EVENTS_AFTER, {"after": cursor}, as_user=email)
        expected = [db_id(e["node"]["id"]) for e in data["ownershipEvents"]["edges"]]
        assert sentinel in expected
        for op in ops[email]:
            mine = sorted(ident for (o, ident), _ in got.items() if o == op)
            assert mine == expected, (email, op)  # nothing lost
        assert set(got.values()) == {1}, email  # nothing twice
    # Each batch was read once for all of them: statements grow with events, not with
    # subscribers × events (which would be at least 300 × 13 here).
    assert batches_read <= events
    event_reads = [s for s in live_selects if EVENT_SELECTS in s]
    assert len(event_reads) <= 3 * events


async def test_a_subscriber_that_falls_behind_is_caught_up_not_dropped(
    api: Api, clock: FrozenClock
) -> None:
    start = await create(api, "alice@demo.test", "behind start")
    first, _ = await last_event(api, start)
    services = api.services
    ctx = await context_for_user(services, "alice@demo.test")
    # A queue of two and batches of three, so falling behind and catching up both happen.
    feed = EventFeed(services.db, services.bus, clock.now, batch=3, queue_limit=2)
    follower = Follower(ctx.plan)
    async with feed.following(follower, since=first - 1) as rows:
        assert (await anext(rows)).id == first
        made = [await create(api, "alice@demo.test", f"behind {i}") for i in range(7)]
        async with asyncio.timeout(WAIT):
            while follower.overflows == 0:
                await asyncio.sleep(0.01)
        got = [(await anext(rows)).id for _ in made]
        later = await create(api, "alice@demo.test", "after catching up")
        got.append((await anext(rows)).id)
    expected = [(await last_event(api, c))[0] for c in (*made, later)]
    assert got == expected
    assert follower.overflows >= 1


WITH_CUSTOMER = """
subscription WithCustomer($since: String) {
  ownershipChanged(since: $since) { id customer { id name } }
}
"""
CUSTOMER_READS = re.compile(r"\bFROM customer\b")


async def test_a_delivery_reads_no_customer_of_its_own(api: Api) -> None:
    """The feed reads each batch's customers once; the subscribers' payloads are built
    from that read, not from a read per subscriber."""
    made = await create(api, "alice@demo.test", "shared payload")
    _, cursor = await last_event(api, made)
    watchers = {"alice@demo.test": 20, "manager.east@demo.test": 20, "admin@demo.test": 20}
    async with AsyncExitStack() as stack:
        sockets = {}
        for email, n in watchers.items():
            live = await stack.enter_async_context(connect(api.app, await api.token(email)))
            sockets[email] = (
                live,
                [await live.subscribe(WITH_CUSTOMER, {"since": cursor}) for _ in range(n)],
            )
        before, nodes = await release_and_receive(api, made, sockets)
        assert all(db_id(node["customer"]["id"]) == made for node in nodes)
        reads = [
            s
            for s in api.statements[before:]
            if s.lstrip().upper().startswith("SELECT")
            and CUSTOMER_READS.search(s)
            and "ownership_event" not in s
        ]
    # The mutation's own reads and the feed's one read; 60 subscribers would add 60.
    assert len(reads) <= 6, reads


WITH_RELATIONS = """
subscription WithRelations($since: String) {
  ownershipChanged(since: $since) {
    id kind
    customer { id name tier owner { id name } team { id name } pool { id name } recycleDueAt }
  }
}
"""


async def test_statements_per_event_do_not_grow_with_subscribers(api: Api) -> None:
    """Each subscriber has its own context, so whatever a context reads once per request
    (pools and their rules, teams, tokens) is read per delivery unless the process keeps
    it: 60 subscribers must cost no more statements than one."""

    async def release(watchers: dict[str, int]) -> int:
        made = await create(api, "alice@demo.test", f"per delivery {len(watchers)}")
        _, cursor = await last_event(api, made)
        async with AsyncExitStack() as stack:
            sockets = {}
            for email, n in watchers.items():
                token = await api.token(email)
                for half in range(2):
                    # Two sockets each, a token lookup apart: each socket's plan is its own
                    # (built at another time), which must not stop them sharing.
                    api.services.clock.advance(seconds=api.services.settings.token_cache_seconds)
                    live = await stack.enter_async_context(connect(api.app, token))
                    sockets[(email, half)] = (
                        live,
                        [
                            await live.subscribe(WITH_RELATIONS, {"since": cursor})
                            for _ in range(max(1, n // 2))
                        ],
                    )
            before, nodes = await release_and_receive(api, made, sockets)
            assert all(node["customer"]["pool"]["name"] for node in nodes)
            return len(api.statements) - before

    with_1 = await release({"admin@demo.test": 1})
    shared = api.services.shared_results
    executed, reused, sent = shared.executed, shared.reused, shared.sent
    with_60 = await release(
        {"alice@demo.test": 20, "manager.east@demo.test": 20, "admin@demo.test": 20}
    )
    # A few more for the plans the first run did not have; 60 per delivery would be 60.
    assert with_60 <= with_1 + 10, (with_60, with_1)
    # One execution per person, every other delivery reusing one or sent its message by
    # the feed (schema/live_frames.py).
    assert (shared.executed - executed, shared.reused + shared.sent - reused - sent) == (3, 57)


SHAPED = """
subscription Shaped($since: String, $full: Boolean!) {
  ownershipChanged(since: $since) { id customer @include(if: $full) { id } }
}
"""


async def test_subscribers_share_a_result_only_when_it_would_be_the_same(api: Api) -> None:
    """Same person, same document: one execution (schema/execution.py). A variable used
    below the subscription field shapes the result, so it separates them; `since` does
    not, and another person's plan always does."""
    made = await create(api, "alice@demo.test", "shaped")
    created, cursor = await last_event(api, made)
    older = encode_cursor(created - 1)
    feed = feed_for(api.services.db, api.services.bus, api.services.clock.now)
    async with AsyncExitStack() as stack:
        alice = await stack.enter_async_context(
            connect(api.app, await api.token("alice@demo.test"))
        )
        bob = await stack.enter_async_context(connect(api.app, await api.token("bob@demo.test")))
        ops = {
            (alice, "full"): await alice.subscribe(SHAPED, {"since": cursor, "full": True}),
            (alice, "bare"): await alice.subscribe(SHAPED, {"since": cursor, "full": False}),
            (alice, "full again"): await alice.subscribe(SHAPED, {"since": older, "full": True}),
            (bob, "full"): await bob.subscribe(SHAPED, {"since": cursor, "full": True}),
        }
        await following(feed, len(ops))
        await api.ok(RELEASE, {"id": made}, as_user="alice@demo.test")
        event, _ = await last_event(api, made)
        got: dict[str, Any] = {}
        for (live, name), op in ops.items():
            who = "alice" if live is alice else "bob"
            while True:
                data = await live.next(op)
                if db_id(data["ownershipChanged"]["id"]) == event:
                    got[f"{who} {name}"] = data["ownershipChanged"]
                    break
    assert db_id(got["alice full"]["customer"]["id"]) == made
    assert "customer" not in got["alice bare"]
    assert got["alice full again"] == got["alice full"]
    # Bob sees the released customer in the pool: his own execution, the same answer.
    assert db_id(got["bob full"]["customer"]["id"]) == made


async def test_sockets_of_one_token_share_one_plan(api: Api) -> None:
    """A socket keeps its plan while open, and each plan holds its compiled scope: sockets
    of one token share one plan however far apart they signed in; another token of the
    same person has its own (its revocation is its own)."""
    made = await create(api, "alice@demo.test", "one plan")
    _, cursor = await last_event(api, made)
    feed = feed_for(api.services.db, api.services.bus, api.services.clock.now)
    first, second = await api.token("alice@demo.test"), await api.token("alice@demo.test")
    async with AsyncExitStack() as stack:
        for n, token in enumerate([first, first, second, first], start=1):
            api.services.clock.advance(seconds=api.services.settings.token_cache_seconds)
            live = await stack.enter_async_context(connect(api.app, token))
            await live.subscribe(IDS, {"since": cursor})
            await following(feed, n)
        plans: dict[int | None, set[int]] = {}
        for follower in feed._followers:
            plans.setdefault(follower.token_id, set()).add(id(follower.plan))
    assert sorted(len(ids) for ids in plans.values()) == [1, 1]
    assert len(set().union(*plans.values())) == 2


async def test_a_completed_subscription_gets_nothing_more(api: Api) -> None:
    """After `complete`, neither its own delivery nor the feed's direct messages send
    anything for that id; the socket's next subscription gets its events."""
    made = await create(api, "alice@demo.test", "completed")
    _, cursor = await last_event(api, made)
    feed = feed_for(api.services.db, api.services.bus, api.services.clock.now)
    token = await api.token("alice@demo.test")
    async with AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(connect(api.app, token)) for _ in range(3)]
        for n, live in enumerate(sockets, start=1):
            await live.subscribe(IDS, {"since": cursor})
            await following(feed, n)
        for live in sockets[1:]:
            await live.ws.send_json({"id": "1", "type": "complete"})
            await live.subscribe(IDS, {"since": cursor})  # id "2"
        async with asyncio.timeout(WAIT):
            while feed.follower_count != 3 or not all(f.parked for f in feed._followers):
                await asyncio.sleep(0.01)
        await api.ok(RELEASE, {"id": made}, as_user="alice@demo.test")
        event, _ = await last_event(api, made)
        messages = [await live.message_any() for live in sockets]
    assert [m["id"] for m in messages] == ["1", "2", "2"]
    assert {db_id(m["payload"]["data"]["ownershipChanged"]["id"]) for m in messages} == {event}
