"""addCollaborator and removeCollaborator: shares always sum to 100, events replay."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from db.events import replay
from db.models import Collaborator, Customer, OwnershipEvent, User
from tests.conftest import Api, errors_of

ADD = """
mutation A($c: ID!, $u: ID!, $role: CollaboratorRole!, $share: Int!) {
  addCollaborator(customerId: $c, userId: $u, role: $role, creditShare: $share) {
    id version ownerCreditShare collaborators { user { email } role creditShare }
  }
}
"""
REMOVE = """
mutation R($c: ID!, $u: ID!) {
  removeCollaborator(customerId: $c, userId: $u) {
    id version ownerCreditShare collaborators { user { email } role creditShare }
  }
}
"""


async def solo_customer(api: Api, email: str) -> int:
    """A customer of `email` with the whole credit and no collaborators."""
    uid = await api.user_id(email)
    async with api.services.db.read() as s:
        helped = select(Collaborator.customer_id)
        return int(
            await s.scalar(
                select(func.min(Customer.id)).where(
                    Customer.owner_id == uid,
                    Customer.owner_credit_share == 100,
                    Customer.id.not_in(helped),
                )
            )
        )


async def add(
    api: Api, as_user: str, cid: int, email: str, share: int, role: str = "CLOSER"
) -> dict[str, Any]:
    variables = {
        "c": str(cid),
        "u": str(await api.user_id(email)),
        "role": role,
        "share": share,
    }
    return await api.gql(ADD, variables, as_user=as_user)


async def replayed(api: Api, cid: int) -> tuple[int, dict[int, tuple[str, int]]]:
    """The owner share and collaborators rebuilt from the events alone."""
    async with api.services.db.read() as s:
        events = (
            await s.execute(
                select(OwnershipEvent)
                .where(OwnershipEvent.customer_id == cid)
                .order_by(OwnershipEvent.id)
            )
        ).scalars()
        state = replay(events)
    return state.owner_credit_share, state.collaborators


async def stored(api: Api, cid: int) -> tuple[int, dict[int, tuple[str, int]]]:
    async with api.services.db.read() as s:
        owner = await s.scalar(select(Customer.owner_credit_share).where(Customer.id == cid))
        rows = (
            await s.execute(select(Collaborator).where(Collaborator.customer_id == cid))
        ).scalars()
        return int(owner or 0), {r.user_id: (r.role, r.credit_share) for r in rows}


async def test_shares_come_from_the_owner_and_always_sum_to_100(api: Api) -> None:
    cid = await solo_customer(api, "alice@demo.test")
    first = (await add(api, "alice@demo.test", cid, "bob@demo.test", 30))["data"]
    customer = first["addCollaborator"]
    assert customer["ownerCreditShare"] == 70
    assert customer["collaborators"] == [
        {"user": {"email": "bob@demo.test"}, "role": "CLOSER", "creditShare": 30}
    ]
    version = customer["version"]
    # The owner keeps at least min_owner_share (10%): 70 more would leave nothing.
    whole = await add(api, "alice@demo.test", cid, "carol@demo.test", 70, "SUPPORT")
    assert errors_of(whole) == ["VALIDATION"]
    assert whole["errors"][0]["extensions"]["minOwnerShare"] == 10
    second = (await add(api, "alice@demo.test", cid, "carol@demo.test", 60, "SUPPORT"))["data"]
    assert second["addCollaborator"]["ownerCreditShare"] == 10
    assert second["addCollaborator"]["version"] == version + 1
    over = await add(api, "alice@demo.test", cid, "dan@demo.test", 1)
    assert errors_of(over) == ["VALIDATION"]
    # Adding someone again changes their role and share; the owner's moves by the difference.
    changed = (await add(api, "manager.east@demo.test", cid, "bob@demo.test", 20, "DEVELOPER"))[
        "data"
    ]["addCollaborator"]
    assert changed["ownerCreditShare"] == 20
    owner, collaborators = await stored(api, cid)
    assert owner + sum(share for _, share in collaborators.values()) == 100
    assert await replayed(api, cid) == (owner, collaborators)
    async with api.services.db.read() as s:
        last = (
            await s.execute(
                select(OwnershipEvent)
                .where(OwnershipEvent.customer_id == cid)
                .order_by(OwnershipEvent.id.desc())
                .limit(1)
            )
        ).scalar_one()
    assert last.kind == "COLLABORATOR_ADDED"
    assert last.details == {
        "user_id": await api.user_id("bob@demo.test"),
        "role": "DEVELOPER",
        "access": "WRITE",
        "credit_share": 20,
        "owner_credit_share": 20,
        "expires_at": None,
    }


async def test_removing_gives_the_share_back_to_the_owner(api: Api) -> None:
    cid = await solo_customer(api, "alice@demo.test")
    await add(api, "alice@demo.test", cid, "bob@demo.test", 40)
    bob = str(await api.user_id("bob@demo.test"))
    body = await api.gql(REMOVE, {"c": str(cid), "u": bob}, as_user="alice@demo.test")
    customer = body["data"]["removeCollaborator"]
    assert customer["ownerCreditShare"] == 100 and customer["collaborators"] == []
    assert await replayed(api, cid) == await stored(api, cid) == (100, {})
    again = await api.gql(REMOVE, {"c": str(cid), "u": bob}, as_user="alice@demo.test")
    assert errors_of(again) == ["NOT_FOUND"]
    async with api.services.db.read() as s:
        kinds = (
            await s.execute(
                select(OwnershipEvent.kind)
                .where(OwnershipEvent.customer_id == cid)
                .order_by(OwnershipEvent.id.desc())
                .limit(2)
            )
        ).scalars()
        assert list(kinds) == ["COLLABORATOR_REMOVED", "COLLABORATOR_ADDED"]


async def test_bad_collaborators_fail_clearly_and_change_nothing(api: Api) -> None:
    cid = await solo_customer(api, "alice@demo.test")
    async with api.services.db.write() as s, s.begin():
        await s.execute(update(User).where(User.email == "dan@demo.test").values(active=False))
        pooled = await s.scalar(select(func.min(Customer.id)).where(Customer.owner_id.is_(None)))
    cases = [
        (cid, "alice@demo.test", 10, "VALIDATION"),  # the owner
        (cid, "bob@demo.test", 101, "VALIDATION"),
        (cid, "bob@demo.test", -1, "VALIDATION"),
        (cid, "dan@demo.test", 10, "VALIDATION"),  # deactivated
    ]
    for customer, email, share, code in cases:
        body = await add(api, "alice@demo.test", customer, email, share)
        assert errors_of(body) == [code], (email, share, body)
    unknown = await api.gql(
        ADD,
        {"c": str(cid), "u": "99999999", "role": "CLOSER", "share": 10},
        as_user="alice@demo.test",
    )
    assert errors_of(unknown) == ["NOT_FOUND"]
    assert errors_of(await add(api, "admin@demo.test", pooled, "bob@demo.test", 10)) == [
        "VALIDATION"
    ]
    assert await stored(api, cid) == (100, {})


async def test_only_the_owner_and_their_managers_may_share_credit(api: Api) -> None:
    cid = await solo_customer(api, "alice@demo.test")
    assert errors_of(await add(api, "carol@demo.test", cid, "bob@demo.test", 10)) == ["NOT_FOUND"]
    assert not (await add(api, "alice@demo.test", cid, "bob@demo.test", 10)).get("errors")
    # Bob now sees the customer as a collaborator, but may not hand out its credit.
    assert errors_of(await add(api, "bob@demo.test", cid, "carol@demo.test", 10)) == ["FORBIDDEN"]
    assert not (await add(api, "director@demo.test", cid, "carol@demo.test", 10)).get("errors")
    assert errors_of(await add(api, "judge@demo.test", cid, "carol@demo.test", 5)) == ["NOT_FOUND"]


HISTORY = """
query H($c: ID!) {
  ownershipEvents(customerId: $c, first: 50) { edges { node { kind reason actor { email } } } }
}
"""


async def test_collaborator_events_say_who_with_which_role_and_share(api: Api) -> None:
    cid = await solo_customer(api, "alice@demo.test")
    assert not (await add(api, "alice@demo.test", cid, "bob@demo.test", 30)).get("errors")
    bob = await api.user_id("bob@demo.test")
    await api.ok(REMOVE, {"c": str(cid), "u": str(bob)}, as_user="alice@demo.test")
    data = await api.ok(HISTORY, {"c": str(cid)}, as_user="alice@demo.test")
    events = {
        e["node"]["kind"]: e["node"]
        for e in data["ownershipEvents"]["edges"]
        if e["node"]["kind"].startswith("COLLABORATOR")
    }
    async with api.services.db.read() as s:
        name = await s.scalar(select(User.name).where(User.id == bob))
    added, removed = events["COLLABORATOR_ADDED"], events["COLLABORATOR_REMOVED"]
    assert (
        added["reason"]
        == f"{name} joined as CLOSER (WRITE) with 30% of the credit; the owner keeps 70%."
    )
    assert removed["reason"] == f"{name} (CLOSER, 30%) removed; the owner has 100% of the credit."
    assert added["actor"]["email"] == removed["actor"]["email"] == "alice@demo.test"
