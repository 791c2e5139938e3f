"""Live updates end to end: the real app over a real WebSocket (graphql-transport-ws),
mutations over HTTP, on SQLite and PostgreSQL; two workers over Redis."""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from sqlalchemy import select, update

from authz.tokens import token_hash
from db.jobs import fire_due_reminders
from db.models import ApiToken, Customer, Reminder
from db.outbox import take_messages
from kernel.clock import FrozenClock
from kernel.settings import Settings
from ownergraph.app import create_app
from schema.pagination import encode_cursor
from subscriptions.bus import OWNERSHIP, REVOCATIONS
from tests.conftest import SECRET, Api, db_id
from tests.subscriptions.test_bus import REDIS_URL, _redis_answers

WAIT = 10  # seconds: the bound on every wait in this module

CREATE = """
mutation Create($name: String!) { createCustomer(input: {name: $name}) { id } }
"""
EVENTS = """
query Events($customerId: ID) {
  ownershipEvents(customerId: $customerId) { edges { cursor node { id kind } } }
}
"""
TRANSFER = """
mutation Transfer($ids: [ID!]!, $to: ID!) {
  requestTransfer(input: {customerIds: $ids, toUserId: $to, kind: REASSIGNMENT,
                          reason: "rebalancing"}) { status }
}
"""
ADD_COLLABORATOR = """
mutation Add($customerId: ID!, $userId: ID!) {
  addCollaborator(customerId: $customerId, userId: $userId, role: SUPPORT, creditShare: 10) {
    id
  }
}
"""
OPEN_DISPUTE = """
mutation Open($customerId: ID!) {
  openDispute(customerId: $customerId, reason: "mine first") { id }
}
"""
OWNERSHIP_CHANGED = """
subscription Changes($since: String, $customerId: ID, $teamId: ID) {
  ownershipChanged(since: $since, customerId: $customerId, teamId: $teamId) {
    id cursor kind fromOwner { email } toOwner { email }
  }
}
"""
OWNERSHIP_CHANGED_WITH_CUSTOMER = """
subscription Changes($since: String) {
  ownershipChanged(since: $since) { id kind customer { id name owner { email } } }
}
"""
REMINDER_DUE = """
subscription Reminders($since: String) { reminderDue(since: $since) { id kind status message } }
"""
DISPUTE_UPDATED = """
subscription Disputes($customerId: ID) {
  disputeUpdated(customerId: $customerId) { id status customer { id } claimant { email } }
}
"""


