"""A pool's hidden fields hold inside live payloads too: a customer arriving in a pool that
hides contacts and tax ids reaches subscribers with those null and listed as masked."""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import AsyncExitStack

from sqlalchemy import select

from db.models import Contact, Customer
from subscriptions.feed import feed_for
from tests.conftest import Api, db_id
from tests.resolvers.test_pools import ADMIN, RELEASE, UPDATE, default_pool
from tests.subscriptions.test_fanout import following
from tests.subscriptions.test_live import LATEST_EVENT, WAIT, connect, started

CHANGES = (
    """subscription { ownershipChanged { kind customer { id name taxId contacts { name } } } }"""
)


async def hiding_pool_and_bobs_customer(api: Api) -> int:
    """The default pool hides tax ids and contacts; a customer of Bob's with both."""
    pid = await default_pool(api)
    rules = {"hiddenFields": ["taxId", "contacts"]}
    await api.ok(
        UPDATE, {"id": pid, "input": {"name": "Public pool", "rules": rules}}, as_user=ADMIN
    )
    bob = await api.user_id("bob@demo.test")
    async with api.services.db.read() as session:
        return int(
            (
                await session.execute(
                    select(Customer.id)
                    .where(Customer.owner_id == bob, Customer.tax_id.is_not(None))
                    .where(Customer.id.in_(select(Contact.customer_id)))
                    .limit(1)
                )
            ).scalar_one()
        )


async def test_live_payloads_hide_what_the_pool_hides(api: Api) -> None:
    cid = await hiding_pool_and_bobs_customer(api)
    # Three subscriptions of one person share one execution (schema/execution.py): each
    # still gets the masks reported.
    async with connect(api.app, await api.token("alice@demo.test")) as live:
        before = len(api.statements)
        ops = [await live.subscribe(CHANGES)]
        await started(api, LATEST_EVENT, before)
        ops += [await live.subscribe(CHANGES) for _ in range(2)]
        feed = feed_for(api.services.db, api.services.bus, api.services.clock.now)
        await following(feed, len(ops))
        await api.ok(RELEASE, {"id": str(cid)}, as_user="bob@demo.test")
        messages = [await live.message(op) for op in ops]
    for message in messages:
        payload = message["payload"]
        event = payload["data"]["ownershipChanged"]
        assert event["kind"] == "RELEASED" and db_id(event["customer"]["id"]) == cid
        assert event["customer"]["taxId"] is None and event["customer"]["contacts"] == []
        masked = set(payload.get("extensions", {}).get("maskedFields", []))
        assert {"ownershipChanged.customer.taxId", "ownershipChanged.customer.contacts"} <= masked


async def test_messages_the_feed_writes_are_the_ones_a_delivery_sends(api: Api) -> None:
    """Subscribers alike to one that executed an event get its message from the feed
    (schema/live_frames.py): byte for byte what their own delivery would have sent, masked
    fields and each one's cost report included."""
    cid = await hiding_pool_and_bobs_customer(api)
    watchers = {"alice@demo.test": 3, "manager.east@demo.test": 2}
    feed = feed_for(api.services.db, api.services.bus, api.services.clock.now)
    async with AsyncExitStack() as stack:
        sockets = []
        for email, n in watchers.items():
            token = await api.token(email)
            for _ in range(n):
                live = await stack.enter_async_context(connect(api.app, token))
                await live.subscribe(CHANGES)  # op "1" on every socket
                sockets.append((email, live))
                await following(feed, len(sockets))
        shared = api.services.shared_results
        executed, sent = (shared.executed, shared.sent) if shared else (0, 0)
        await api.ok(RELEASE, {"id": str(cid)}, as_user="bob@demo.test")
        texts: dict[str, list[str]] = {}
        for email, live in sockets:
            async with asyncio.timeout(WAIT):
                texts.setdefault(email, []).append(await live.ws.receive_text())
    shared = api.services.shared_results
    assert shared is not None
    # One execution per person; every other subscriber got the message from the feed.
    assert (shared.executed - executed, shared.sent - sent) == (2, 3)
    for email, found in texts.items():
        # The same text but for each one's own cost report: what its token had left when
        # it subscribed (each subscription charged the token's bucket after the last).
        remaining = [int(m) for text in found for m in re.findall(r'"remaining":(\d+)', text)]
        assert remaining == sorted(remaining, reverse=True) and len(set(remaining)) == len(found)
        alike = {re.sub(r'"remaining":\d+', '"remaining":0', text) for text in found}
        assert len(alike) == 1, (email, alike)
        message = json.loads(alike.pop())
        assert message["id"] == "1" and message["type"] == "next"
        extensions = message["payload"]["extensions"]
        assert "ownershipChanged.customer.taxId" in extensions["maskedFields"]
        assert extensions["cost"]["requested"] > 0
