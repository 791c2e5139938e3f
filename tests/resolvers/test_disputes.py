"""Disputes (DESIGN.md rule 6) through the real API: auto-resolution by each rule,
escalation with its reminder, the arbiter's award with a credit split, withdrawal,
visibility, the error codes, two arbiters at once; and the dispute right (who may open
one at all), the claimant's view once a dispute ends, and the pool's cooldown."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from db.enums import DisputeStatus, EventKind, Stage
from db.events import record_event
from db.models import Collaborator, Customer, Dispute, FollowUp, OwnershipEvent, Reminder
from db.outbox import take_messages
from kernel.errors import Validation
from resolvers.awards import Share, credit_after
from resolvers.evidence import Evidence, Side, decide
from resolvers.ids import global_id
from tests.conftest import SEED_TIME, db_id, errors_of

DISPUTE = """
fragment D on Dispute {
  id status rule reason evidence openedAt resolvedAt
  customer { id name }
  claimant { email } respondent { email } awardedTo { email } arbiter { email }
  resolvedBy { email } creditSplit { user { email } percent }
}
"""
OPEN = (
    """
mutation($c: ID!, $r: String!) { openDispute(customerId: $c, reason: $r) { ...D } }
"""
    + DISPUTE
)
RESOLVE = (
    """
