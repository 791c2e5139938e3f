"""The `auditLog` query: who may read it, its filters and pages, the rows the use cases
write, and that nothing can change a row once written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from db.models import AuditEntry, Customer, OwnershipEvent
from kernel.clock import FrozenClock
from tests.conftest import SEED_TIME, Api, db_id, errors_of

AUDIT_LOG = """
query A($action: String, $actor: ID, $customer: ID, $since: DateTime, $until: DateTime,
        $first: Int!, $after: String) {
  auditLog(action: $action, actorId: $actor, customerId: $customer, since: $since,
           until: $until, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id databaseId at action details partnerName
                          actor { email } customer { id name } } }
  }
}
"""
CLAIM = "mutation C($id: ID!) { claimCustomer(customerId: $id) { id } }"
RELEASE = 'mutation R($id: ID!) { releaseToPool(customerId: $id, reason: "no fit") { id } }'
ISSUE = """
mutation I($user: ID!) { issueApiToken(userId: $user, scopes: ["customer:read"]) { id } }
"""
REVOKE = "mutation R($id: ID!) { revokeApiToken(id: $id) }"
SET_RULES = """
mutation { setAssignmentRules(rules: [{name: "All east", strategy: ROUND_ROBIN,
                                       teamId: "TEAM"}]) { name } }
