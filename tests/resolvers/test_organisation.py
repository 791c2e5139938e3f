"""createUser, updateUser, createTeam, updateTeam through the real app on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from db.models import AuditEntry, OwnershipEvent, Team
from resolvers.ids import global_id
from tests.conftest import Api, errors_of

CREATE_USER = """
mutation C($input: CreateUserInput!) {
  createUser(input: $input) {
    id databaseId name email role capacity lockQuota regions industries active team { name }
  }
}
"""
UPDATE_USER = """
mutation U($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) {
    databaseId name role capacity lockQuota regions industries team { name }
  }
}
"""
CREATE_TEAM = """
mutation C($input: TeamInput!) {
  createTeam(input: $input) { id databaseId name parent { name } manager { email } }
}
"""
UPDATE_TEAM = """
mutation U($id: ID!, $input: TeamInput!) {
  updateTeam(id: $id, input: $input) { databaseId name parent { name } manager { email } }
}
"""
TEAMS = "query { teams { databaseId name } }"
ME = "query { me { databaseId lockQuota regions industries team { databaseId } } }"
OWNED_BY = """
query O($owner: ID!) { customers(filter: {ownerId: $owner}, first: 1) { totalCount } }
"""
ADMIN = "admin@demo.test"
MANAGER = "manager.east@demo.test"


async def team_id(api: Api, name: str) -> int:
    body = await api.ok(TEAMS, as_user=ADMIN)
    return next(t["databaseId"] for t in body["teams"] if t["name"] == name)


async def paths(api: Api) -> dict[str, str]:
    async with api.services.db.read() as s:
        return {t.name: t.path for t in (await s.execute(select(Team))).scalars()}


async def audited(api: Api, action: str) -> list[dict[str, Any]]:
    async with api.services.db.read() as s:
        stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return [e.detail for e in (await s.execute(stmt)).scalars()]


def new_user(**kw: Any) -> dict[str, Any]:
    return {"name": "Nora Chen", "email": "nora@corp.test", "role": "REP", **kw}


async def test_admin_sets_up_a_team_and_a_user_and_both_are_audited(api: Api) -> None:
    east = await team_id(api, "East")
    team = (
        await api.ok(
            CREATE_TEAM, {"input": {"name": "East-2", "parentId": str(east)}}, as_user=ADMIN
        )
    )["createTeam"]
    assert team["name"] == "East-2" and team["parent"] == {"name": "East"}
    assert team["manager"] is None
    created = (
        await api.ok(
            CREATE_USER,
            {
                "input": new_user(
                    email=" Nora@Corp.test ",
                    teamId=team["id"],
                    capacity=80,
                    lockQuota=5,
                    regions=["East", "North", "East"],
                    industries=["Retail"],
                )
            },
            as_user=ADMIN,
        )
    )["createUser"]
    assert created == {
        "id": global_id("User", created["databaseId"]),
        "databaseId": created["databaseId"],
        "name": "Nora Chen",
        "email": "nora@corp.test",
        "role": "REP",
        "capacity": 80,
        "lockQuota": 5,
        "regions": ["East", "North"],
        "industries": ["Retail"],
        "active": True,
        "team": {"name": "East-2"},
    }
    paths_now = await paths(api)
    assert paths_now["East-2"] == f"{paths_now['East']}{team['databaseId']}/"

    managed = await api.ok(
        UPDATE_TEAM,
        {"id": team["id"], "input": {"name": "East Two", "managerId": str(created["databaseId"])}},
        as_user=ADMIN,
    )
    assert managed["updateTeam"] == {
        "databaseId": team["databaseId"],
        "name": "East Two",
        "parent": {"name": "East"},  # left out: stays
        "manager": {"email": "nora@corp.test"},
    }
    assert [d["user_id"] for d in await audited(api, "user.create")] == [created["databaseId"]]
    assert (await audited(api, "user.create"))[0]["email"] == "nora@corp.test"
    assert [d["team_id"] for d in await audited(api, "team.create")] == [team["databaseId"]]
    [change] = await audited(api, "team.update")
    assert change["changes"] == {
        "name": ["East-2", "East Two"],
        "manager_id": [None, created["databaseId"]],
    }


INVALID_USERS = [
    (new_user(email="not-an-email"), "VALIDATION", "email"),
    (new_user(email="alice@demo.test"), "CONFLICT", "already in use"),
    (new_user(email="ALICE@demo.test"), "CONFLICT", "already in use"),
    (new_user(role="PARTNER"), "VALIDATION", "role"),
    (new_user(name="   "), "VALIDATION", "name"),
    (new_user(teamId="9999"), "VALIDATION", "team 9999"),
    (new_user(teamId="junk"), "VALIDATION", "team junk"),
    (new_user(capacity=-1), "VALIDATION", "capacity"),
    (new_user(lockQuota=-3), "VALIDATION", "lockQuota"),
    (new_user(regions=[f"r{i}" for i in range(51)]), "VALIDATION", "regions"),
    (new_user(industries=[""]), "VALIDATION", "industries"),
    (new_user(name="x" * 121), "VALIDATION", "name"),
]


@pytest.mark.parametrize(("input", "code", "says"), INVALID_USERS)
async def test_invalid_users_are_refused_with_a_clear_message(
    api: Api, input: dict[str, Any], code: str, says: str
) -> None:
    body = await api.gql(CREATE_USER, {"input": input}, as_user=ADMIN)
    assert errors_of(body) == [code], body
    assert says in body["errors"][0]["message"]
    assert await audited(api, "user.create") == []


async def test_only_an_admin_creates_users_and_teams(api: Api) -> None:
    for email in (MANAGER, "director@demo.test", "alice@demo.test"):
        body = await api.gql(CREATE_USER, {"input": new_user()}, as_user=email)
        assert errors_of(body) == ["FORBIDDEN"]
        body = await api.gql(CREATE_TEAM, {"input": {"name": "Rogue"}}, as_user=email)
        assert errors_of(body) == ["FORBIDDEN"]
        east = await team_id(api, "East")
        body = await api.gql(UPDATE_TEAM, {"id": str(east), "input": {"name": "X"}}, as_user=email)
        assert errors_of(body) == ["FORBIDDEN"]


async def test_a_manager_changes_capacity_in_their_team_only(api: Api) -> None:
    alice = await api.user_id("alice@demo.test")
    carol = await api.user_id("carol@demo.test")
    token = await api.token(MANAGER)
    body = await api.ok(UPDATE_USER, {"id": str(alice), "input": {"capacity": 90}}, token=token)
    assert body["updateUser"]["capacity"] == 90
    # Outside their team, or any other field, even alongside capacity.
    refused = [
        (carol, {"capacity": 90}),
        (alice, {"capacity": 95, "lockQuota": 3}),
        (alice, {"name": "Alice W."}),
        (alice, {"role": "MANAGER"}),
    ]
    for user, change in refused:
        body = await api.gql(UPDATE_USER, {"id": str(user), "input": change}, token=token)
        assert errors_of(body) == ["FORBIDDEN"], (user, change)
    body = await api.gql(
        UPDATE_USER, {"id": str(alice), "input": {"capacity": 1}}, as_user="bob@demo.test"
    )
    assert errors_of(body) == ["FORBIDDEN"]
    [change] = await audited(api, "user.update")
    assert change == {"user_id": alice, "changes": {"capacity": [120, 90]}}


async def test_admin_changes_every_field_and_nulls_clear(api: Api) -> None:
    bob = await api.user_id("bob@demo.test")
    west = await team_id(api, "West")
    body = await api.ok(
        UPDATE_USER,
        {
            "id": str(bob),
            "input": {
                "name": "Robert Li",
                "role": "MANAGER",
                "teamId": str(west),
                "lockQuota": 10,
                "regions": ["West"],
                "industries": [],
            },
        },
        as_user=ADMIN,
    )
    assert body["updateUser"] == {
        "databaseId": bob,
        "name": "Robert Li",
        "role": "MANAGER",
        "capacity": 120,  # left out: stays
        "lockQuota": 10,
        "regions": ["West"],
        "industries": [],
        "team": {"name": "West"},
    }
    cleared = await api.ok(
        UPDATE_USER,
        {"id": str(bob), "input": {"capacity": None, "lockQuota": None, "teamId": None}},
        as_user=ADMIN,
    )
    assert cleared["updateUser"]["capacity"] is None
    assert cleared["updateUser"]["lockQuota"] is None
    assert cleared["updateUser"]["team"] is None
    auditor = {"role": "AUDITOR"}  # bob owns customers; an auditor owns none
    for bad, says in (({"role": None}, "role"), ({"capacity": -5}, "capacity"), (auditor, "hand")):
        refused = await api.gql(UPDATE_USER, {"id": str(bob), "input": bad}, as_user=ADMIN)
        assert errors_of(refused) == ["VALIDATION"] and says in refused["errors"][0]["message"]
    missing = await api.gql(UPDATE_USER, {"id": "99999", "input": {"capacity": 1}}, as_user=ADMIN)
    assert errors_of(missing) == ["NOT_FOUND"]
    first, second = await audited(api, "user.update")
    assert first["changes"]["role"] == ["REP", "MANAGER"]
    assert first["changes"]["team_id"][1] == west
    assert "capacity" not in first["changes"]
    assert second["changes"] == {
        "capacity": [120, None],
        "lock_quota": [10, None],
        "team_id": [west, None],
    }


async def test_moving_a_user_changes_what_the_new_manager_sees_at_once(api: Api) -> None:
    alice = await api.user_id("alice@demo.test")
    owned = {"owner": str(alice)}
    north = (await api.ok(CREATE_TEAM, {"input": {"name": "North"}}, as_user=ADMIN))["createTeam"]
    boss = (
        await api.ok(
            CREATE_USER,
            {"input": new_user(email="nina@corp.test", role="MANAGER", teamId=north["id"])},
            as_user=ADMIN,
        )
    )["createUser"]
    await api.ok(UPDATE_TEAM, {"id": north["id"], "input": {"name": "North", "managerId": boss["id"]}}, as_user=ADMIN)  # fmt: skip
    boss_token, east_token = await api.token("nina@corp.test"), await api.token(MANAGER)
    # Both tokens are used (and their plans cached) before the move.
    had = (await api.ok(OWNED_BY, owned, token=east_token))["customers"]["totalCount"]
    assert had > 0
    assert (await api.ok(OWNED_BY, owned, token=boss_token))["customers"]["totalCount"] == 0
    async with api.services.db.read() as s:
        events_before = await s.scalar(select(func.count()).select_from(OwnershipEvent))

    await api.ok(UPDATE_USER, {"id": str(alice), "input": {"teamId": north["id"]}}, as_user=ADMIN)

    assert (await api.ok(OWNED_BY, owned, token=boss_token))["customers"]["totalCount"] == had
    assert (await api.ok(OWNED_BY, owned, token=east_token))["customers"]["totalCount"] == 0
    alice_token = await api.token("alice@demo.test")
    assert (await api.ok(OWNED_BY, owned, token=alice_token))["customers"]["totalCount"] == had
    me = (await api.ok(ME, token=alice_token))["me"]
    assert me["team"] == {"databaseId": north["databaseId"]}
    async with api.services.db.read() as s:  # nothing changed hands
        assert await s.scalar(select(func.count()).select_from(OwnershipEvent)) == events_before


async def test_moving_a_team_moves_its_subtree_and_never_makes_a_cycle(api: Api) -> None:
    east, west = await team_id(api, "East"), await team_id(api, "West")
    a = (await api.ok(CREATE_TEAM, {"input": {"name": "A", "parentId": str(east)}}, as_user=ADMIN))[
        "createTeam"
    ]
    b = (await api.ok(CREATE_TEAM, {"input": {"name": "B", "parentId": a["id"]}}, as_user=ADMIN))[
        "createTeam"
    ]
    moved = await api.ok(
        UPDATE_TEAM, {"id": a["id"], "input": {"name": "A", "parentId": str(west)}}, as_user=ADMIN
    )
    assert moved["updateTeam"]["parent"] == {"name": "West"}
    now = await paths(api)
    assert now["A"] == f"{now['West']}{a['databaseId']}/"
    assert now["B"] == f"{now['A']}{b['databaseId']}/"
    for parent, team in ((b["id"], a["id"]), (a["id"], a["id"]), (b["id"], str(west))):
        name = "A" if team == a["id"] else "West"
        body = await api.gql(
            UPDATE_TEAM, {"id": team, "input": {"name": name, "parentId": parent}}, as_user=ADMIN
        )
        assert errors_of(body) == ["VALIDATION"], (parent, team)
        assert "own ancestor" in body["errors"][0]["message"]
    assert await paths(api) == now
    top = await api.ok(
        UPDATE_TEAM, {"id": a["id"], "input": {"name": "A", "parentId": None}}, as_user=ADMIN
    )
    assert top["updateTeam"]["parent"] is None
    now = await paths(api)
    assert (
        now["A"] == f"/{a['databaseId']}/" and now["B"] == f"/{a['databaseId']}/{b['databaseId']}/"
    )
    refusals = [
        ({"name": "east"}, "CONFLICT", "already exists"),
        ({"name": " "}, "VALIDATION", "name"),
        ({"name": "C", "parentId": "9999"}, "VALIDATION", "team 9999"),
        ({"name": "C", "managerId": "9999"}, "VALIDATION", "user 9999"),
    ]
    for input, code, says in refusals:
        body = await api.gql(CREATE_TEAM, {"input": input}, as_user=ADMIN)
        assert errors_of(body) == [code], input
        assert says in body["errors"][0]["message"]
    renamed = await api.gql(UPDATE_TEAM, {"id": b["id"], "input": {"name": "West"}}, as_user=ADMIN)
    assert errors_of(renamed) == ["CONFLICT"]
    assert len(await audited(api, "team.update")) == 2


async def test_moving_a_team_changes_a_directors_subtree_at_once(api: Api) -> None:
    carol = await api.user_id("carol@demo.test")
    owned = {"owner": str(carol)}
    outside = (await api.ok(CREATE_TEAM, {"input": {"name": "Outside"}}, as_user=ADMIN))[
        "createTeam"
    ]
    await api.ok(UPDATE_USER, {"id": str(carol), "input": {"teamId": outside["id"]}}, as_user=ADMIN)
    director = await api.token("director@demo.test")
    assert (await api.ok(OWNED_BY, owned, token=director))["customers"]["totalCount"] == 0
    sales = await team_id(api, "Sales")
    await api.ok(
        UPDATE_TEAM,
        {"id": outside["id"], "input": {"name": "Outside", "parentId": str(sales)}},
        as_user=ADMIN,
    )
    assert (await api.ok(OWNED_BY, owned, token=director))["customers"]["totalCount"] > 0