mutation($id: ID!, $to: ID!, $split: [CreditShareInput!], $note: String) {
  resolveDispute(id: $id, awardToUserId: $to, creditSplit: $split, note: $note) { ...D }
}
"""
    + DISPUTE
)
WITHDRAW = "mutation($id: ID!) { withdrawDispute(id: $id) { ...D } }" + DISPUTE
DISPUTES = """
query($status: DisputeStatus) {
  disputes(status: $status) { edges { node { id status customer { id } claimant { email } } } }
}
"""
CREATE = """
mutation($name: String!, $tax: String) {
  createCustomer(input: {name: $name, taxId: $tax, dealValue: 125000}) { id }
}
"""
CUSTOMER = """
query($id: ID!) {
  customer(id: $id) {
    id name taxId dealValue ownerCreditShare version
    owner { email }
    collaborators { user { email } role creditShare }
    contacts { phone }
    openDisputes { id }
  }
}
"""
REMINDERS = "{ myReminders { id kind status customer { id } } }"

ALICE, BOB, CAROL = "alice@demo.test", "bob@demo.test", "carol@demo.test"
JUDGE, MANAGER, ADMIN = "judge@demo.test", "manager.east@demo.test", "admin@demo.test"
REASON = "I met their CTO at the fair before anyone else called them."


async def create(api: Any, email: str, name: str, **values: Any) -> str:
    """A customer created through the API, then (for the story a test tells) with some
    recorded facts rewritten directly in the database."""
    cid = (await api.ok(CREATE, {"name": name, "tax": "91310000TX" + name[:3]}, as_user=email))[
        "createCustomer"
    ]["id"]
    if values:
        await arrange(api, cid, **values)
    return cid


async def arrange(api: Any, customer_id: str, **values: Any) -> None:
    async with api.services.db.write() as session, session.begin():
        await session.execute(
            update(Customer).where(Customer.id == db_id(customer_id)).values(values)
        )


async def follow_up(api: Any, customer_id: str, email: str, days_ago: int) -> None:
    """A follow-up on record (as if logged while the author owned or served it)."""
    async with api.services.db.write() as session, session.begin():
        session.add(
            FollowUp(
                customer_id=db_id(customer_id),
                author_id=await api.user_id(email),
                at=SEED_TIME - timedelta(days=days_ago),
                channel="CALL",
                summary="Call about the renewal.",
            )
        )


async def events(api: Any, customer_id: str, kind: str = EventKind.DISPUTE_RESOLVED) -> list[Any]:
    async with api.services.db.read() as session:
        stmt = select(OwnershipEvent).where(
            OwnershipEvent.customer_id == db_id(customer_id), OwnershipEvent.kind == kind
        )
        return list((await session.execute(stmt.order_by(OwnershipEvent.id))).scalars())


async def row(api: Any, model: Any, ident: str | int) -> Any:
    async with api.services.db.read() as session:
        return await session.get(model, db_id(ident))


async def seeded_dispute(api: Any) -> dict[str, Any]:
    """The demo's escalated dispute: bob claims alice's customer; judge arbitrates."""
    edges = (await api.ok(DISPUTES, {"status": "ESCALATED"}, as_user=JUDGE))["disputes"]["edges"]
    assert len(edges) == 1
    return edges[0]["node"]


async def told(api: Any, email: str, name: str) -> dict[str, Any]:
    """`email` tries to enter `name` and hears DUPLICATE_CUSTOMER: a right to dispute it."""
    body = await api.gql(CREATE, {"name": name}, as_user=email)
    assert errors_of(body) == ["DUPLICATE_CUSTOMER"]
    return body["errors"][0]


async def undecidable(api: Any, name: str) -> str:
    """Alice's customer that no rule can settle: imported, no deal, no recent follow-up.
    Bob has just been told it exists, so he may dispute it."""
    cid = await create(api, ALICE, name, created_by_id=None)
    await told(api, BOB, name)
    return cid


# Auto-resolution, one rule at a time.


async def test_rep_disputes_after_duplicate_customer(api: Any) -> None:
    await api.ok(CREATE, {"name": "Quillon Robotics Co., Ltd."}, as_user=ALICE)
    body = await api.gql(CREATE, {"name": "Quillon Robotics Ltd"}, as_user=BOB)
    assert errors_of(body) == ["DUPLICATE_CUSTOMER"]
    cid = body["errors"][0]["extensions"]["customerId"]
    assert errors_of(await api.gql(CUSTOMER, {"id": cid}, as_user=BOB)) == ["NOT_FOUND"]

    dispute = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=BOB))["openDispute"]

    assert dispute["status"] == "AUTO_RESOLVED"
    assert dispute["rule"] == "first_entry"
    assert dispute["awardedTo"] == {"email": ALICE}
    assert dispute["respondent"] == {"email": ALICE}
    assert dispute["resolvedAt"] is not None
    assert any("Alice Wang (respondent) created it on 2026-06-01" in e for e in dispute["evidence"])
    assert dispute["evidence"][-1].startswith("Decided by rule first_entry: Alice Wang")
    # Nothing changed hands, so nothing was written to the ownership history.
    assert await events(api, cid) == []
    # The dispute is over: the claimant sees its outcome, never the customer's data.
    assert dispute["customer"] == {
        "id": global_id("Customer", int(cid)),
        "name": "Quillon Robotics Co., Ltd.",
    }
    assert errors_of(await api.gql(CUSTOMER, {"id": cid}, as_user=BOB)) == ["NOT_FOUND"]
    assert errors_of(await api.gql(CUSTOMER, {"id": cid}, as_user=CAROL)) == ["NOT_FOUND"]


async def test_first_entry_awards_the_claimant_and_moves_ownership(api: Any) -> None:
    alice = await api.user_id(ALICE)
    cid = await create(api, BOB, "Marrow Freight", owner_id=alice)  # bob entered it first
    await told(api, BOB, "Marrow Freight")

    dispute = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=BOB))["openDispute"]

    assert (dispute["status"], dispute["rule"]) == ("AUTO_RESOLVED", "first_entry")
    assert dispute["awardedTo"] == {"email": BOB}
    assert dispute["creditSplit"] == [{"user": {"email": BOB}, "percent": 100}]
    customer = await row(api, Customer, cid)
    assert customer.owner_id == await api.user_id(BOB)
    assert customer.previous_owner_id == alice
    assert customer.owned_since == SEED_TIME and customer.recycle_clock_at == SEED_TIME
    assert customer.version == 2
    [event] = await events(api, cid)
    assert (event.from_user_id, event.to_user_id, event.rule) == (
        alice,
        customer.owner_id,
        "first_entry",
    )
    assert event.details["dispute_id"] == db_id(dispute["id"])
    assert event.details["owner_credit_share"] == 100 and event.details["collaborators"] == []


async def test_closed_deal_keeps_the_owner_without_an_event(api: Any) -> None:
    cid = await undecidable(api, "Brightwater Pumps")
    await arrange(api, cid, stage=Stage.ACTIVE)  # with the deal value it was created with

    dispute = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=BOB))["openDispute"]

    assert (dispute["status"], dispute["rule"]) == ("AUTO_RESOLVED", "closed_deal")
    assert dispute["awardedTo"] == {"email": ALICE}
    # No record of the moment it became ACTIVE: it counts as entered so, for alice.
    assert (
        "Closed deal: Alice Wang (respondent) owned it when it was entered ACTIVE."
        in dispute["evidence"]
    )
    # Evidence is for the claimant's eyes too: never the deal value itself.
    assert not any("125" in line for line in dispute["evidence"])
    assert await events(api, cid) == []
    assert (await row(api, Customer, cid)).version == 1


async def test_closed_deal_before_a_handoff_awards_the_claimant(api: Any) -> None:
    alice, bob = await api.user_id(ALICE), await api.user_id(BOB)
    # Bob closed it and handed it to alice; it has no deal value on record now.
    cid = await undecidable(api, "Copperline Textiles")
    await arrange(api, cid, stage=Stage.ACTIVE, deal_value=None)
    async with api.services.db.write() as session, session.begin():
        await record_event(
            session,
            customer_id=db_id(cid),
            kind=EventKind.STAGE_HANDOFF,
            at=SEED_TIME - timedelta(days=3),
            from_user_id=bob,
            to_user_id=alice,
            rule="lifecycle_handoff",
        )
        take_messages(session)

    dispute = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=BOB))["openDispute"]

    assert (dispute["status"], dispute["rule"]) == ("AUTO_RESOLVED", "closed_deal")
    assert dispute["awardedTo"] == {"email": BOB}
    assert (
        "Closed deal: Bob Li (claimant) owned it when it became ACTIVE on 2026-05-29."
        in dispute["evidence"]
    )
    assert dispute["evidence"][3] == (
        "Ownership history (2 events): 2026-06-01 created: pool → Alice Wang (first_entry); "
        "2026-05-29 stage handoff: Bob Li → Alice Wang (lifecycle_handoff)."
    )
    assert (await row(api, Customer, cid)).owner_id == bob


async def test_recent_follow_up_awards_the_claimant(api: Any) -> None:
    cid = await undecidable(api, "Harrow Dental Supply")
    await follow_up(api, cid, ALICE, days_ago=45)
    await follow_up(api, cid, BOB, days_ago=40)
    await follow_up(api, cid, BOB, days_ago=3)

    dispute = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=BOB))["openDispute"]

    assert (dispute["status"], dispute["rule"]) == ("AUTO_RESOLVED", "recent_follow_up")
    assert dispute["awardedTo"] == {"email": BOB}
    assert (
        "Follow-ups: by Bob Li (claimant): 2 (latest 2026-05-29); "
        "by Alice Wang (respondent): 1 (latest 2026-04-17)." in dispute["evidence"]
    )
    assert (await row(api, Customer, cid)).owner_id == await api.user_id(BOB)
    [event] = await events(api, cid)
    assert event.rule == "recent_follow_up"


def test_rules_apply_in_the_configured_order() -> None:
    now = SEED_TIME
    claimant = Side(2, "Bob Li", "claimant", 1, now - timedelta(days=2))
    respondent = Side(1, "Alice Wang", "respondent", 4, now - timedelta(days=60))
    evidence = Evidence(
        claimant=claimant,
        respondent=respondent,
        created_by_id=1,
        created_by_name="Alice Wang",
        created_at=now - timedelta(days=90),
        stage=Stage.ACTIVE,
        closer_id=3,  # neither side closed the deal: closed_deal cannot decide
        closed_at=now - timedelta(days=10),
        history=(),
        event_count=0,
        now=now,
        recent_days=30,
    )
    default = decide(evidence, ["first_entry", "closed_deal", "recent_follow_up"])
    assert default is not None and (default.rule, default.winner) == ("first_entry", respondent)
    later = decide(evidence, ["closed_deal", "recent_follow_up", "first_entry"])
    assert later is not None and (later.rule, later.winner) == ("recent_follow_up", claimant)
    assert decide(evidence, ["closed_deal"]) is None
    with pytest.raises(ValueError, match="seniority"):
        decide(evidence, ["seniority"])


def test_credit_after_an_award() -> None:
    alice, bob, dan = 1, 2, 3
    parties: set[int | None] = {bob, alice}
    # Bob collaborated with 20% and wins: the owner's 80% and his own 20% are his.
    assert credit_after(alice, 80, {bob: ("CLOSER", 20)}, bob, None, parties) == (100, {})
    # 80/20: alice stays on as a developer; dan keeps his role and is named.
    split = [Share(bob, 70), Share(alice, 20), Share(dan, 10)]
    assert credit_after(alice, 90, {dan: ("SERVICE", 10)}, bob, split, parties) == (
        70,
        {alice: ("DEVELOPER", 20), dan: ("SERVICE", 10)},
    )
    with pytest.raises(Validation):  # dan's unnamed 10% would make 110
        credit_after(
            alice, 90, {dan: ("SERVICE", 10)}, bob, split[:1] + [Share(alice, 30)], parties
        )
    with pytest.raises(Validation):  # a stranger to the customer
        credit_after(alice, 100, {}, bob, [Share(bob, 90), Share(dan, 10)], parties)


# Escalation.


async def test_undecided_dispute_escalates_to_the_team_manager(api: Any) -> None:
    cid = await undecidable(api, "Tidewell Ceramics")
    await follow_up(api, cid, ALICE, days_ago=50)

    dispute = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=BOB))["openDispute"]

    assert dispute["status"] == "ESCALATED" and dispute["rule"] is None
    assert dispute["arbiter"] == {"email": MANAGER} and dispute["awardedTo"] is None
    assert dispute["evidence"][:4] == [
        "First entry: neither party (imported on 2026-06-01).",
        "Follow-ups: by Bob Li (claimant): 0; by Alice Wang (respondent): 1 (latest 2026-04-12).",
        "Closed deal: none (stage LEAD).",
        "Ownership history (1 event): 2026-06-01 created: pool → Alice Wang (first_entry).",
    ]
    assert dispute["evidence"][-1] == (
        "No rule decides (first_entry, closed_deal, recent_follow_up): escalated to Marcus Lee."
    )
    reminders = (await api.ok(REMINDERS, as_user=MANAGER))["myReminders"]
    assert [(r["kind"], r["status"], r["customer"]["id"]) for r in reminders] == [
        ("DISPUTE_ASSIGNED", "PENDING", cid)
    ]
    stored = await row(api, Reminder, reminders[0]["id"])
    assert stored.ref_id == db_id(dispute["id"]) and stored.due_at == SEED_TIME
    # The customer shows it among its open disputes.
    seen = (await api.ok(CUSTOMER, {"id": cid}, as_user=ALICE))["customer"]
    assert seen["openDisputes"] == [{"id": dispute["id"]}]


async def test_escalation_passes_over_a_manager_who_is_a_party(api: Any) -> None:
    cid = await undecidable(api, "Northgate Seeds")

    dispute = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=MANAGER))["openDispute"]

    assert dispute["claimant"] == {"email": MANAGER}
    assert dispute["status"] == "ESCALATED" and dispute["arbiter"] == {"email": JUDGE}
    kinds = [r["kind"] for r in (await api.ok(REMINDERS, as_user=JUDGE))["myReminders"]]
    assert kinds.count("DISPUTE_ASSIGNED") == 2  # the demo's dispute and this one
    # Managers may arbitrate their team's disputes, but not their own.
    manager = await api.user_id(MANAGER)
    body = await api.gql(RESOLVE, {"id": dispute["id"], "to": str(manager)}, as_user=MANAGER)
    assert errors_of(body) == ["FORBIDDEN"]


async def test_arbiter_sees_the_disputed_customer_but_not_its_sensitive_fields(api: Any) -> None:
    dispute = await seeded_dispute(api)
    cid = dispute["customer"]["id"]

    body = await api.gql(CUSTOMER, {"id": cid}, as_user=JUDGE)

    seen = body["data"]["customer"]
    assert seen["owner"] == {"email": ALICE}
    assert seen["taxId"] is None and seen["dealValue"] is None
    assert all(c["phone"] is None for c in seen["contacts"])
    assert errors_of(await api.gql(CUSTOMER, {"id": cid}, as_user=CAROL)) == ["NOT_FOUND"]
    assert (await api.ok(DISPUTES, as_user=CAROL))["disputes"]["edges"] == []
    assert errors_of(await api.gql(WITHDRAW, {"id": dispute["id"]}, as_user=CAROL)) == ["NOT_FOUND"]


# Resolution.


async def test_arbiter_awards_the_claimant_with_an_80_20_split(api: Any) -> None:
    dispute = await seeded_dispute(api)
    cid = dispute["customer"]["id"]
    alice, bob = await api.user_id(ALICE), await api.user_id(BOB)
    split = [{"userId": str(bob), "percent": 80}, {"userId": str(alice), "percent": 20}]

    resolved = (
        await api.ok(
            RESOLVE,
            {"id": dispute["id"], "to": str(bob), "split": split, "note": "Fair lead, 80/20."},
            as_user=JUDGE,
        )
    )["resolveDispute"]

    assert resolved["status"] == "RESOLVED" and resolved["rule"] is None
    assert resolved["awardedTo"] == {"email": BOB} and resolved["resolvedBy"] == {"email": JUDGE}
    assert resolved["resolvedAt"] is not None
    assert resolved["creditSplit"] == [
        {"user": {"email": BOB}, "percent": 80},
        {"user": {"email": ALICE}, "percent": 20},
    ]
    customer = (await api.ok(CUSTOMER, {"id": cid}, as_user=BOB))["customer"]
    assert customer["owner"] == {"email": BOB} and customer["ownerCreditShare"] == 80
    assert customer["collaborators"] == [
        {"user": {"email": ALICE}, "role": "DEVELOPER", "creditShare": 20}
    ]
    assert customer["openDisputes"] == []
    [event] = await events(api, cid)
    assert (event.from_user_id, event.to_user_id) == (alice, bob)
    assert event.actor_id == await api.user_id(JUDGE) and event.reason == "Fair lead, 80/20."
    assert event.details["owner_credit_share"] == 80
    assert event.details["collaborators"] == [
        {"user_id": alice, "role": "DEVELOPER", "credit_share": 20}
    ]
    stored = await row(api, Dispute, dispute["id"])
    assert stored.note == "Fair lead, 80/20."
    reminders = (await api.ok(REMINDERS, as_user=JUDGE))["myReminders"]
    assert [(r["kind"], r["status"]) for r in reminders] == [("DISPUTE_ASSIGNED", "ACKNOWLEDGED")]
    # Once settled, it cannot be settled again.
    again = await api.gql(RESOLVE, {"id": dispute["id"], "to": str(alice)}, as_user=JUDGE)
    assert errors_of(again) == ["CONFLICT"]


async def test_award_to_the_respondent_changes_nothing(api: Any) -> None:
    dispute = await seeded_dispute(api)
    alice = await api.user_id(ALICE)

    resolved = (await api.ok(RESOLVE, {"id": dispute["id"], "to": str(alice)}, as_user=MANAGER))[
        "resolveDispute"
    ]

    assert resolved["status"] == "RESOLVED" and resolved["awardedTo"] == {"email": ALICE}
    assert resolved["resolvedBy"] == {"email": MANAGER}
    assert await events(api, dispute["customer"]["id"]) == []
    assert (await row(api, Customer, dispute["customer"]["id"])).owner_id == alice
    # Resolved by someone else: the judge's reminder is cancelled, not acknowledged.
    reminders = (await api.ok(REMINDERS, as_user=JUDGE))["myReminders"]
    assert [r["status"] for r in reminders] == ["CANCELLED"]


async def test_resolution_errors(api: Any) -> None:
    dispute = await seeded_dispute(api)
    did = dispute["id"]
    alice, bob, carol = [await api.user_id(e) for e in (ALICE, BOB, CAROL)]

    async def codes(as_user: str, **variables: Any) -> list[str]:
        return errors_of(await api.gql(RESOLVE, {"id": did, **variables}, as_user=as_user))

    assert await codes(JUDGE, to=str(carol)) == ["VALIDATION"]
    assert await codes(JUDGE, to="nobody") == ["VALIDATION"]
    assert await codes(
        JUDGE,
        to=str(bob),
        split=[{"userId": str(bob), "percent": 70}, {"userId": str(alice), "percent": 20}],
    ) == ["VALIDATION"]
    assert await codes(JUDGE, to=str(bob), split=[{"userId": str(alice), "percent": 100}]) == [
        "VALIDATION"
    ]
    assert await codes(
        JUDGE,
        to=str(bob),
        split=[{"userId": str(bob), "percent": 80}, {"userId": str(carol), "percent": 20}],
    ) == ["VALIDATION"]
    assert await codes(BOB, to=str(bob)) == ["FORBIDDEN"]  # the claimant is no judge
    assert await codes(CAROL, to=str(bob)) == ["NOT_FOUND"]  # nor can she see it
    assert errors_of(await api.gql(RESOLVE, {"id": "999999", "to": str(bob)}, as_user=JUDGE)) == [
        "NOT_FOUND"
    ]
    # Nothing moved while it was refused.
    assert (await row(api, Dispute, did)).status == DisputeStatus.ESCALATED
    assert (await row(api, Customer, dispute["customer"]["id"])).owner_id == alice


async def test_split_must_account_for_every_collaborator_with_credit(api: Any) -> None:
    dispute = await seeded_dispute(api)
    cid = dispute["customer"]["id"]
    alice, bob, dan = [await api.user_id(e) for e in (ALICE, BOB, "dan@demo.test")]
    async with api.services.db.write() as session, session.begin():
        await session.execute(delete(Collaborator).where(Collaborator.customer_id == db_id(cid)))
        session.add(
            Collaborator(customer_id=db_id(cid), user_id=dan, role="SERVICE", credit_share=10)
        )
        await session.execute(
            update(Customer).where(Customer.id == db_id(cid)).values(owner_credit_share=90)
        )

    def split(*shares: tuple[int, int]) -> list[dict[str, Any]]:
        return [{"userId": str(u), "percent": p} for u, p in shares]

    # Dan's 10% is not named: 80 + 20 + 10 would be 110.
    refused = await api.gql(
        RESOLVE,
        {"id": dispute["id"], "to": str(bob), "split": split((bob, 80), (alice, 20))},
        as_user=JUDGE,
    )
    assert errors_of(refused) == ["VALIDATION"]
    await api.ok(
        RESOLVE,
        {"id": dispute["id"], "to": str(bob), "split": split((bob, 70), (alice, 20), (dan, 10))},
        as_user=JUDGE,
    )
    customer = (await api.ok(CUSTOMER, {"id": cid}, as_user=ADMIN))["customer"]
    assert customer["owner"] == {"email": BOB} and customer["ownerCreditShare"] == 70
    assert sorted(
        (c["user"]["email"], c["role"], c["creditShare"]) for c in customer["collaborators"]
    ) == [(ALICE, "DEVELOPER", 20), ("dan@demo.test", "SERVICE", 10)]
    [event] = await events(api, cid)
    assert event.details["collaborators"] == [
        {"user_id": u, "role": r, "credit_share": p}
        for u, r, p in sorted([(alice, "DEVELOPER", 20), (dan, "SERVICE", 10)])
    ]


async def test_resolving_after_the_customer_changed_hands_conflicts(api: Any) -> None:
    dispute = await seeded_dispute(api)
    carol = await api.user_id(CAROL)
    await arrange(api, dispute["customer"]["id"], owner_id=carol)
    bob = await api.user_id(BOB)

    body = await api.gql(RESOLVE, {"id": dispute["id"], "to": str(bob)}, as_user=JUDGE)

    assert errors_of(body) == ["CONFLICT"]
    assert (await row(api, Dispute, dispute["id"])).status == DisputeStatus.ESCALATED
    assert (await row(api, Customer, dispute["customer"]["id"])).owner_id == carol


async def test_two_arbiters_at_once_one_wins(api: Any) -> None:
    dispute = await seeded_dispute(api)
    alice, bob = await api.user_id(ALICE), await api.user_id(BOB)
    tokens = [await api.token(JUDGE), await api.token(MANAGER)]

    bodies = await asyncio.gather(
        api.gql(RESOLVE, {"id": dispute["id"], "to": str(bob)}, token=tokens[0]),
        api.gql(RESOLVE, {"id": dispute["id"], "to": str(alice)}, token=tokens[1]),
    )

    outcomes = sorted(tuple(errors_of(b)) for b in bodies)
    assert outcomes == [(), ("CONFLICT",)]
    won = next(b for b in bodies if not b.get("errors"))["data"]["resolveDispute"]
    winner = await api.user_id(won["awardedTo"]["email"])
    assert (await row(api, Customer, dispute["customer"]["id"])).owner_id == winner
    assert len(await events(api, dispute["customer"]["id"])) == (1 if winner == bob else 0)


# Withdrawal.


async def test_claimant_withdraws(api: Any) -> None:
    dispute = await seeded_dispute(api)
    cid = dispute["customer"]["id"]
    assert errors_of(await api.gql(WITHDRAW, {"id": dispute["id"]}, as_user=ALICE)) == ["FORBIDDEN"]

    withdrawn = (await api.ok(WITHDRAW, {"id": dispute["id"]}, as_user=BOB))["withdrawDispute"]

    assert withdrawn["status"] == "WITHDRAWN" and withdrawn["resolvedAt"] is not None
    assert withdrawn["awardedTo"] is None
    assert (await row(api, Customer, cid)).owner_id == await api.user_id(ALICE)
    assert await events(api, cid) == []
    reminders = (await api.ok(REMINDERS, as_user=JUDGE))["myReminders"]
    assert [r["status"] for r in reminders] == ["CANCELLED"]
    assert errors_of(await api.gql(WITHDRAW, {"id": dispute["id"]}, as_user=BOB)) == ["CONFLICT"]
    bob = await api.user_id(BOB)
    assert errors_of(
        await api.gql(RESOLVE, {"id": dispute["id"], "to": str(bob)}, as_user=JUDGE)
    ) == ["CONFLICT"]
    # With the old one withdrawn, bob sees nothing of the customer, and may open a new one
    # only with a fresh right to.
    assert errors_of(await api.gql(OPEN, {"c": cid, "r": REASON}, as_user=BOB)) == ["NOT_FOUND"]
    await told(api, BOB, (await row(api, Customer, cid)).name)
    again = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=BOB))["openDispute"]
    assert again["status"] == "ESCALATED" and again["id"] != dispute["id"]


# Opening: the error codes.


async def test_open_errors(api: Any) -> None:
    dispute = await seeded_dispute(api)
    cid = await undecidable(api, "Larkspur Optics")
    pooled = await create(api, ALICE, "Fennel Analytics", owner_id=None, team_id=None)

    async def codes(as_user: str, customer_id: str, reason: str = REASON) -> list[str]:
        return errors_of(await api.gql(OPEN, {"c": customer_id, "r": reason}, as_user=as_user))

    assert await codes(BOB, cid, "   ") == ["VALIDATION"]
    assert await codes(BOB, cid, "x" * 2001) == ["VALIDATION"]
    assert await codes(ALICE, cid) == ["VALIDATION"]  # her own customer
    assert await codes(BOB, pooled) == ["VALIDATION"]  # claim it instead
    assert await codes(BOB, dispute["customer"]["id"]) == ["CONFLICT"]  # one open per claimant
    assert await codes(BOB, "424242") == ["NOT_FOUND"]
    assert await codes(BOB, "not-an-id") == ["NOT_FOUND"]
    for role_without_disputes in (JUDGE, "dan@demo.test", ADMIN):
        assert await codes(role_without_disputes, cid) == ["FORBIDDEN"]
    partner = await api.token(partner="acme-channel", scopes=["*"])
    body = await api.gql(OPEN, {"c": cid, "r": REASON}, token=partner)
    assert errors_of(body) == ["FORBIDDEN"]
    async with api.services.db.read() as session:
        count = len(list((await session.execute(select(Dispute))).scalars()))
    assert count == 1  # only the demo's


async def test_concurrent_opens_by_one_claimant(api: Any) -> None:
    cid = await undecidable(api, "Saltmarsh Logistics")
    token = await api.token(BOB)

    bodies = await asyncio.gather(
        *(api.gql(OPEN, {"c": cid, "r": REASON}, token=token) for _ in range(2))
    )

    assert sorted(tuple(errors_of(b)) for b in bodies) == [(), ("CONFLICT",)]


async def test_every_step_is_published(api: Any) -> None:
    cid = await undecidable(api, "Kestrel Paperworks")
    bus = api.services.bus
    async with bus.subscribe("disputes") as messages:
        opened = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=BOB))["openDispute"]
        await api.ok(WITHDRAW, {"id": opened["id"]}, as_user=BOB)
        received = [await asyncio.wait_for(anext(messages), 1) for _ in range(2)]
    assert received == [{"id": db_id(opened["id"]), "customer_id": db_id(cid)}] * 2


# The dispute right: a dispute opens no window onto a customer.

UPDATE = """
mutation($id: ID!, $stage: Stage) { updateCustomer(id: $id, input: {stage: $stage}) { id } }
"""
ASSIGN = """
mutation($c: ID!, $to: ID!) {
  assignCustomer(customerId: $c, toUserId: $to, reason: "Rebalancing the book.") { id }
}
"""
RELEASE = 'mutation($c: ID!) { releaseToPool(customerId: $c, reason: "No budget.") { id } }'
CLAIM = "mutation($c: ID!) { claimCustomer(customerId: $c) { id } }"
ADD_COLLABORATOR = """
mutation($c: ID!, $u: ID!) {
  addCollaborator(customerId: $c, userId: $u, role: CLOSER, creditShare: 10) { id }
}
"""
MY_DISPUTES = """
{ disputes { edges { node {
  id status awardedTo { email }
  customer { id name owner { email } team { name } tags contacts { name } taxId
             followUps { edges { node { id } } } ownershipHistory { edges { node { id } } } }
} } } }
"""
DISPUTE_UPDATED = """
subscription { disputeUpdated { id status customer { id name owner { email } } } }
"""


async def dispute_count(api: Any) -> int:
    async with api.services.db.read() as session:
        return len(list((await session.execute(select(Dispute.id))).scalars()))


async def test_no_dispute_right_answers_as_a_missing_id(api: Any) -> None:
    cid = await create(api, ALICE, "Ivory Gate Instruments")
    before = await dispute_count(api)

    hidden = await api.gql(OPEN, {"c": cid, "r": REASON}, as_user=CAROL)
    missing = await api.gql(OPEN, {"c": "424242", "r": REASON}, as_user=CAROL)

    assert hidden["data"] is None and missing["data"] is None
    [error], [absent] = hidden["errors"], missing["errors"]
    assert error["message"] == f"No customer {cid} exists."
    assert absent["message"] == "No customer 424242 exists."
    assert {**error, "message": None} == {**absent, "message": None}
    assert await dispute_count(api) == before


async def test_a_duplicate_answer_gives_a_dispute_right_for_an_hour(api: Any, clock: Any) -> None:
    cid = await create(api, ALICE, "Juniper Kilns", created_by_id=None)
    told_once = await told(api, BOB, "Juniper Kilns")
    assert told_once["extensions"]["customerId"] == str(db_id(cid))
    assert told_once["message"] == (
        "This customer already exists as 'Juniper Kilns', owned by Alice Wang: you may open "
        "a dispute instead."
    )
    clock.advance(minutes=61)

    assert errors_of(await api.gql(OPEN, {"c": cid, "r": REASON}, as_user=BOB)) == ["NOT_FOUND"]

    await told(api, BOB, "Juniper Kilns")
    clock.advance(minutes=59)
    opened = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=BOB))["openDispute"]
    assert opened["status"] == "ESCALATED"
    # While it is undecided the claimant sees the customer, never its sensitive fields.
    body = await api.gql(CUSTOMER, {"id": cid}, as_user=BOB)
    seen = body["data"]["customer"]
    assert seen["owner"] == {"email": ALICE} and seen["openDisputes"] == [{"id": opened["id"]}]
    assert seen["taxId"] is None and seen["dealValue"] is None
    assert "customer.taxId" in body["extensions"]["maskedFields"]


async def test_a_former_owner_may_dispute_for_90_days(api: Any, clock: Any) -> None:
    alice = await api.user_id(ALICE)
    first = await create(api, BOB, "Osprey Marine", created_by_id=None)
    second = await create(api, BOB, "Plover Marine", created_by_id=None)
    for cid in (first, second):
        await api.ok(ASSIGN, {"c": cid, "to": str(alice)}, as_user=MANAGER)
    assert errors_of(await api.gql(CUSTOMER, {"id": first}, as_user=BOB)) == ["NOT_FOUND"]

    opened = (await api.ok(OPEN, {"c": first, "r": REASON}, as_user=BOB))["openDispute"]
    assert opened["status"] == "ESCALATED" and opened["respondent"] == {"email": ALICE}
    clock.advance(days=91)
    body = await api.gql(OPEN, {"c": second, "r": REASON}, as_user=BOB)

    assert errors_of(body) == ["NOT_FOUND"]
    # A rep who never owned it has no right either.
    assert errors_of(await api.gql(OPEN, {"c": first, "r": REASON}, as_user=CAROL)) == ["NOT_FOUND"]


async def test_the_claimant_sees_nothing_of_the_customer_once_the_dispute_ends(
    api: Any,
) -> None:
    cid = await undecidable(api, "Wrenfield Glass")
    await follow_up(api, cid, ALICE, days_ago=50)
    opened = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=BOB))["openDispute"]
    assert (await api.ok(CUSTOMER, {"id": cid}, as_user=BOB))["customer"]["name"] == (
        "Wrenfield Glass"
    )

    await api.ok(WITHDRAW, {"id": opened["id"]}, as_user=BOB)

    assert errors_of(await api.gql(CUSTOMER, {"id": cid}, as_user=BOB)) == ["NOT_FOUND"]
    # The dispute and its outcome stay his to read, with the customer's id and name only.
    body = await api.gql(MY_DISPUTES, as_user=BOB)
    assert "errors" not in body
    [edge] = [e for e in body["data"]["disputes"]["edges"] if e["node"]["id"] == opened["id"]]
    assert edge["node"]["status"] == "WITHDRAWN"
    assert edge["node"]["customer"] == {
        "id": cid,
        "name": "Wrenfield Glass",
        "owner": None,
        "team": None,
        "tags": [],
        "contacts": [],
        "taxId": None,
        "followUps": {"edges": []},
        "ownershipHistory": {"edges": []},
    }
    i = body["data"]["disputes"]["edges"].index(edge)
    masked = set(body["extensions"]["maskedFields"])
    for name in ("owner", "team", "tags", "contacts", "taxId", "followUps", "ownershipHistory"):
        assert f"disputes.edges.{i}.node.customer.{name}" in masked
    # Nor may he act on it as a party any more.
    assert errors_of(await api.gql(WITHDRAW, {"id": opened["id"]}, as_user=BOB)) == ["CONFLICT"]


# The pool's cooldown holds against disputes.


async def test_a_released_customer_cannot_be_won_back_by_a_dispute(api: Any, clock: Any) -> None:
    carol = await api.user_id(CAROL)
    cid = await create(api, BOB, "Pinecrest Tooling")  # bob entered it: first_entry is his
    await api.ok(RELEASE, {"c": cid}, as_user=BOB)
    in_pool = await api.gql(OPEN, {"c": cid, "r": REASON}, as_user=BOB)
    assert errors_of(in_pool) == ["VALIDATION"]
    assert in_pool["errors"][0]["message"].endswith("claim it instead.")
    assert errors_of(await api.gql(CLAIM, {"c": cid}, as_user=BOB)) == ["COOLDOWN_ACTIVE"]
    await api.ok(CLAIM, {"c": cid}, as_user=CAROL)

    body = await api.gql(OPEN, {"c": cid, "r": REASON}, as_user=BOB)

    assert errors_of(body) == ["NOT_FOUND"]
    # Hearing it exists does not open the way either, while the cooldown runs.
    await told(api, BOB, "Pinecrest Tooling")
    assert errors_of(await api.gql(OPEN, {"c": cid, "r": REASON}, as_user=BOB)) == ["NOT_FOUND"]
    assert (await row(api, Customer, cid)).owner_id == carol
    # Once it has run out, a dispute is an ordinary one again.
    clock.advance(days=31)
    await told(api, BOB, "Pinecrest Tooling")
    opened = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=BOB))["openDispute"]
    assert (opened["status"], opened["rule"]) == ("AUTO_RESOLVED", "first_entry")
    assert opened["awardedTo"] == {"email": BOB}


async def test_seeing_the_customer_does_not_lift_the_cooldown(api: Any) -> None:
    manager = await api.user_id(MANAGER)
    # The manager entered and owned it, gave it up, and a rep of his team claimed it.
    cid = await create(api, ALICE, "Quarry Lane Foods", owner_id=manager, created_by_id=manager)
    await api.ok(RELEASE, {"c": cid}, as_user=MANAGER)
    await api.ok(CLAIM, {"c": cid}, as_user=BOB)

    body = await api.gql(OPEN, {"c": cid, "r": REASON}, as_user=MANAGER)

    assert errors_of(body) == ["COOLDOWN_ACTIVE"]
    assert body["errors"][0]["extensions"]["until"] == "2026-07-01"
    assert (await row(api, Customer, cid)).owner_id == await api.user_id(BOB)


# closed_deal reads the history at the moment of the stage change.


async def test_closed_deal_awards_whoever_owned_it_when_it_became_active(api: Any) -> None:
    alice, bob = await api.user_id(ALICE), await api.user_id(BOB)
    cid = await create(api, BOB, "Lanternfish Media", created_by_id=None)  # imported for bob
    await api.ok(UPDATE, {"id": cid, "stage": "ACTIVE"}, as_user=BOB)  # bob closes the deal
    await api.ok(ASSIGN, {"c": cid, "to": str(alice)}, as_user=MANAGER)

    dispute = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=BOB))["openDispute"]

    assert (dispute["status"], dispute["rule"]) == ("AUTO_RESOLVED", "closed_deal")
    assert dispute["awardedTo"] == {"email": BOB}
    assert (
        "Closed deal: Bob Li (claimant) owned it when it became ACTIVE on 2026-06-01."
        in dispute["evidence"]
    )
    assert (await row(api, Customer, cid)).owner_id == bob


# Messages that agree.


async def test_messages_agree_on_what_to_do(api: Any) -> None:
    pooled = await create(api, ALICE, "Saffron Looms", owner_id=None, team_id=None)
    error = await told(api, BOB, "Saffron Looms")
    assert error["message"] == (
        "This customer already exists as 'Saffron Looms', in the public pool: claim it instead."
    )
    opened = await api.gql(OPEN, {"c": pooled, "r": REASON}, as_user=BOB)
    assert (
        opened["errors"][0]["message"] == "This customer is in the public pool: claim it instead."
    )
    owned = await create(api, ALICE, "Thistle Audio")
    bob, carol = await api.user_id(BOB), await api.user_id(CAROL)
    await api.ok(ADD_COLLABORATOR, {"c": owned, "u": str(bob)}, as_user=ALICE)
    body = await api.gql(ADD_COLLABORATOR, {"c": owned, "u": str(carol)}, as_user=BOB)
    assert errors_of(body) == ["FORBIDDEN"]
    assert body["errors"][0]["message"] == "You may not change the collaborators of this customer."


async def test_the_claimant_hears_the_end_of_a_dispute_without_the_customer(api: Any) -> None:
    from tests.subscriptions.test_live import connect, listening

    cid = await undecidable(api, "Bittern Acoustics")
    await follow_up(api, cid, ALICE, days_ago=50)
    opened = (await api.ok(OPEN, {"c": cid, "r": REASON}, as_user=BOB))["openDispute"]
    async with connect(api.app, await api.token(BOB)) as bob:
        listeners = api.services.bus.subscriber_count("disputes")
        op = await bob.subscribe(DISPUTE_UPDATED)
        await listening(api.services.bus, "disputes", listeners)

        await api.ok(WITHDRAW, {"id": opened["id"]}, as_user=BOB)
        message = await bob.message(op)

    assert message["type"] == "next" and "errors" not in message["payload"]
    assert message["payload"]["data"]["disputeUpdated"] == {
        "id": opened["id"],
        "status": "WITHDRAWN",
        "customer": {"id": cid, "name": "Bittern Acoustics", "owner": None},
    }
    assert message["payload"]["extensions"]["maskedFields"] == ["disputeUpdated.customer.owner"]