class Live:
    """One graphql-transport-ws connection, signed in."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        # Messages of one subscription that arrived while waiting for another's.
        self._held: dict[str, list[dict[str, Any]]] = defaultdict(list)

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        op = str(next(self._ids))
        payload = {"query": query, "variables": variables or {}}
        await self.ws.send_json({"id": op, "type": "subscribe", "payload": payload})
        return op

    async def message(self, op: str) -> dict[str, Any]:
        if self._held[op]:
            return self._held[op].pop(0)
        async with asyncio.timeout(WAIT):
            while True:
                message = await self.ws.receive_json()
                if message["type"] == "ping":
                    await self.ws.send_json({"type": "pong"})
                elif message.get("id") == op:
                    return message
                else:
                    self._held[message["id"]].append(message)

    async def message_any(self) -> dict[str, Any]:
        """The next message of any subscription."""
        async with asyncio.timeout(WAIT):
            while True:
                message = await self.ws.receive_json()
                if message["type"] == "ping":
                    await self.ws.send_json({"type": "pong"})
                else:
                    return message

    async def next(self, op: str) -> dict[str, Any]:
        message = await self.message(op)
        assert message["type"] == "next", message
        assert not message["payload"].get("errors"), message["payload"]["errors"]
        return message["payload"]["data"]

    async def closed_with(self) -> int:
        async with asyncio.timeout(WAIT):
            with pytest.raises(WebSocketDisconnect) as closed:
                while True:
                    await self.ws.receive_json()
        return closed.value.code


@asynccontextmanager
async def websocket(app: Any, protocol: str = "graphql-transport-ws") -> AsyncIterator[Any]:
    """A WebSocket to the app. (httpx-ws runs the app in a task group of its own, which
    must close in the task that opened it: hence no fixture.)"""
    transport = ASGIWebSocketTransport(app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        aconnect_ws("http://test/graphql", client, subprotocols=[protocol]) as ws,
    ):
        yield ws


@asynccontextmanager
async def connect(app: Any, token: str) -> AsyncIterator[Live]:
    async with websocket(app) as ws:
        payload = {"authorization": f"Bearer {token}"}
        await ws.send_json({"type": "connection_init", "payload": payload})
        async with asyncio.timeout(WAIT):
            assert (await ws.receive_json())["type"] == "connection_ack"
        yield Live(ws)


async def listening(bus: Any, channel: str, before: int) -> None:
    """Until a new subscriber is on `channel`."""
    async with asyncio.timeout(WAIT):
        while bus.subscriber_count(channel) <= before:
            await asyncio.sleep(0.01)


async def started(api: Api, marker: str, before: int) -> None:
    """Until a subscription without `since` has read where "now" is: it starts there."""
    async with asyncio.timeout(WAIT):
        while not any(marker in s for s in api.statements[before:]):
            await asyncio.sleep(0.01)


LATEST_EVENT = "max(ownership_event.id)"
LATEST_REMINDER = "ORDER BY reminder.fired_at DESC"


async def create(api: Api, email: str, label: str) -> int:
    name = f"Live {label} {uuid.uuid4().hex[:8]}"
    data = await api.ok(CREATE, {"name": name}, as_user=email)
    return db_id(data["createCustomer"]["id"])


async def told(api: Api, email: str, customer_id: int) -> None:
    """`email` hears DUPLICATE_CUSTOMER about the customer: a right to dispute it."""
    async with api.services.db.read() as session:
        customer = await session.get(Customer, customer_id)
    assert customer is not None
    body = await api.gql(CREATE, {"name": customer.name}, as_user=email)
    assert body["errors"][0]["extensions"]["code"] == "DUPLICATE_CUSTOMER"


async def last_event(api: Api, customer_id: int) -> tuple[int, str]:
    data = await api.ok(EVENTS, {"customerId": customer_id}, as_user="admin@demo.test")
    edge = data["ownershipEvents"]["edges"][-1]
    return db_id(edge["node"]["id"]), edge["cursor"]


async def token_id(api: Api, jwt: str) -> int:
    async with api.services.db.read() as session:
        return (
            await session.execute(select(ApiToken.id).where(ApiToken.token_hash == token_hash(jwt)))
        ).scalar_one()


async def revoke(api: Api, jwt: str, *, announce: bool) -> None:
    ident = await token_id(api, jwt)
    async with api.services.db.write() as session, session.begin():
        await session.execute(
            update(ApiToken).where(ApiToken.id == ident).values(revoked_at=api.services.clock.now())
        )
    if announce:
        await api.services.bus.publish(REVOCATIONS, {"token_id": ident})


def ids(events: list[dict[str, Any]]) -> list[int]:
    return [db_id(e["ownershipChanged"]["id"]) for e in events]


# Signing in.


@pytest.mark.parametrize("token", ["not-a-jwt", None])
async def test_connection_init_with_a_bad_token_is_closed_4403(api: Api, token: str | None) -> None:
    async with websocket(api.app) as ws:
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await ws.send_json({"type": "connection_init", "payload": payload})
        assert await Live(ws).closed_with() == 4403


async def test_subscribing_before_connection_init_is_closed_4401(api: Api) -> None:
    async with websocket(api.app) as ws:
        live = Live(ws)
        await live.subscribe(OWNERSHIP_CHANGED)
        assert await live.closed_with() == 4401


# Replay and live, with no gap and no duplicate.


async def test_since_replays_then_continues_live_without_gap_or_duplicate(api: Api) -> None:
    before = [await create(api, "alice@demo.test", f"before {i}") for i in range(3)]
    first_id, first_cursor = await last_event(api, before[0])
    expected = [(await last_event(api, c))[0] for c in before[1:]]

    async with connect(api.app, await api.token("alice@demo.test")) as live:
        op = await live.subscribe(OWNERSHIP_CHANGED, {"since": first_cursor})
        received = [await live.next(op) for _ in expected]
        # Written while subscribed, some while the replay was still being read.
        during = [await create(api, "alice@demo.test", f"during {i}") for i in range(3)]
        expected += [(await last_event(api, c))[0] for c in during]
        received += [await live.next(op) for _ in during]

    assert ids(received) == expected
    assert all(i > first_id for i in ids(received))
    assert [e["ownershipChanged"]["kind"] for e in received] == ["CREATED"] * 5
    assert received[0]["ownershipChanged"]["toOwner"] == {"email": "alice@demo.test"}
    assert received[-1]["ownershipChanged"]["cursor"] == encode_cursor(expected[-1])


async def test_without_since_only_new_events_arrive_with_fresh_nested_fields(api: Api) -> None:
    await create(api, "alice@demo.test", "old")
    async with connect(api.app, await api.token("alice@demo.test")) as live:
        statements = len(api.statements)
        op = await live.subscribe(OWNERSHIP_CHANGED_WITH_CUSTOMER)
        await started(api, LATEST_EVENT, statements)
        new = await create(api, "alice@demo.test", "new")
        event = (await live.next(op))["ownershipChanged"]
        assert db_id(event["customer"]["id"]) == int(new)
        assert event["customer"]["owner"] == {"email": "alice@demo.test"}
        assert event["customer"]["name"].startswith("Live new")


async def test_a_burst_of_events_is_delivered_once_each_in_order(api: Api) -> None:
    start = await create(api, "alice@demo.test", "start")
    _, cursor = await last_event(api, start)
    async with connect(api.app, await api.token("alice@demo.test")) as live:
        op = await live.subscribe(OWNERSHIP_CHANGED, {"since": cursor})
        burst = await asyncio.gather(
            *(create(api, "alice@demo.test", f"burst {i}") for i in range(6))
        )
        expected = sorted([(await last_event(api, c))[0] for c in burst])
        received = [await live.next(op) for _ in burst]
        sentinel = await create(api, "alice@demo.test", "sentinel")
        after = await live.next(op)
    assert ids(received) == expected
    assert ids([after]) == [(await last_event(api, sentinel))[0]]


async def test_the_legacy_graphql_ws_protocol_works_too(api: Api) -> None:
    start = await create(api, "alice@demo.test", "start")
    _, cursor = await last_event(api, start)
    later = await create(api, "alice@demo.test", "later")
    async with websocket(api.app, "graphql-ws") as ws:
        token = await api.token("alice@demo.test")
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await ws.send_json(init)
        payload = {"query": OWNERSHIP_CHANGED, "variables": {"since": cursor}}
        await ws.send_json({"id": "1", "type": "start", "payload": payload})
        async with asyncio.timeout(WAIT):
            messages = [await ws.receive_json() for _ in range(2)]
    assert [m["type"] for m in messages] == ["connection_ack", "data"]
    assert ids([messages[1]["payload"]["data"]]) == [(await last_event(api, later))[0]]


# Visibility, decided at delivery.


async def test_events_of_customers_one_may_not_see_are_not_delivered(api: Api) -> None:
    start = await create(api, "alice@demo.test", "mine")
    _, cursor = await last_event(api, start)
    carols = await create(api, "carol@demo.test", "west")
    alices = await create(api, "alice@demo.test", "east")
    async with connect(api.app, await api.token("alice@demo.test")) as live:
        op = await live.subscribe(OWNERSHIP_CHANGED, {"since": cursor})
        # Events arrive in id order: getting alice's later event proves carol's was skipped.
        assert ids([await live.next(op)]) == [(await last_event(api, alices))[0]]

        invisible = await live.subscribe(OWNERSHIP_CHANGED, {"customerId": carols})
        message = await live.message(invisible)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"]
    assert carols != alices


async def test_filters_by_customer_and_team(api: Api) -> None:
    start = await create(api, "admin@demo.test", "start")
    _, cursor = await last_event(api, start)
    east = await create(api, "alice@demo.test", "east one")
    west = await create(api, "carol@demo.test", "west one")
    east_two = await create(api, "bob@demo.test", "east two")
    stmt = select(Customer.id, Customer.team_id).where(Customer.id.in_([east, west]))
    async with api.services.db.read() as session:
        teams = {ident: team for ident, team in await session.execute(stmt)}
    async with connect(api.app, await api.token("admin@demo.test")) as live:
        by_customer = await live.subscribe(
            OWNERSHIP_CHANGED, {"since": cursor, "customerId": east_two}
        )
        by_team = await live.subscribe(OWNERSHIP_CHANGED, {"since": cursor, "teamId": teams[west]})
        assert ids([await live.next(by_customer)]) == [(await last_event(api, east_two))[0]]
        assert ids([await live.next(by_team)]) == [(await last_event(api, west))[0]]
    assert teams[east] != teams[west]


async def test_the_old_owner_receives_the_transfer_and_nothing_after(api: Api) -> None:
    customer = await create(api, "alice@demo.test", "moving")
    created, cursor = await last_event(api, customer)
    bob, dan = await api.user_id("bob@demo.test"), await api.user_id("dan@demo.test")
    async with connect(api.app, await api.token("alice@demo.test")) as live:
        op = await live.subscribe(OWNERSHIP_CHANGED, {"since": cursor})
        await api.ok(TRANSFER, {"ids": [customer], "to": bob}, as_user="manager.east@demo.test")
        transferred = (await live.next(op))["ownershipChanged"]
        assert transferred["kind"] == "TRANSFERRED"
        assert transferred["fromOwner"] == {"email": "alice@demo.test"}
        assert transferred["toOwner"] == {"email": "bob@demo.test"}
        # Bob's customer now: alice hears nothing more of it...
        await api.ok(
            ADD_COLLABORATOR, {"customerId": customer, "userId": dan}, as_user="bob@demo.test"
        )
        collaborated, _ = await last_event(api, customer)
        # ...but still of her own, which come after.
        sentinel = await create(api, "alice@demo.test", "sentinel")
        assert ids([await live.next(op)]) == [(await last_event(api, sentinel))[0]]
    assert created < db_id(transferred["id"]) < collaborated


# Revocation.


async def test_revoking_the_token_closes_the_socket_4403(api: Api) -> None:
    jwt = await api.token("alice@demo.test")
    async with connect(api.app, jwt) as live:
        listeners = api.services.bus.subscriber_count(OWNERSHIP)
        await live.subscribe(OWNERSHIP_CHANGED)
        await listening(api.services.bus, OWNERSHIP, listeners)
        await revoke(api, jwt, announce=True)
        assert await live.closed_with() == 4403


async def test_a_revoked_token_stops_at_the_next_delivery_even_unannounced(api: Api) -> None:
    jwt = await api.token("alice@demo.test")
    async with connect(api.app, jwt) as live:
        listeners = api.services.bus.subscriber_count(OWNERSHIP)
        await live.subscribe(OWNERSHIP_CHANGED)
        await listening(api.services.bus, OWNERSHIP, listeners)
        await revoke(api, jwt, announce=False)
        await create(api, "alice@demo.test", "after revocation")  # with another token
        assert await live.closed_with() == 4403


async def test_a_revocation_of_someone_else_leaves_the_socket_open(api: Api) -> None:
    start = await create(api, "alice@demo.test", "start")
    _, cursor = await last_event(api, start)
    async with connect(api.app, await api.token("alice@demo.test")) as live:
        op = await live.subscribe(OWNERSHIP_CHANGED, {"since": cursor})
        await revoke(api, await api.token("bob@demo.test"), announce=True)
        await api.services.bus.publish(REVOCATIONS, {"user_id": await api.user_id("bob@demo.test")})
        later = await create(api, "alice@demo.test", "later")
        assert ids([await live.next(op)]) == [(await last_event(api, later))[0]]


# Reminders and disputes.


async def _fire(api: Api, clock: FrozenClock, due: list[tuple[str, str]]) -> list[int]:
    """Reminders due now for these users, fired by the scheduler's own job."""
    now = clock.now()
    async with api.services.db.write() as session, session.begin():
        rows = [
            Reminder(
                user_id=await api.user_id(email),
                kind="FOLLOW_UP_DUE",
                due_at=now - timedelta(minutes=1),
                message=message,
                created_at=now - timedelta(days=1),
            )
            for email, message in due
        ]
        session.add_all(rows)
        await session.flush()
        await fire_due_reminders(session, now=now, limit=10_000)
        messages = take_messages(session)
    for channel, message in messages:
        await api.services.bus.publish(channel, message)
    return [r.id or 0 for r in rows]


