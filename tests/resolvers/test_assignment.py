"""Assignment rules: editing them (setAssignmentRules), and what createCustomer does with
them: named user, round-robin (fair under concurrent creation), least-loaded, weighted."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from fractions import Fraction

import pytest
from sqlalchemy import func, insert, select, update

from db.enums import Role, Stage
from db.models import AssignmentRule, Customer, Team, User
from kernel.errors import Forbidden
from resolvers.context import build_context
from resolvers.rules import list_assignment_rules
from tests.conftest import Api, errors_of

SET_RULES = """
mutation S($rules: [AssignmentRuleInput!]!) {
  setAssignmentRules(rules: $rules) {
    id position name region industry tier source strategy user { email } team { name }
  }
}
"""
CREATE = """
mutation C($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    id inPool owner { email } ownershipHistory { edges { node { kind rule toOwner { email } } } }
  }
}
"""
UPDATE = """
mutation U($id: ID!, $input: UpdateCustomerInput!) {
  updateCustomer(id: $id, input: $input) { id stage }
}
"""
_names = itertools.count()


async def team_id(api: Api, name: str) -> str:
    async with api.services.db.read() as session:
        return str(await session.scalar(select(Team.id).where(Team.name == name)))


async def add_reps(
    api: Api, n: int, *, team: str = "East", capacity: int | None = None
) -> list[int]:
    async with api.services.db.write() as session, session.begin():
        tid = await session.scalar(select(Team.id).where(Team.name == team))
        first = int(await session.scalar(select(func.count()).select_from(User)) or 0)
        ids = (
            await session.execute(
                insert(User).returning(User.id),
                [
                    {
                        "name": f"New Rep {first + i}",
                        "email": f"new{first + i}@demo.test",
                        "role": Role.REP,
                        "team_id": tid,
                        "regions": [],
                        "industries": [],
                        "capacity": capacity,
                        "active": True,
                        "created_at": api.services.clock.now(),
                    }
                    for i in range(n)
                ],
            )
        ).scalars()
        return sorted(ids)


async def email_of(api: Api, user_id: int) -> str:
    async with api.services.db.read() as session:
        return str(await session.scalar(select(User.email).where(User.id == user_id)))


async def owned(api: Api, user_id: int) -> int:
    async with api.services.db.read() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Customer).where(Customer.owner_id == user_id)
            )
            or 0
        )


async def create(api: Api, token: str, **fields: object) -> dict:  # type: ignore[type-arg]
    fields.setdefault("name", f"Rule Test Company {next(_names)}")
    return await api.gql(CREATE, {"input": fields}, token=token)


def owner_and_rule(body: dict) -> tuple[str | None, str]:  # type: ignore[type-arg]
    assert not body.get("errors"), body["errors"]
    created = body["data"]["createCustomer"]
    event = created["ownershipHistory"]["edges"][0]["node"]
    assert event["kind"] == "CREATED"
    return (created["owner"] or {}).get("email"), event["rule"]


async def test_without_rules_managers_customers_go_to_the_pool(api: Api) -> None:
    token = await api.token("manager.east@demo.test")
    body = await create(api, token, region="East")
    assert owner_and_rule(body) == (None, "pool")
    assert body["data"]["createCustomer"]["inPool"]
    # A rep's own entry is first entry, rules or not.
    rep = await create(api, await api.token("alice@demo.test"), region="East")
    assert owner_and_rule(rep) == ("alice@demo.test", "first_entry")


async def test_rules_match_in_order_and_fall_through_to_the_pool(api: Api) -> None:
    carol = await api.user_id("carol@demo.test")
    east = await team_id(api, "East")
    admin = await api.token("admin@demo.test")
    rules = [
        {"name": "west A", "tier": "A", "region": "west", "strategy": "USER", "userId": str(carol)},
        {"name": "east", "region": "East", "strategy": "ROUND_ROBIN", "teamId": east},
        {"name": "trade fair", "source": "Trade Fair", "strategy": "LEAST_LOADED", "teamId": east},
    ]
    saved = (await api.ok(SET_RULES, {"rules": rules}, token=admin))["setAssignmentRules"]
    assert [(r["position"], r["name"], r["strategy"]) for r in saved] == [
        (0, "west A", "USER"),
        (1, "east", "ROUND_ROBIN"),
        (2, "trade fair", "LEAST_LOADED"),
    ]
    assert saved[0]["user"]["email"] == "carol@demo.test" and saved[1]["team"]["name"] == "East"

    assert owner_and_rule(await create(api, admin, tier="A", region="West")) == (
        "carol@demo.test",
        "west A",
    )
    owner, rule = owner_and_rule(await create(api, admin, tier="B", region="East"))
    assert rule == "east" and owner in ("alice@demo.test", "bob@demo.test")
    owner, rule = owner_and_rule(await create(api, admin, region="North", source="trade fair"))
    assert rule == "trade fair"
    assert owner_and_rule(await create(api, admin, tier="B", region="West")) == (None, "pool")
    # A rep may ask for the rules too; the rotation went to alice (lower id) last time.
    body = await create(api, await api.token("bob@demo.test"), region="East", assignByRules=True)
    assert owner_and_rule(body) == ("bob@demo.test", "east")

    # A named user who is full or inactive does not stop the list: the next rule decides.
    async with api.services.db.write() as session, session.begin():
        await session.execute(update(User).where(User.id == carol).values(capacity=0))
    assert owner_and_rule(await create(api, admin, tier="A", region="West")) == (None, "pool")


async def test_round_robin_is_fair_under_concurrent_creation(api: Api) -> None:
    (extra,) = await add_reps(api, 1)
    east = await team_id(api, "East")
    rule = {"name": "east rr", "strategy": "ROUND_ROBIN", "teamId": east}
    await api.ok(SET_RULES, {"rules": [rule]}, as_user="admin@demo.test")
    token = await api.token("manager.east@demo.test")
    await api.ok("{ me { id } }", token=token)

    bodies = await asyncio.gather(*(create(api, token) for _ in range(6)))

    owners = Counter(owner_and_rule(b)[0] for b in bodies)
    assert owners == {"alice@demo.test": 2, "bob@demo.test": 2, await email_of(api, extra): 2}

    # Inactive and full members are skipped; the rotation goes on among the others.
    alice = await api.user_id("alice@demo.test")
    async with api.services.db.write() as session, session.begin():
        await session.execute(update(User).where(User.id == extra).values(active=False))
        await session.execute(
            update(User).where(User.id == alice).values(capacity=await owned(api, alice))
        )
    bodies = [await create(api, token) for _ in range(3)]
    assert [owner_and_rule(b)[0] for b in bodies] == ["bob@demo.test"] * 3


async def test_least_loaded_takes_the_emptiest_member_with_room(api: Api) -> None:
    first, second = await add_reps(api, 2)
    async with api.services.db.write() as session, session.begin():
        await session.execute(update(User).where(User.id == first).values(capacity=1))
    east = await team_id(api, "East")
    rule = {"name": "balance", "strategy": "LEAST_LOADED", "teamId": east}
    await api.ok(SET_RULES, {"rules": [rule]}, as_user="admin@demo.test")
    token = await api.token("manager.east@demo.test")
    picked = []
    for _ in range(3):
        picked.append(owner_and_rule(await create(api, token))[0])
    # Both start at 0: the lower id first; then the other; then `first` is full.
    assert picked == [await email_of(api, u) for u in (first, second, second)]


async def test_weighted_favours_recent_winners_per_customer_owned(api: Api) -> None:
    alice, bob = await api.user_id("alice@demo.test"), await api.user_id("bob@demo.test")
    async with api.services.db.read() as session:
        wins = list(
            (
                await session.execute(
                    select(Customer.id)
                    .where(Customer.owner_id == alice, Customer.stage != Stage.ACTIVE)
                    .order_by(Customer.id)
                    .limit(3)
                )
            ).scalars()
        )
    token = await api.token("alice@demo.test")
    for cid in wins:
        await api.ok(UPDATE, {"id": str(cid), "input": {"stage": "ACTIVE"}}, token=token)
    east = await team_id(api, "East")
    rule = {"name": "performance", "strategy": "WEIGHTED", "teamId": east}
    await api.ok(SET_RULES, {"rules": [rule]}, as_user="admin@demo.test")

    ratio = {alice: Fraction(await owned(api, alice), 1 + 3), bob: Fraction(await owned(api, bob))}
    expected = min(ratio, key=lambda u: (ratio[u], u))
    owner, rule_name = owner_and_rule(await create(api, await api.token("admin@demo.test")))
    assert rule_name == "performance"
    assert owner == ("alice@demo.test" if expected == alice else "bob@demo.test")
    assert ratio[alice] < ratio[bob]  # three wins outweigh alice's larger book


async def test_only_admins_edit_rules_and_bad_rules_are_refused(api: Api) -> None:
    east = await team_id(api, "East")
    alice = str(await api.user_id("alice@demo.test"))
    auditor = str(await api.user_id("audit@demo.test"))
    good = {"name": "ok", "strategy": "LEAST_LOADED", "teamId": east}
    body = await api.gql(SET_RULES, {"rules": [good]}, as_user="manager.east@demo.test")
    assert errors_of(body) == ["FORBIDDEN"]
    admin = await api.token("admin@demo.test")
    bad = [
        [{"name": "u", "strategy": "USER"}],
        [{"name": "u", "strategy": "USER", "userId": alice, "teamId": east}],
        [{"name": "t", "strategy": "ROUND_ROBIN"}],
        [{"name": "t", "strategy": "WEIGHTED", "teamId": "999999"}],
        [{"name": "a", "strategy": "USER", "userId": auditor}],
        [{"name": "pool", "strategy": "LEAST_LOADED", "teamId": east}],
        [{"name": " ", "strategy": "LEAST_LOADED", "teamId": east}],
        [good, good],
    ]
    for rules in bad:
        assert errors_of(await api.gql(SET_RULES, {"rules": rules}, token=admin)) == [
            "VALIDATION"
        ], rules
    assert errors_of(
        await api.gql(SET_RULES, {"rules": [good | {"strategy": "NOPE"}]}, token=admin)
    )

    await api.ok(SET_RULES, {"rules": [good]}, token=admin)
    # Replacing keeps a round-robin rule's place when its name and team stay.
    rr = {"name": "rr", "strategy": "ROUND_ROBIN", "teamId": east}
    await api.ok(SET_RULES, {"rules": [rr]}, token=admin)
    await create(api, admin)
    async with api.services.db.read() as session:
        last = await session.scalar(select(AssignmentRule.last_user_id))
    saved = await api.ok(SET_RULES, {"rules": [good, rr]}, token=admin)
    assert [r["name"] for r in saved["setAssignmentRules"]] == ["ok", "rr"]
    async with api.services.db.read() as session:
        kept = await session.scalar(
            select(AssignmentRule.last_user_id).where(AssignmentRule.name == "rr")
        )
    assert kept == last is not None

    for email, allowed in (("manager.east@demo.test", True), ("alice@demo.test", False)):
        ctx = await build_context(api.services, f"Bearer {await api.token(email)}")
        try:
            if allowed:
                assert [r.name for r in await list_assignment_rules(ctx)] == ["ok", "rr"]
            else:
                with pytest.raises(Forbidden):
                    await list_assignment_rules(ctx)
        finally:
            await ctx.close()
