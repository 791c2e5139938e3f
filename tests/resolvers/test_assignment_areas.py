"""Assignment rules that use people's regions and industries, and a rep's own entry
(assignByRules) that stays in the rep's team unless a rule says `crossTeam`."""

from __future__ import annotations

from tests.conftest import Api
from tests.resolvers.test_assignment import SET_RULES, create, owner_and_rule, team_id

RULES_READ = "{ assignmentRules { name byRegion byIndustry crossTeam } }"


async def rules(api: Api, *given: dict[str, object]) -> None:
    admin = await api.token("admin@demo.test")
    saved = (await api.ok(SET_RULES, {"rules": list(given)}, token=admin))["setAssignmentRules"]
    assert [r["name"] for r in saved] == [r["name"] for r in given]


async def test_a_rule_picks_only_people_serving_the_region_and_industry(api: Api) -> None:
    east = await team_id(api, "East")
    await rules(
        api,
        {"name": "by area", "strategy": "LEAST_LOADED", "teamId": east, "byRegion": True},
        {
            "name": "by trade",
            "strategy": "ROUND_ROBIN",
            "teamId": east,
            "byIndustry": True,
            "tier": "A",
        },
    )
    admin = await api.token("admin@demo.test")
    # alice serves East and North, bob East and South: the region decides, not the load.
    for _ in range(2):
        assert owner_and_rule(await create(api, admin, region="south", tier="B")) == (
            "bob@demo.test",
            "by area",
        )
        assert owner_and_rule(await create(api, admin, region="North", tier="B")) == (
            "alice@demo.test",
            "by area",
        )
    # Nobody in East serves the West: that rule finds no one; the industry rule decides.
    assert owner_and_rule(
        await create(api, admin, region="West", tier="A", industry="Healthcare")
    ) == ("bob@demo.test", "by trade")
    assert owner_and_rule(
        await create(api, admin, region="West", tier="A", industry="Manufacturing")
    ) == ("alice@demo.test", "by trade")
    assert owner_and_rule(await create(api, admin, region="West", tier="A", industry="Energy")) == (
        None,
        "pool",
    )
    read = (await api.ok(RULES_READ, token=admin))["assignmentRules"]
    assert [(r["byRegion"], r["byIndustry"], r["crossTeam"]) for r in read] == [
        (True, False, False),
        (False, True, False),
    ]


async def test_a_reps_own_entry_stays_in_their_team_unless_the_rule_says_so(api: Api) -> None:
    west, east = await team_id(api, "West"), await team_id(api, "East")
    carol = str(await api.user_id("carol@demo.test"))
    alice = await api.token("alice@demo.test")
    await rules(
        api,
        {"name": "tier A west", "tier": "A", "strategy": "ROUND_ROBIN", "teamId": west},
        {"name": "carol", "tier": "A", "strategy": "USER", "userId": carol},
        {"name": "tier A east", "tier": "A", "strategy": "LEAST_LOADED", "teamId": east},
    )
    # The report: alice's tier-A customer went to carol in West. Now East's rule decides.
    owner, rule = owner_and_rule(await create(api, alice, tier="A", assignByRules=True))
    assert rule == "tier A east" and owner in ("alice@demo.test", "bob@demo.test")
    # A manager's entry is not a rep's own: the first rule still applies.
    manager = await api.token("manager.east@demo.test")
    assert owner_and_rule(await create(api, manager, tier="A")) == (
        "carol@demo.test",
        "tier A west",
    )

    # Without a rule in the team the entry goes to the pool, not across.
    await rules(api, {"name": "carol", "tier": "A", "strategy": "USER", "userId": carol})
    assert owner_and_rule(await create(api, alice, tier="A", assignByRules=True)) == (None, "pool")
    # Unless the rule says it may cross teams.
    await rules(
        api,
        {"name": "carol", "tier": "A", "strategy": "USER", "userId": carol, "crossTeam": True},
    )
    assert owner_and_rule(await create(api, alice, tier="A", assignByRules=True)) == (
        "carol@demo.test",
        "carol",
    )