async def test_reminders_arrive_as_they_fire_and_replay_after_a_reminder(
    api: Api, clock: FrozenClock
) -> None:
    await _fire(api, clock, [])  # what the demo data has due fires first, unwatched
    async with connect(api.app, await api.token("alice@demo.test")) as live:
        statements = len(api.statements)
        op = await live.subscribe(REMINDER_DUE)
        await started(api, LATEST_REMINDER, statements)
        fired = await _fire(
            api,
            clock,
            [("alice@demo.test", "one"), ("bob@demo.test", "bob's"), ("alice@demo.test", "two")],
        )
        got = [(await live.next(op))["reminderDue"] for _ in range(2)]
    assert [db_id(r["id"]) for r in got] == [fired[0], fired[2]]
    assert [(r["status"], r["message"]) for r in got] == [("FIRED", "one"), ("FIRED", "two")]

    clock.advance(minutes=5)
    later = await _fire(api, clock, [("alice@demo.test", "three")])
    async with connect(api.app, await api.token("alice@demo.test")) as live:
        op = await live.subscribe(REMINDER_DUE, {"since": encode_cursor(fired[0])})
        replayed = [(await live.next(op))["reminderDue"] for _ in range(2)]
    assert [db_id(r["id"]) for r in replayed] == [fired[2], later[0]]


