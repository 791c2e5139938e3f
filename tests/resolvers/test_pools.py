"""Several pools through the real app, on both backends: setting them up (rules merge),
releasing into the owner's team's pool, who sees which pool, reason codes, hidden fields,
moving customers between pools."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from db.models import Contact, Customer, OwnershipEvent, Team
from kernel.clock import FrozenClock
from tests.conftest import Api, db_id, errors_of, serve

ADMIN = "admin@demo.test"
POOLS = """{ pools { id name isDefault size teams { name } admins { email }
  rules { recycleAfterNoFollowUpDays { tier days } recycleAfterNoDealDays exemptClosedDeals
          warnDaysBefore dailyClaimLimit reclaimCooldownDays newArrivalEmbargoHours
          hiddenFields protectionDays } } }"""
CREATE = """mutation C($input: PoolInput!) { createPool(input: $input) {
  id name teams { name } admins { email } rules { dailyClaimLimit recycleAfterNoDealDays
  warnDaysBefore hiddenFields recycleAfterNoFollowUpDays { tier days } } } }"""
UPDATE = """mutation U($id: ID!, $input: PoolInput!) { updatePool(id: $id, input: $input) {
  id name teams { name } admins { email } rules { dailyClaimLimit recycleAfterNoDealDays
  warnDaysBefore hiddenFields recycleAfterNoFollowUpDays { tier days } } } }"""
RELEASE = """mutation R($id: ID!, $code: String, $pool: ID) {
  releaseToPool(customerId: $id, reason: "done", reasonCode: $code, poolId: $pool) {
    id inPool pool { id name } } }"""
CUSTOMER = "query Q($id: ID!) { customer(id: $id) { id pool { name } taxId contacts { name } } }"
CLAIM = "mutation C($id: ID!) { claimCustomer(customerId: $id) { id owner { email } } }"
MOVE = """mutation M($id: ID!, $to: ID!) { movePoolCustomer(customerId: $id, toPoolId: $to) {
  id pool { name } } }"""
STATS = "{ ownershipStats { releasesByReason { code zh en count } } }"


async def team_id(api: Api, name: str) -> int:
    async with api.services.db.read() as session:
        return int((await session.execute(select(Team.id).where(Team.name == name))).scalar_one())


async def customer_row(api: Api, cid: int) -> Customer:
    async with api.services.db.read() as session:
        return (await session.execute(select(Customer).where(Customer.id == cid))).scalar_one()


async def last_event(api: Api, cid: int) -> OwnershipEvent:
    async with api.services.db.read() as session:
        stmt = select(OwnershipEvent).where(OwnershipEvent.customer_id == cid)
        return (
            await session.execute(stmt.order_by(OwnershipEvent.id.desc()).limit(1))
        ).scalar_one()


async def east_pool(api: Api, **rules: Any) -> str:
    """An East pool (team East, admin: East's manager); its global id."""
    data = await api.ok(
        CREATE,
        {
            "input": {
                "name": "East pool",
                "teamIds": [str(await team_id(api, "East"))],
                "adminIds": [str(await api.user_id("manager.east@demo.test"))],
                "rules": rules,
            }
        },
        as_user=ADMIN,
    )
    return str(data["createPool"]["id"])


async def default_pool(api: Api) -> str:
    data = await api.ok(POOLS, as_user=ADMIN)
    return next(p["id"] for p in data["pools"] if p["isDefault"])


async def test_the_default_pool_holds_the_pool_with_todays_settings(api: Api) -> None:
    data = await api.ok(POOLS, as_user=ADMIN)
    (pool,) = data["pools"]
    async with api.services.db.read() as session:
        pooled = list(
            (await session.execute(select(Customer.pool_id).where(Customer.owner_id.is_(None))))
            .scalars()
            .all()
        )
    assert pool["isDefault"] and pool["size"] == len(pooled) > 0
    assert set(pooled) == {db_id(pool["id"])}
    rules = pool["rules"]
    assert rules["recycleAfterNoFollowUpDays"] == [
        {"tier": "A", "days": 30},
        {"tier": "B", "days": 60},
        {"tier": "C", "days": 90},
    ]
    assert rules["warnDaysBefore"] == 3 and rules["reclaimCooldownDays"] == 30
    assert rules["dailyClaimLimit"] is None and rules["protectionDays"] == 0


async def test_update_pool_merges_rules_left_out_keep_explicit_null_clears(api: Api) -> None:
    pid = await east_pool(api, dailyClaimLimit=2, recycleAfterNoDealDays=10)
    data = await api.ok(
        UPDATE,
        {"id": pid, "input": {"name": "East", "rules": {"warnDaysBefore": 5}}},
        as_user=ADMIN,
    )
    pool = data["updatePool"]
    assert pool["name"] == "East" and [t["name"] for t in pool["teams"]] == ["East"]
    assert pool["admins"] == [{"email": "manager.east@demo.test"}]
    assert pool["rules"]["dailyClaimLimit"] == 2 and pool["rules"]["warnDaysBefore"] == 5
    assert pool["rules"]["recycleAfterNoDealDays"] == 10
    data = await api.ok(
        UPDATE,
        {
            "id": pid,
            "input": {
                "name": "East",
                "adminIds": [],
                "rules": {"dailyClaimLimit": None, "warnDaysBefore": None},
            },
        },
        as_user=ADMIN,
    )
    rules = data["updatePool"]["rules"]
    assert rules["dailyClaimLimit"] is None and rules["recycleAfterNoDealDays"] == 10
    assert rules["warnDaysBefore"] == 3  # back to the setting
    assert data["updatePool"]["admins"] == []
    body = await api.gql(
        UPDATE,
        {"id": pid, "input": {"name": "East", "rules": {"hiddenFields": ["secret"]}}},
        as_user=ADMIN,
    )
    assert errors_of(body) == ["VALIDATION"]
    body = await api.gql(CREATE, {"input": {"name": "Mine"}}, as_user="manager.east@demo.test")
    assert errors_of(body) == ["FORBIDDEN"]


async def test_a_release_goes_to_the_owners_team_pool_seen_only_by_its_members(api: Api) -> None:
    pid = await east_pool(api)
    (cid,) = await api.owned("alice@demo.test")
    data = await api.ok(RELEASE, {"id": str(cid)}, as_user="alice@demo.test")
    assert data["releaseToPool"]["pool"]["name"] == "East pool"
    event = await last_event(api, cid)
    assert (event.kind, event.pool_id, event.reason_code) == ("RELEASED", db_id(pid), "other")
    # Carol (West) is no member: the customer and the pool do not exist for her.
    body = await api.gql(CUSTOMER, {"id": str(cid)}, as_user="carol@demo.test")
    assert errors_of(body) == ["NOT_FOUND"]
    body = await api.gql(CLAIM, {"id": str(cid)}, as_user="carol@demo.test")
    assert errors_of(body) == ["NOT_FOUND"]
    carol = await api.ok(POOLS, as_user="carol@demo.test")
    assert [p["name"] for p in carol["pools"]] == ["Public pool"]
    body = await api.gql(
        RELEASE,
        {"id": str((await api.owned("carol@demo.test"))[0]), "pool": pid},
        as_user="carol@demo.test",
    )
    assert errors_of(body) == ["NOT_FOUND"]
    # Bob (East) sees it, the director above East too, and bob claims it.
    bob = await api.ok(POOLS, as_user="bob@demo.test")
    assert sorted(p["name"] for p in bob["pools"]) == ["East pool", "Public pool"]
    await api.ok(CUSTOMER, {"id": str(cid)}, as_user="director@demo.test")
    data = await api.ok(CLAIM, {"id": str(cid)}, as_user="bob@demo.test")
    assert data["claimCustomer"]["owner"]["email"] == "bob@demo.test"
    assert (await last_event(api, cid)).pool_id == db_id(pid)
    # A releaser may choose a pool they belong to.
    dflt = await default_pool(api)
    data = await api.ok(RELEASE, {"id": str(cid), "pool": dflt}, as_user="bob@demo.test")
    assert data["releaseToPool"]["pool"]["name"] == "Public pool"


async def test_reason_codes_are_checked_and_counted(api: Api) -> None:
    first, second = await api.owned("alice@demo.test", 2)
    body = await api.gql(RELEASE, {"id": str(first), "code": "bored"}, as_user="alice@demo.test")
    assert errors_of(body) == ["VALIDATION"] and "no_interest" in body["errors"][0]["message"]
    await api.ok(RELEASE, {"id": str(first), "code": "no_interest"}, as_user="alice@demo.test")
    await api.ok(RELEASE, {"id": str(second)}, as_user="alice@demo.test")
    data = await api.ok(STATS, as_user=ADMIN)
    counts = {r["code"]: r for r in data["ownershipStats"]["releasesByReason"]}
    assert counts["no_interest"]["count"] == 1 and counts["no_interest"]["zh"] == "无意向"
    assert counts["other"]["count"] >= 1 and counts["unreachable"]["count"] == 0


async def test_a_reason_code_can_be_required(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(database_url, clock, tmp_path, require_release_reason_code=True) as api:
        (cid,) = await api.owned("alice@demo.test")
        body = await api.gql(RELEASE, {"id": str(cid)}, as_user="alice@demo.test")
        assert errors_of(body) == ["VALIDATION"]
        await api.ok(RELEASE, {"id": str(cid), "code": "duplicate"}, as_user="alice@demo.test")


async def test_hidden_fields_are_null_and_listed_for_all_but_pool_admins(api: Api) -> None:
    pid = await east_pool(api, hiddenFields=["taxId", "contacts"])
    async with api.services.db.read() as session:
        cid = (
            await session.execute(
                select(Customer.id)
                .where(Customer.owner_id == await api.user_id("alice@demo.test"))
                .where(Customer.tax_id.is_not(None))
                .where(Customer.id.in_(select(Contact.customer_id)))
                .limit(1)
            )
        ).scalar_one()
    await api.ok(RELEASE, {"id": str(cid), "pool": pid}, as_user="alice@demo.test")
    body = await api.gql(CUSTOMER, {"id": str(cid)}, as_user="bob@demo.test")
    customer = body["data"]["customer"]
    assert customer["taxId"] is None and customer["contacts"] == []
    assert {"customer.taxId", "customer.contacts"} <= set(body["extensions"]["maskedFields"])
    page = await api.gql(
        "query { pool(first: 100) { edges { node { id taxId } } } }", as_user="bob@demo.test"
    )
    node = next(e["node"] for e in page["data"]["pool"]["edges"] if db_id(e["node"]["id"]) == cid)
    assert node["taxId"] is None and any(
        m.endswith(".taxId") for m in page["extensions"]["maskedFields"]
    )
    # The pool's admin (who may not read tax ids anyway) and ADMIN see what it hides.
    seen = await api.ok(CUSTOMER, {"id": str(cid)}, as_user="manager.east@demo.test")
    assert seen["customer"]["contacts"]
    seen = await api.ok(CUSTOMER, {"id": str(cid)}, as_user=ADMIN)
    assert seen["customer"]["contacts"] and seen["customer"]["taxId"] is not None
    # Claimed, it is no longer in the pool: the owner sees everything.
    await api.ok(CLAIM, {"id": str(cid)}, as_user="bob@demo.test")
    seen = await api.ok(CUSTOMER, {"id": str(cid)}, as_user="bob@demo.test")
    assert seen["customer"]["taxId"] is not None


async def test_pool_admins_move_customers_between_their_pools(api: Api) -> None:
    pid = await east_pool(api)
    dflt = await default_pool(api)
    (cid,) = await api.owned("alice@demo.test")
    await api.ok(RELEASE, {"id": str(cid)}, as_user="alice@demo.test")
    # The manager administers East but not the default pool.
    body = await api.gql(MOVE, {"id": str(cid), "to": dflt}, as_user="manager.east@demo.test")
    assert errors_of(body) == ["FORBIDDEN"]
    await api.ok(
        UPDATE,
        {
            "id": dflt,
            "input": {
                "name": "Public pool",
                "adminIds": [str(await api.user_id("manager.east@demo.test"))],
            },
        },
        as_user=ADMIN,
    )
    data = await api.ok(MOVE, {"id": str(cid), "to": dflt}, as_user="manager.east@demo.test")
    assert data["movePoolCustomer"]["pool"]["name"] == "Public pool"
    event = await last_event(api, cid)
    assert (event.kind, event.pool_id, event.details["from_pool_id"]) == (
        "POOL_MOVED",
        db_id(dflt),
        db_id(pid),
    )
    assert (await customer_row(api, cid)).pool_id == db_id(dflt)
    body = await api.gql(MOVE, {"id": str(cid), "to": pid}, as_user="bob@demo.test")
    assert errors_of(body) == ["FORBIDDEN"]


POOL_PAGE = """query { pools { name size customers(first: 100) { totalCount edges { node { id inPool
  pool { name } } } } } }"""
FILTERED = """query F($filter: CustomerFilter) { customers(filter: $filter, first: 100) {
  totalCount edges { node { id locked recycleDueAt } } } }"""


async def test_a_pools_customers_and_the_new_filters(api: Api, clock: FrozenClock) -> None:
    pid = await east_pool(api)
    first, second = await api.owned("alice@demo.test", 2)
    await api.ok(RELEASE, {"id": str(first)}, as_user="alice@demo.test")
    data = await api.ok(POOL_PAGE, as_user="bob@demo.test")
    east = next(p for p in data["pools"] if p["name"] == "East pool")
    assert east["size"] == east["customers"]["totalCount"] == 1
    (edge,) = east["customers"]["edges"]
    assert db_id(edge["node"]["id"]) == first and edge["node"]["pool"] == {"name": "East pool"}
    data = await api.ok(FILTERED, {"filter": {"poolId": pid}}, as_user="bob@demo.test")
    assert [db_id(e["node"]["id"]) for e in data["customers"]["edges"]] == [first]
    async with api.services.db.write() as session, session.begin():
        row = await session.get(Customer, second)
        assert row is not None
        row.locked_at = clock.now()
    data = await api.ok(FILTERED, {"filter": {"locked": True}}, as_user="alice@demo.test")
    assert [db_id(e["node"]["id"]) for e in data["customers"]["edges"]] == [second]
    assert data["customers"]["edges"][0]["node"]["locked"] is True
    soon = (clock.now() + timedelta(days=31)).isoformat()
    data = await api.ok(FILTERED, {"filter": {"recycleDueBefore": soon}}, as_user="alice@demo.test")
    due = [e["node"] for e in data["customers"]["edges"]]
    limit = clock.now() + timedelta(days=31)
    assert due and all(
        datetime.fromisoformat(n["recycleDueAt"].replace("Z", "+00:00")) < limit for n in due
    )
    assert second not in {db_id(n["id"]) for n in due}  # locked: never due


ASSIGN = """mutation A($id: ID!, $to: ID!) {
  assignCustomer(customerId: $id, toUserId: $to, reason: "hot lead") { id owner { email } } }"""


async def test_a_pool_admin_assigns_from_the_pool_to_its_members(api: Api) -> None:
    pid = await east_pool(api)
    bob = str(await api.user_id("bob@demo.test"))
    await api.ok(
        UPDATE, {"id": pid, "input": {"name": "East pool", "adminIds": [bob]}}, as_user=ADMIN
    )
    first, second = await api.owned("alice@demo.test", 2)
    for cid in (first, second):
        await api.ok(RELEASE, {"id": str(cid)}, as_user="alice@demo.test")
    carol = str(await api.user_id("carol@demo.test"))
    body = await api.gql(ASSIGN, {"id": str(first), "to": carol}, as_user="bob@demo.test")
    assert errors_of(body) == ["FORBIDDEN"]  # Carol is no member of the East pool
    alice = str(await api.user_id("alice@demo.test"))
    body = await api.gql(ASSIGN, {"id": str(first), "to": alice}, as_user="bob@demo.test")
    # Bob no longer sees it: he is answered its id and name only (the owner withheld).
    assert body["data"]["assignCustomer"]["owner"] is None
    assert body["extensions"]["maskedFields"] == ["assignCustomer.owner"]
    assert (await customer_row(api, first)).owner_id == db_id(alice)
    assert (await last_event(api, first)).pool_id == db_id(pid)
    # Alice administers nothing: the policy still refuses her.
    body = await api.gql(ASSIGN, {"id": str(second), "to": alice}, as_user="alice@demo.test")
    assert errors_of(body) == ["FORBIDDEN"]
