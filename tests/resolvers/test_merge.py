"""mergeCustomers through the real app: what moves, what disappears, who may."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.events import replay
from db.models import Collaborator, Customer, CustomerKey, Dispute, FollowUp, OwnershipEvent
from kernel.clock import FrozenClock
from resolvers.ids import global_id
from tests.conftest import Api, db_id, errors_of, serve

MANAGER, ALICE, BOB, DAN = (
    "manager.east@demo.test",
    "alice@demo.test",
    "bob@demo.test",
    "dan@demo.test",
)
CREATE = """mutation($i: CreateCustomerInput!, $c: Boolean! = false) {
  createCustomer(input: $i, confirmDuplicate: $c) { id }
}"""
# Phones warn: Bob confirms his duplicate, which a manager later merges.
WARN_ON_PHONES = {"name": "block", "taxId": "block", "phone": "warn", "emailDomain": "block"}


@pytest.fixture
async def api(database_url: str, clock: FrozenClock, tmp_path: Path) -> AsyncIterator[Api]:
    async with serve(database_url, clock, tmp_path, duplicate_actions=WARN_ON_PHONES) as served:
        yield served


MERGE = """mutation($k: ID!, $m: [ID!]!) {
  mergeCustomers(keepId: $k, mergeIds: $m, reason: "same company") {
    id ownerCreditShare mergedInto { id }
    contacts { name phone }
    collaborators { user { email } role creditShare }
    followUps(first: 10) { edges { node { summary } } }
    ownershipHistory(first: 20) { edges { node { kind reason } } }
  }
}"""
FOLLOW_UP = """mutation($c: ID!) {
  logFollowUp(input: {customerId: $c, channel: CALL, summary: "called the merged one"}) { id }
}"""
COLLABORATE = """mutation($c: ID!, $u: ID!) {
  addCollaborator(customerId: $c, userId: $u, role: SERVICE, creditShare: 20) { id }
}"""
DISPUTE = 'mutation($c: ID!) { openDispute(customerId: $c, reason: "mine first") { id } }'
CUSTOMER = "query($id: ID!) { customer(id: $id) { id name } }"
NODE = "query($id: ID!) { node(id: $id) { id ... on Customer { name } } }"
LIST = "query($s: String) { customers(first: 50, filter: {search: $s}) { totalCount edges { node { id } } } }"
CHECK = "query($n: String!) { duplicateCheck(input: {name: $n}) { customerId matchedOn } }"


async def _two_duplicates(api: Api) -> tuple[str, str]:
    kept = await api.ok(
        CREATE,
        {"i": {"name": "Halcyon Pumps", "contacts": [{"name": "Li", "phone": "13700001111"}]}},
        as_user=ALICE,
    )
    merged = await api.ok(
        CREATE,
        {
            "i": {
                "name": "Halcyon Pump Works",
                "contacts": [
                    {"name": "Li again", "phone": "+86 137 0000 1111"},
                    {"name": "Wang", "email": "wang@halcyon-pumps.cn"},
                ],
            },
            "c": True,
        },
        as_user=BOB,
    )
    return kept["createCustomer"]["id"], merged["createCustomer"]["id"]


async def test_merge_moves_everything_to_the_kept_customer(api: Api) -> None:
    keep, gone = await _two_duplicates(api)
    await api.ok(FOLLOW_UP, {"c": gone}, as_user=BOB)
    await api.ok(COLLABORATE, {"c": gone, "u": str(await api.user_id(DAN))}, as_user=BOB)
    # Alice hears of Bob's record through a duplicate answer and disputes it.
    told = await api.gql(CREATE, {"i": {"name": "Halcyon Pump Works Ltd"}}, as_user=ALICE)
    assert errors_of(told) == ["DUPLICATE_CUSTOMER"]
    dispute = (await api.ok(DISPUTE, {"c": gone}, as_user=ALICE))["openDispute"]["id"]
    admin = await api.token("admin@demo.test")
    before = (await api.ok(LIST, token=admin))["customers"]["totalCount"]

    kept = (await api.ok(MERGE, {"k": keep, "m": [gone]}, as_user=MANAGER))["mergeCustomers"]

    assert kept["id"] == keep and kept["mergedInto"] is None
    # Contacts deduplicated by phone (written differently), the new one moved.
    assert sorted(c["name"] for c in kept["contacts"]) == ["Li", "Wang"]
    assert [e["node"]["summary"] for e in kept["followUps"]["edges"]] == ["called the merged one"]
    shares = {c["user"]["email"]: (c["role"], c["creditShare"]) for c in kept["collaborators"]}
    # Alice 100 + Bob 80 + Dan 20, scaled back to 100.
    assert shares == {BOB: ("DEVELOPER", 40), DAN: ("SERVICE", 10)}
    assert kept["ownerCreditShare"] == 50
    kinds = [e["node"]["kind"] for e in kept["ownershipHistory"]["edges"]]
    assert kinds.count("CREATED") == 2 and kinds[-1] == "MERGED"
    # The merged id answers with the kept customer; lists, counts and search drop it.
    for doc in (CUSTOMER, NODE):
        found = await api.ok(doc, {"id": gone}, token=admin)
        assert next(iter(found.values()))["id"] == keep
    assert (await api.ok(LIST, token=admin))["customers"]["totalCount"] == before - 1
    found = (await api.ok(LIST, {"s": "halcyon"}, token=admin))["customers"]["edges"]
    assert [e["node"]["id"] for e in found] == [keep]
    # Its duplicate keys now belong to the kept customer.
    matches = (await api.ok(CHECK, {"n": "Halcyon Pump Works"}, token=admin))["duplicateCheck"]
    assert [(m["customerId"], m["matchedOn"]) for m in matches] == [(str(db_id(keep)), ["name"])]
    async with api.services.db.read() as s:
        row = await s.get(Customer, db_id(gone))
        assert row is not None and row.merged_into_id == db_id(keep) and row.owner_id is None
        assert (
            await s.scalar(select(func.count()).where(CustomerKey.customer_id == db_id(gone))) == 0
        )
        assert (await s.get(Dispute, db_id(dispute))).customer_id == db_id(keep)  # type: ignore[union-attr]
        assert await s.scalar(select(func.count()).where(FollowUp.customer_id == db_id(gone))) == 0
        events = (
            (
                await s.execute(
                    select(OwnershipEvent)
                    .where(OwnershipEvent.customer_id == db_id(keep))
                    .order_by(OwnershipEvent.id)
                )
            )
            .scalars()
            .all()
        )
        assert [e.kind for e in events].count("MERGED") == 1
        assert events[-1].details["merged_customer_id"] == db_id(gone)
        state = replay(events)
        collabs = (
            (await s.execute(select(Collaborator).where(Collaborator.customer_id == db_id(keep))))
            .scalars()
            .all()
        )
        assert state.owner_id == await api.user_id(ALICE)
        assert state.collaborators == {c.user_id: (c.role, c.credit_share) for c in collabs}
        assert state.owner_credit_share == 50


async def test_who_may_merge(api: Api) -> None:
    keep, gone = await _two_duplicates(api)
    for rep in (ALICE, BOB):
        assert errors_of(await api.gql(MERGE, {"k": keep, "m": [gone]}, as_user=rep)) == [
            "FORBIDDEN"
        ]
    west = (await api.ok(CREATE, {"i": {"name": "Halcyon West"}}, as_user="carol@demo.test"))[
        "createCustomer"
    ]["id"]
    # A West customer is invisible to the East manager: as if it did not exist.
    assert errors_of(await api.gql(MERGE, {"k": keep, "m": [west]}, as_user=MANAGER)) == [
        "NOT_FOUND"
    ]
    assert errors_of(await api.gql(MERGE, {"k": keep, "m": [keep]}, as_user=MANAGER)) == [
        "VALIDATION"
    ]
    async with api.services.db.read() as s:
        assert await s.scalar(select(func.count()).where(Customer.merged_into_id.is_not(None))) == 0
    # A director merges across teams; a merged id cannot be merged again.
    merged = await api.ok(MERGE, {"k": keep, "m": [gone, west]}, as_user="director@demo.test")
    assert merged["mergeCustomers"]["id"] == keep
    again = await api.gql(
        MERGE, {"k": keep, "m": [global_id("customer", db_id(gone))]}, as_user="admin@demo.test"
    )
    assert errors_of(again) == ["NOT_FOUND"]
