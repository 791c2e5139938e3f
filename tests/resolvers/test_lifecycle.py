"""Lifecycle handoff (DESIGN.md rule 5): a customer becoming ACTIVE moves to the service
team when so configured; the winner stays on as collaborator with their credit share."""

from __future__ import annotations

from sqlalchemy import func, select, update

from db.enums import Stage
from db.models import AuditEntry, Collaborator, Customer, OwnershipEvent, User
from tests.conftest import Api

TO_ACTIVE = """
mutation U($id: ID!) {
  updateCustomer(id: $id, input: {stage: ACTIVE}) {
    id stage version ownerCreditShare owner { email } team { name }
    collaborators { user { email } role creditShare }
    ownershipHistory(first: 100) { edges { node {
      kind rule fromOwner { email } toOwner { email } actor { email }
    } } }
  }
}
"""


async def alices_open_customer(api: Api, *, created_by_her: bool) -> int:
    """One of alice's customers not yet ACTIVE, without collaborators."""
    alice = await api.user_id("alice@demo.test")
    creator = Customer.created_by_id == alice
    async with api.services.db.read() as session:
        stmt = (
            select(Customer.id)
            .where(
                Customer.owner_id == alice,
                Customer.stage != Stage.ACTIVE,
                creator if created_by_her else (Customer.created_by_id.is_(None) | ~creator),
                ~select(Collaborator.user_id)
                .where(Collaborator.customer_id == Customer.id)
                .exists(),
            )
            .order_by(Customer.id)
            .limit(1)
        )
        return (await session.execute(stmt)).scalar_one()


async def test_active_customer_goes_to_service_winner_keeps_credit(handoff_api: Api) -> None:
    api = handoff_api
    cid = await alices_open_customer(api, created_by_her=True)
    async with api.services.db.read() as session:
        version = (
            await session.execute(select(Customer.version).where(Customer.id == cid))
        ).scalar_one()

    data = await api.ok(TO_ACTIVE, {"id": str(cid)}, as_user="alice@demo.test")

    customer = data["updateCustomer"]  # alice still sees it, as collaborator
    assert customer["stage"] == "ACTIVE" and customer["version"] == version + 1
    assert customer["owner"]["email"] == "dan@demo.test" and customer["team"]["name"] == "Service"
    assert customer["ownerCreditShare"] == 0
    assert customer["collaborators"] == [
        {"user": {"email": "alice@demo.test"}, "role": "DEVELOPER", "creditShare": 100}
    ]
    last = customer["ownershipHistory"]["edges"][-1]["node"]
    assert last == {
        "kind": "STAGE_HANDOFF",
        "rule": "lifecycle_handoff",
        "fromOwner": {"email": "alice@demo.test"},
        "toOwner": {"email": "dan@demo.test"},
        "actor": {"email": "alice@demo.test"},
    }
    async with api.services.db.read() as session:
        event = (
            await session.execute(
                select(OwnershipEvent)
                .where(OwnershipEvent.customer_id == cid)
                .order_by(OwnershipEvent.id.desc())
                .limit(1)
            )
        ).scalar_one()
        row = (await session.execute(select(Customer).where(Customer.id == cid))).scalar_one()
    assert event.details["collaborator_added"] == {
        "user_id": await api.user_id("alice@demo.test"),
        "role": "DEVELOPER",
        "credit_share": 100,
    }
    assert event.details["owner_credit_share"] == 0
    assert row.previous_owner_id == await api.user_id("alice@demo.test")
    assert row.recycle_clock_at == row.owned_since == api.services.clock.now()


async def test_a_closer_and_a_service_collaborator_keep_shares_at_100(handoff_api: Api) -> None:
    api = handoff_api
    cid = await alices_open_customer(api, created_by_her=False)
    dan = await api.user_id("dan@demo.test")
    async with api.services.db.write() as session, session.begin():
        session.add(Collaborator(customer_id=cid, user_id=dan, role="SERVICE", credit_share=10))
        await session.execute(
            update(Customer).where(Customer.id == cid).values(owner_credit_share=90)
        )

    customer = (await api.ok(TO_ACTIVE, {"id": str(cid)}, as_user="alice@demo.test"))[
        "updateCustomer"
    ]

    assert customer["owner"]["email"] == "dan@demo.test"
    assert customer["ownerCreditShare"] == 10  # dan's share as collaborator, now as owner
    assert customer["collaborators"] == [
        {"user": {"email": "alice@demo.test"}, "role": "CLOSER", "creditShare": 90}
    ]
    async with api.services.db.read() as session:
        events = await session.scalar(
            select(func.count())
            .select_from(OwnershipEvent)
            .where(OwnershipEvent.customer_id == cid, OwnershipEvent.kind == "STAGE_HANDOFF")
        )
    assert events == 1


async def test_no_handoff_when_off_or_when_service_is_full(api: Api, handoff_api: Api) -> None:
    cid = await alices_open_customer(api, created_by_her=True)
    customer = (await api.ok(TO_ACTIVE, {"id": str(cid)}, as_user="alice@demo.test"))[
        "updateCustomer"
    ]
    assert customer["owner"]["email"] == "alice@demo.test" and customer["collaborators"] == []
    async with api.services.db.read() as session:
        won = (
            await session.execute(
                select(AuditEntry).where(
                    AuditEntry.customer_id == cid, AuditEntry.action == "customer.won"
                )
            )
        ).scalar_one()
    assert won.detail["owner_id"] == await api.user_id("alice@demo.test")

    async with api.services.db.write() as session, session.begin():
        await session.execute(update(User).where(User.email == "dan@demo.test").values(capacity=0))
    other = await alices_open_customer(handoff_api, created_by_her=True)
    customer = (await handoff_api.ok(TO_ACTIVE, {"id": str(other)}, as_user="alice@demo.test"))[
        "updateCustomer"
    ]
    assert customer["stage"] == "ACTIVE" and customer["owner"]["email"] == "alice@demo.test"
