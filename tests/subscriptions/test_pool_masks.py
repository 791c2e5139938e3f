"""A pool's hidden fields hold inside live payloads too: a customer arriving in a pool that
hides contacts and tax ids reaches subscribers with those null and listed as masked."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Contact, Customer
from subscriptions.feed import feed_for
from tests.conftest import Api, db_id
from tests.resolvers.test_pools import ADMIN, RELEASE, UPDATE, default_pool
from tests.subscriptions.test_fanout import following
from tests.subscriptions.test_live import LATEST_EVENT, connect, started

CHANGES = (
    """subscription { ownershipChanged { kind customer { id name taxId contacts { name } } } }"""
)


async def test_live_payloads_hide_what_the_pool_hides(api: Api) -> None:
    pid = await default_pool(api)
    rules = {"hiddenFields": ["taxId", "contacts"]}
    await api.ok(
        UPDATE, {"id": pid, "input": {"name": "Public pool", "rules": rules}}, as_user=ADMIN
    )
    bob = await api.user_id("bob@demo.test")
    async with api.services.db.read() as session:
        cid = (
            await session.execute(
                select(Customer.id)
                .where(Customer.owner_id == bob, Customer.tax_id.is_not(None))
                .where(Customer.id.in_(select(Contact.customer_id)))
                .limit(1)
            )
        ).scalar_one()
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