"""
DEACTIVATE = "mutation D($id: ID!) { deactivateUser(id: $id) { active } }"
TAX_IDS = "{ customers(first: 5) { edges { node { id taxId } } } }"


async def log(api: Api, as_user: str = "audit@demo.test", **variables: Any) -> dict[str, Any]:
    variables.setdefault("first", 50)
    return (await api.ok(AUDIT_LOG, variables, as_user=as_user))["auditLog"]


def actions(page: dict[str, Any]) -> list[str]:
    return [e["node"]["action"] for e in page["edges"]]


async def pool_customer(api: Api) -> int:
    async with api.services.db.read() as s:
        return int(
            await s.scalar(select(Customer.id).where(Customer.owner_id.is_(None)).limit(1)) or 0
        )


async def test_only_auditors_and_admins_read_the_audit_log(api: Api) -> None:
    for email in ("alice@demo.test", "manager.east@demo.test", "director@demo.test"):
        body = await api.gql(AUDIT_LOG, {"first": 5}, as_user=email)
        assert errors_of(body) == ["FORBIDDEN"], email
        assert "audit log" in body["errors"][0]["message"]
    assert errors_of(await api.gql(AUDIT_LOG, {"first": 5})) == ["UNAUTHENTICATED"]
    await log(api, "audit@demo.test")
    await log(api, "admin@demo.test")


async def test_ownership_changes_and_tokens_are_written_down(api: Api, clock: FrozenClock) -> None:
    since = clock.advance(minutes=1).isoformat()  # after what the demo seeded
    cid = await pool_customer(api)
    alice = await api.user_id("alice@demo.test")
    await api.ok(CLAIM, {"id": str(cid)}, as_user="alice@demo.test")
    await api.ok(RELEASE, {"id": str(cid)}, as_user="alice@demo.test")
    issued = await api.ok(ISSUE, {"user": str(alice)}, as_user="alice@demo.test")
    token_id = issued["issueApiToken"]["id"]
    await api.ok(REVOKE, {"id": token_id}, as_user="alice@demo.test")

    mine = await log(api, actor=str(alice), since=since)
    assert actions(mine) == [
        "token.revoke",
        "token.issue",
        "ownership.released",
        "ownership.claimed",
    ]
    assert mine["totalCount"] == 4
    assert {e["node"]["actor"]["email"] for e in mine["edges"]} == {"alice@demo.test"}
    revoke, issue, released, claimed = (e["node"] for e in mine["edges"])
    assert json.loads(revoke["details"]) == {"token_id": db_id(token_id)}
    assert json.loads(issue["details"])["token_id"] == db_id(token_id)
    assert db_id(claimed["customer"]["id"]) == int(cid)
    assert json.loads(claimed["details"])["to_user_id"] == alice
    about = await log(api, customer=str(cid), since=since)
    assert actions(about) == ["ownership.released", "ownership.claimed"]
    only = await log(api, action="ownership.claimed", actor=str(alice), since=since)
    assert [db_id(e["node"]["customer"]["id"]) for e in only["edges"]] == [int(cid)]


async def test_rule_changes_and_deactivations_are_written_down(
    api: Api, clock: FrozenClock
) -> None:
    since = clock.advance(minutes=1).isoformat()
    east = await api.ok("{ teams { id name } }", as_user="admin@demo.test")
    team = next(t["id"] for t in east["teams"] if t["name"] == "East")
    await api.ok(SET_RULES.replace("TEAM", team), as_user="admin@demo.test")
    carol = await api.user_id("carol@demo.test")
    await api.ok(DEACTIVATE, {"id": str(carol)}, as_user="admin@demo.test")
    admin = str(await api.user_id("admin@demo.test"))
    rules = await log(api, actor=admin, since=since, action="rules.set")
    assert rules["totalCount"] == 1
    deactivated = await log(api, actor=admin, since=since, action="user.deactivate")
    entry = deactivated["edges"][0]["node"]
    assert json.loads(entry["details"])["user_id"] == carol
    # Her customers went to the pool in one statement; each has its own entry.
    moved = json.loads(entry["details"])["moved"]
    released = await log(api, actor=admin, since=since, action="ownership.released", first=1)
    assert moved and released["totalCount"] == moved


async def test_filters_by_time_and_pages_newest_first(api: Api, clock: FrozenClock) -> None:
    alice = await api.user_id("alice@demo.test")
    for _ in range(5):
        clock.advance(hours=1)
        await api.ok(ISSUE, {"user": str(alice)}, as_user="alice@demo.test")
    since = SEED_TIME.replace(hour=SEED_TIME.hour + 2).isoformat()
    until = SEED_TIME.replace(hour=SEED_TIME.hour + 4).isoformat()
    window = await log(api, action="token.issue", since=since, until=until)
    assert window["totalCount"] == 2  # the second and third hour: since inclusive, until not
    assert [e["node"]["at"] for e in window["edges"]] == [
        SEED_TIME.replace(hour=SEED_TIME.hour + h).isoformat() for h in (3, 2)
    ]

    seen: list[int] = []
    after = None
    while True:
        page = await log(api, action="token.issue", first=2, after=after)
        assert page["totalCount"] == 5
        seen += [e["node"]["databaseId"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)

    naive = await api.gql(
        AUDIT_LOG, {"first": 5, "since": "2026-06-01T00:00:00"}, as_user="audit@demo.test"
    )
    assert errors_of(naive) == ["VALIDATION"]
    assert (await log(api, actor="31415926"))["totalCount"] == 0


async def test_an_entry_names_no_customer_the_reader_may_not_see(api: Api) -> None:
    cid = await pool_customer(api)
    await api.ok(CLAIM, {"id": str(cid)}, as_user="alice@demo.test")
    # An auditor's token scoped to the audit log alone sees no customer.
    narrow = await api.token("audit@demo.test", scopes=["audit:read"])
    body = await api.gql(AUDIT_LOG, {"first": 1, "action": "ownership.claimed"}, token=narrow)
    node = body["data"]["auditLog"]["edges"][0]["node"]
    assert node["customer"] is None
    assert node["actor"]["email"] == "alice@demo.test"
    full = await log(api, action="ownership.claimed", first=1)
    assert db_id(full["edges"][0]["node"]["customer"]["id"]) == int(cid)


@pytest.mark.parametrize("role", ["admin@demo.test", "director@demo.test", "audit@demo.test"])
async def test_sensitive_reads_of_audited_roles_are_logged(api: Api, role: str) -> None:
    data = await api.ok(TAX_IDS, as_user=role)
    read = {e["node"]["id"] for e in data["customers"]["edges"] if e["node"]["taxId"]}
    assert read
    page = await log(api, action="customer.read_sensitive", actor=str(await api.user_id(role)))
    assert {e["node"]["customer"]["id"] for e in page["edges"]} == read


async def test_audit_entries_cannot_be_changed_or_deleted(api: Api) -> None:
    await api.ok(TAX_IDS, as_user="audit@demo.test")
    statements = [
        "UPDATE audit_entry SET action = 'nothing'",
        "DELETE FROM audit_entry",
    ]
    if api.services.db.engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_entry")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            async with api.services.db.write() as session, session.begin():
                await session.execute(text(statement))
    async with api.services.db.read() as session:
        kept = (await session.execute(select(AuditEntry.action).distinct())).scalars().all()
    assert "customer.read_sensitive" in kept and "nothing" not in kept


async def test_every_ownership_event_has_its_entry_whichever_path_wrote_it(
    api: Api, clock: FrozenClock
) -> None:
    from ownergraph.scheduler import run_jobs_once

    start = clock.advance(days=200)  # every owned customer is due for recycling
    report = await run_jobs_once(api.services)
    assert report.recycled > 0
    page = await log(api, action="ownership.recycled", since=start.isoformat(), first=1)
    assert page["totalCount"] == report.recycled
    assert page["edges"][0]["node"]["actor"] is None  # the system did it
    async with api.services.db.read() as s:
        events = await s.scalar(select(func.count()).select_from(OwnershipEvent))
        entries = await s.scalar(
            select(func.count()).where(AuditEntry.action.startswith("ownership."))
        )
    assert entries == events


async def test_a_customer_a_partner_entered_names_the_partner(api: Api) -> None:
    token = await api.token(partner="acme-channel", scopes=["customer:*"])
    made = await api.ok('mutation { createCustomer(input: {name: "Referred Ltd"}) { id } }',
                        token=token)  # fmt: skip
    page = await log(api, customer=made["createCustomer"]["id"], action="ownership.created")
    node = page["edges"][0]["node"]
    assert node["partnerName"] == "acme-channel" and node["actor"] is None
    mine = await api.ok('mutation { createCustomer(input: {name: "Own Ltd"}) { id } }',
                        as_user="alice@demo.test")  # fmt: skip
    page = await log(api, customer=mine["createCustomer"]["id"], action="ownership.created")
    assert page["edges"][0]["node"]["partnerName"] is None
