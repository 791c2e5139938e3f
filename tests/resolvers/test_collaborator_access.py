"""Collaborators with READ or WRITE access and an expiry, through the API and the
scheduler on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from db.events import replay
from db.models import Collaborator, Customer, OwnershipEvent
from kernel.clock import FrozenClock
from ownergraph.scheduler import run_jobs_once
from tests.conftest import Api, db_id, errors_of
from tests.resolvers.test_collaborators import solo_customer

ADD = """
mutation A($c: ID!, $u: ID!, $role: CollaboratorRole!, $share: Int!,
           $access: CollaboratorAccess, $expires: DateTime) {
  addCollaborator(customerId: $c, userId: $u, role: $role, creditShare: $share,
                  access: $access, expiresAt: $expires) {
    ownerCreditShare collaborators { user { email } access expiresAt creditShare }
  }
}
"""
ADD_DEFAULT = """
mutation A($c: ID!, $u: ID!) {
  addCollaborator(customerId: $c, userId: $u, role: CLOSER, creditShare: 0) {
    collaborators { user { email } access expiresAt }
  }
}
"""
CUSTOMER = """
query C($id: ID!) { customer(id: $id) { id name contacts { phone } } }
"""
FOLLOW_UP = """
mutation F($c: ID!) {
  logFollowUp(input: {customerId: $c, channel: CALL, summary: "Called about the renewal."}) {
    id
  }
}
"""
UPDATE = """
mutation U($id: ID!) { updateCustomer(id: $id, input: {tags: ["renewal"]}) { id tags } }
"""


async def add(
    api: Api,
    cid: int,
    email: str,
    *,
    share: int = 0,
    role: str = "CLOSER",
    access: str | None = None,
    expires: str | None = None,
) -> dict[str, Any]:
    variables: dict[str, Any] = {
        "c": str(cid),
        "u": str(await api.user_id(email)),
        "role": role,
        "share": share,
        "expires": expires,
    }
    if access is not None:  # left out: the argument's default
        variables["access"] = access
    return await api.gql(ADD, variables, as_user="alice@demo.test")


async def test_read_sees_and_write_also_acts(api: Api) -> None:
    cid = await solo_customer(api, "alice@demo.test")
    default = await api.ok(
        ADD_DEFAULT,
        {"c": str(cid), "u": str(await api.user_id("carol@demo.test"))},
        as_user="alice@demo.test",
    )
    assert default["addCollaborator"]["collaborators"] == [
        {"user": {"email": "carol@demo.test"}, "access": "WRITE", "expiresAt": None}
    ]
    assert not (await add(api, cid, "bob@demo.test", access="READ")).get("errors")
    seen = (await api.ok(CUSTOMER, {"id": str(cid)}, as_user="bob@demo.test"))["customer"]
    assert db_id(seen["id"]) == cid
    assert all(c["phone"] is not None for c in seen["contacts"]) and seen["contacts"]
    for doc, variables in ((FOLLOW_UP, {"c": str(cid)}), (UPDATE, {"id": str(cid)})):
        body = await api.gql(doc, variables, as_user="bob@demo.test")
        assert errors_of(body) == ["FORBIDDEN"], body
    # WRITE: the same calls go through.
    assert not (await add(api, cid, "bob@demo.test", access="WRITE")).get("errors")
    await api.ok(FOLLOW_UP, {"c": str(cid)}, as_user="bob@demo.test")
    updated = await api.ok(UPDATE, {"id": str(cid)}, as_user="bob@demo.test")
    assert updated["updateCustomer"]["tags"] == ["renewal"]
    # A SERVICE user: a SERVICE collaborator follows up with WRITE only.
    assert not (await add(api, cid, "dan@demo.test", role="SERVICE", access="READ")).get("errors")
    await api.ok(CUSTOMER, {"id": str(cid)}, as_user="dan@demo.test")
    assert errors_of(await api.gql(FOLLOW_UP, {"c": str(cid)}, as_user="dan@demo.test")) == [
        "FORBIDDEN"
    ]
    assert not (await add(api, cid, "dan@demo.test", role="SERVICE", access="WRITE")).get("errors")
    await api.ok(FOLLOW_UP, {"c": str(cid)}, as_user="dan@demo.test")


async def test_expired_collaborators_go_and_their_shares_return(
    api: Api, clock: FrozenClock
) -> None:
    cid = await solo_customer(api, "alice@demo.test")
    soon = (clock.now() + timedelta(days=2)).isoformat()
    later = (clock.now() + timedelta(days=30)).isoformat()
    past = (clock.now() - timedelta(minutes=1)).isoformat()
    too_late = await add(api, cid, "bob@demo.test", share=20, expires=past)
    assert errors_of(too_late) == ["VALIDATION"]
    assert too_late["errors"][0]["extensions"]["field"] == "expiresAt"
    added = await add(api, cid, "bob@demo.test", share=20, expires=soon)
    assert not added.get("errors"), added
    assert added["data"]["addCollaborator"]["collaborators"][0]["expiresAt"] is not None
    assert not (await add(api, cid, "carol@demo.test", share=30, expires=soon)).get("errors")
    dan = await add(api, cid, "dan@demo.test", share=10, role="SERVICE", expires=later)
    assert not dan.get("errors"), dan
    await api.ok(CUSTOMER, {"id": str(cid)}, as_user="bob@demo.test")

    clock.advance(days=3)
    # Expired is expired at once, before the job has run.
    assert errors_of(await api.gql(CUSTOMER, {"id": str(cid)}, as_user="bob@demo.test")) == [
        "NOT_FOUND"
    ]
    report = await run_jobs_once(api.services)
    assert report.expired == 2
    async with api.services.db.read() as s:
        left = {
            r.user_id: r.credit_share
            for r in (
                await s.execute(select(Collaborator).where(Collaborator.customer_id == cid))
            ).scalars()
        }
        customer = await s.get(Customer, cid)
        events = list(
            (
                await s.execute(
                    select(OwnershipEvent)
                    .where(OwnershipEvent.customer_id == cid)
                    .order_by(OwnershipEvent.id)
                )
            ).scalars()
        )
    assert customer is not None
    assert left == {await api.user_id("dan@demo.test"): 10}
    assert customer.owner_credit_share == 90
    removed = [e for e in events if e.kind == "COLLABORATOR_REMOVED"]
    assert [(e.details["user_id"], e.details["credit_share"]) for e in removed] == [
        (await api.user_id("bob@demo.test"), 20),
        (await api.user_id("carol@demo.test"), 30),
    ]
    assert {e.details["access"] for e in removed} == {"WRITE"}
    assert all(e.rule == "collaborator_expired" and "expired" in (e.reason or "") for e in removed)
    state = replay(events)
    assert state.owner_credit_share == 90
    assert state.collaborators == {await api.user_id("dan@demo.test"): ("SERVICE", 10)}
    # Nothing more to do on the next round.
    assert (await run_jobs_once(api.services)).expired == 0