async def test_dispute_updates_reach_the_owner_and_not_outsiders(api: Api) -> None:
    customer = await create(api, "alice@demo.test", "contested")
    async with (
        connect(api.app, await api.token("alice@demo.test")) as alice,
        connect(api.app, await api.token("carol@demo.test")) as carol,
    ):
        listeners = api.services.bus.subscriber_count("disputes")
        mine = await alice.subscribe(DISPUTE_UPDATED, {"customerId": customer})
        theirs = await carol.subscribe(DISPUTE_UPDATED)
        await listening(api.services.bus, "disputes", listeners + 1)
        await told(api, "bob@demo.test", customer)
        opened = await api.ok(OPEN_DISPUTE, {"customerId": customer}, as_user="bob@demo.test")
        dispute = (await alice.next(mine))["disputeUpdated"]
        assert dispute["id"] == opened["openDispute"]["id"]
        assert db_id(dispute["customer"]["id"]) == int(customer)
        assert dispute["claimant"] == {"email": "bob@demo.test"}
        # Carol's own customer's dispute reaches her; the earlier one did not.
        carols = await create(api, "carol@demo.test", "contested west")
        await told(api, "bob@demo.test", carols)
        other = await api.ok(OPEN_DISPUTE, {"customerId": carols}, as_user="bob@demo.test")
        assert (await carol.next(theirs))["disputeUpdated"]["id"] == other["openDispute"]["id"]


