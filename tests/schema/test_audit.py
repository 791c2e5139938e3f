"""Every sensitive read by an audited role (setting `audited_roles`: AUDITOR, ADMIN and
DIRECTOR by default) is written down, over HTTP and in subscriptions; nobody else's are."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from db.models import AuditEntry, User
from kernel.clock import FrozenClock
from tests.conftest import Api, db_id, serve
from tests.subscriptions.test_live import connect

SENSITIVE = "{ customers(first: 3) { edges { node { id name taxId contacts { phone } } } } }"
NAMES_ONLY = "{ customers(first: 3) { edges { node { id name } } } }"
CREATE = 'mutation { createCustomer(input: {name: "Audited Ltd", taxId: "AUD-1"}) { id } }'
WITH_TAX_ID = """
subscription { ownershipChanged { id customer { id taxId } } }
"""


async def reads_by(api: Api, email: str) -> list[int]:
    async with api.services.db.read() as s:
        uid = (await s.execute(select(User.id).where(User.email == email))).scalar_one()
        rows = await s.execute(
            select(AuditEntry.customer_id)
            .where(AuditEntry.actor_id == uid, AuditEntry.action == "customer.read_sensitive")
            .order_by(AuditEntry.customer_id)
        )
        return list(rows.scalars())


async def test_auditor_reads_are_audited_per_customer(api: Api) -> None:
    data = await api.ok(SENSITIVE, as_user="audit@demo.test")
    seen = sorted(db_id(e["node"]["id"]) for e in data["customers"]["edges"])
    assert await reads_by(api, "audit@demo.test") == seen
    await api.ok(NAMES_ONLY, as_user="audit@demo.test")
    assert await reads_by(api, "audit@demo.test") == seen  # no sensitive field, no entry
    await api.ok(SENSITIVE, as_user="manager.east@demo.test")
    assert await reads_by(api, "manager.east@demo.test") == []
    await api.ok(SENSITIVE, as_user="alice@demo.test")
    assert await reads_by(api, "alice@demo.test") == []


async def test_the_audited_roles_are_a_setting(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(database_url, clock, tmp_path, audited_roles=["AUDITOR"]) as api:
        await api.ok(SENSITIVE, as_user="admin@demo.test")
        await api.ok(SENSITIVE, as_user="director@demo.test")
        assert await reads_by(api, "admin@demo.test") == []
        assert await reads_by(api, "director@demo.test") == []
        await api.ok(SENSITIVE, as_user="audit@demo.test")
        assert await reads_by(api, "audit@demo.test")
    async with serve(database_url, clock, tmp_path, audited_roles=["MANAGER"]) as api:
        data = await api.ok(SENSITIVE, as_user="manager.east@demo.test")
        seen = {db_id(e["node"]["id"]) for e in data["customers"]["edges"] if e["node"]["taxId"]}
        assert seen and seen <= set(await reads_by(api, "manager.east@demo.test"))


async def test_auditor_reads_in_a_subscription_are_audited_per_payload(api: Api) -> None:
    """Per delivered payload: two subscriptions sharing one execution (same person, same
    document) are two reads, and two entries."""
    token = await api.token("audit@demo.test")
    async with connect(api.app, token) as live:
        ops = [await live.subscribe(WITH_TAX_ID) for _ in range(2)]
        await asyncio.sleep(0.2)  # both following before the event commits
        created = await api.ok(CREATE, as_user="alice@demo.test")
        cid = db_id(created["createCustomer"]["id"])
        # Subscribed without `since`: wait for this customer's event to arrive.
        for op in ops:
            while True:
                data = await live.next(op)
                if db_id(data["ownershipChanged"]["customer"]["id"]) == cid:
                    break
        # The payload's reads are written once it has been delivered.
        for _ in range(100):
            if (await reads_by(api, "audit@demo.test")).count(cid) == 2:
                break
            await asyncio.sleep(0.05)
        for op in ops:
            await live.ws.send_json({"id": op, "type": "complete"})
    assert (await reads_by(api, "audit@demo.test")).count(cid) == 2