# Two workers.


@pytest.fixture
async def two_workers(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[tuple[Api, Api]]:
    if not await _redis_answers():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but Redis does not answer at {REDIS_URL}")
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    settings = Settings(
        database_url=database_url, jwt_secret=SECRET, data_dir=tmp_path, broadcast_url=REDIS_URL
    )
    apps = [create_app(settings, clock=clock), create_app(settings, clock=clock)]
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]), base_url="http://t") as c1,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[1]), base_url="http://t") as c2,
    ):
        yield Api(apps[0], c1), Api(apps[1], c2)
    for app in apps:
        await app.state.services.bus.close()
        await app.state.services.db.dispose()


async def test_a_mutation_on_one_worker_reaches_a_subscriber_on_another(
    two_workers: tuple[Api, Api],
) -> None:
    one, two = two_workers
    start = await create(one, "alice@demo.test", "start")
    _, cursor = await last_event(one, start)
    replayed = await create(one, "alice@demo.test", "replayed")
    async with connect(two.app, await two.token("alice@demo.test")) as live:
        op = await live.subscribe(OWNERSHIP_CHANGED, {"since": cursor})
        # Once the replay is out, what follows can only come as a wake-up through Redis.
        received = [await live.next(op)]
        created = [await create(one, "alice@demo.test", f"on one {i}") for i in range(2)]
        received += [await live.next(op) for _ in created]
    expected = [(await last_event(one, c))[0] for c in (replayed, *created)]
    assert ids(received) == expected
