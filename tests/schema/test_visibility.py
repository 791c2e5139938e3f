"""Each role row of the visibility table, end to end through the real app: which customers
each demo user sees, which fields come back masked, and that invisible ids behave exactly
like missing ones. The expected sets are computed here from the raw tables, independently
of authz/."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from db.models import (
    Collaborator,
    Customer,
    Dispute,
    PartnerCustomer,
    Pool,
    PoolAdmin,
    PoolTeam,
    Team,
    User,
)
from tests.conftest import DEMO_USERS, Api, db_id, errors_of

ALL_CUSTOMERS = """
query All($after: String) {
  customers(first: 100, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id taxId dealValue contacts { phone email } } }
  }
}
"""
ONE = "query One($id: ID!) { customer(id: $id) { id name } }"
HISTORY = "query H($id: ID) { ownershipEvents(customerId: $id) { edges { node { id } } } }"
FOLLOW_UP = """
mutation F($id: ID!) { logFollowUp(input: {customerId: $id, channel: CALL, summary: "hi"}) { id } }
"""


async def crawl(api: Api, token: str) -> tuple[int, dict[int, dict[str, Any]], list[str]]:
    """Every customer the caller sees, across all pages; and the masked field paths."""
    seen: dict[int, dict[str, Any]] = {}
    masked: list[str] = []
    after = None
    total = -1
    while True:
        body = await api.gql(ALL_CUSTOMERS, {"after": after}, token=token)
        assert not body.get("errors"), body
        page = body["data"]["customers"]
        total = page["totalCount"]
        masked += body.get("extensions", {}).get("maskedFields", [])
        for edge in page["edges"]:
            seen[db_id(edge["node"]["id"])] = edge["node"]
        if not page["pageInfo"]["hasNextPage"]:
            return total, seen, masked
        after = page["pageInfo"]["endCursor"]


async def expected(
    api: Api, email: str | None, partner: int | None = None
) -> tuple[set[int], set[int]]:
    """(visible ids, ids whose sensitive fields are visible) by the rules of DESIGN.md."""
    async with api.services.db.read() as s:
        customers = list((await s.execute(select(Customer))).scalars())
        collabs = list((await s.execute(select(Collaborator))).scalars())
        teams = list((await s.execute(select(Team))).scalars())
        disputes = list((await s.execute(select(Dispute))).scalars())
        shared = {
            p.customer_id
            for p in (await s.execute(select(PartnerCustomer))).scalars()
            if p.partner_id == partner
        }
        user = (
            (await s.execute(select(User).where(User.email == email))).scalar_one_or_none()
            if email
            else None
        )
        pool_teams: dict[int, set[int]] = {}
        for pt in (await s.execute(select(PoolTeam))).scalars():
            pool_teams.setdefault(pt.pool_id, set()).add(pt.team_id)
        pool_admins = {
            (a.pool_id, a.user_id) for a in (await s.execute(select(PoolAdmin))).scalars()
        }
    everything = {c.id for c in customers}
    if user is None:  # the partner
        return {c.id for c in customers if c.referred_by_partner_id == partner} | shared, set()
    mine = {c.id for c in customers if c.owner_id == user.id}
    collab = {x.customer_id for x in collabs if x.user_id == user.id}
    service_collab = {
        x.customer_id for x in collabs if x.user_id == user.id and x.role == "SERVICE"
    }
    managed = {t.id for t in teams if t.manager_id == user.id} | {user.team_id}
    subtree = {
        t.id for t in teams if any(t.path.startswith(m.path) for m in teams if m.id in managed)
    }
    # The pools one belongs to: everyone's (no teams), those naming one's teams or a team
    # above them (managers and directors: also below them), those one administers.
    above = {
        t.id for t in teams if any(m.path.startswith(t.path) for m in teams if m.id in managed)
    }
    mine_teams = above | (subtree if user.role in ("MANAGER", "DIRECTOR") else set())

    def member(pool_id: int | None) -> bool:
        named = pool_teams.get(pool_id or 0, set())
        return not named or bool(named & mine_teams) or (pool_id, user.id) in pool_admins

    pool = {c.id for c in customers if c.owner_id is None and member(c.pool_id)}
    in_team = {c.id for c in customers if c.team_id in managed}
    in_subtree = {c.id for c in customers if c.team_id in subtree}
    role = user.role
    if role in ("ADMIN", "AUDITOR"):
        return everything, everything
    if role == "DIRECTOR":
        return in_subtree | pool, in_subtree
    if role == "MANAGER":
        return in_team | pool, in_team
    if role == "REP":
        claimed = {
            d.customer_id for d in disputes if d.claimant_id == user.id and d.status in UNDECIDED
        }
        return mine | collab | pool | claimed, mine | collab
    if role == "SERVICE":
        return mine | service_collab, mine | service_collab
    if role == "ARBITER":
        return {
            d.customer_id for d in disputes if d.arbiter_id == user.id and d.status in UNDECIDED
        }, set()
    raise AssertionError(role)


UNDECIDED = ("OPEN", "ESCALATED")
USERS = DEMO_USERS


@pytest.mark.parametrize("email", USERS)
async def test_each_role_sees_exactly_its_rows_and_fields(api: Api, email: str) -> None:
    visible, sensitive = await expected(api, email)
    total, seen, masked = await crawl(api, await api.token(email))
    assert set(seen) == visible
    assert total == len(visible)
    for ident, node in seen.items():
        if ident in sensitive:
            continue
        assert node["taxId"] is None and node["dealValue"] is None
        assert all(c["phone"] is None and c["email"] is None for c in node["contacts"])
    # Every masked value is reported, and nothing else.
    hidden = [n for i, n in seen.items() if i not in sensitive]
    assert len(masked) == sum(2 + 2 * len(n["contacts"]) for n in hidden)


async def test_the_demo_spreads_visibility(api: Api) -> None:
    """Guard the fixtures: the table above is only tested if roles really differ."""
    alice, _ = await expected(api, "alice@demo.test")
    carol, _ = await expected(api, "carol@demo.test")
    admin, _ = await expected(api, "admin@demo.test")
    judge, _ = await expected(api, "judge@demo.test")
    assert len(alice) < len(admin) and len(carol) < len(admin)
    assert alice != carol and judge


async def test_masked_fields_are_reported_in_extensions(api: Api) -> None:
    visible, sensitive = await expected(api, "alice@demo.test")
    pooled = sorted(visible - sensitive)[0]
    body = await api.gql(
        "query($id: ID!) { customer(id: $id) { taxId name } }",
        {"id": str(pooled)},
        as_user="alice@demo.test",
    )
    assert body["data"]["customer"]["taxId"] is None
    assert body["extensions"]["maskedFields"] == ["customer.taxId"]


async def test_invisible_ids_answer_exactly_like_missing_ones(api: Api) -> None:
    visible, _ = await expected(api, "alice@demo.test")
    admin, _ = await expected(api, "admin@demo.test")
    hidden = sorted(admin - visible)[0]
    missing = max(admin) + 1000
    token = await api.token("alice@demo.test")

    def shape(body: dict[str, Any], ident: int) -> Any:
        return body["data"], [
            (e["message"].replace(str(ident), "ID"), e["extensions"], e["path"])
            for e in body["errors"]
        ]

    for doc in (ONE, FOLLOW_UP):
        a = await api.gql(doc, {"id": str(hidden)}, token=token)
        b = await api.gql(doc, {"id": str(missing)}, token=token)
        assert errors_of(a) == ["NOT_FOUND"]
        assert shape(a, hidden) == shape(b, missing)
    for junk in ("abc", "-1", "0", "99999999999999999999999"):
        assert errors_of(await api.gql(ONE, {"id": junk}, token=token)) == ["NOT_FOUND"]
    # Lists and nested paths: simply absent.
    a = await api.ok(HISTORY, {"id": str(hidden)}, token=token)
    b = await api.ok(HISTORY, {"id": str(missing)}, token=token)
    assert a == b == {"ownershipEvents": {"edges": []}}


async def test_partner_sees_only_what_it_was_given_and_nothing_sensitive(api: Api) -> None:
    async with api.services.db.read() as s:
        from db.models import Partner

        partner = (
            await s.execute(select(Partner).where(Partner.name == "acme-channel"))
        ).scalar_one()
    visible, _ = await expected(api, None, partner=partner.id)
    assert visible, "the demo shares some customers with acme-channel"
    token = await api.token(partner="acme-channel", scopes=["customer:read"])
    total, seen, masked = await crawl(api, token)
    assert set(seen) == visible and total == len(visible)
    assert all(n["taxId"] is None for n in seen.values())
    assert errors_of(await api.gql("{ users { id } }", token=token)) == ["FORBIDDEN"]
    create = 'mutation { createCustomer(input: {name: "Partner Lead GmbH"}) { id } }'
    assert errors_of(await api.gql(create, token=token)) == ["FORBIDDEN"]


ALIASED = """
query A($id: ID!) {
  customer(id: $id) { t: taxId taxId c: contacts { p: phone name } }
  customers(first: 2, filter: {inPool: true}) { e: edges { n: node { taxId } } }
}
"""


async def test_masked_paths_follow_aliases_and_edges(api: Api) -> None:
    visible, sensitive = await expected(api, "alice@demo.test")
    pooled = sorted(visible - sensitive)[0]
    body = await api.gql(ALIASED, {"id": str(pooled)}, as_user="alice@demo.test")
    contacts = body["data"]["customer"]["c"]
    assert body["data"]["customer"]["t"] is None and all(c["p"] is None for c in contacts)
    # Sibling fields resolve concurrently: the order is not part of the answer.
    assert sorted(body["extensions"]["maskedFields"]) == sorted(
        [
            "customer.t",
            "customer.taxId",
            *(f"customer.c.{j}.p" for j in range(len(contacts))),
            "customers.e.0.n.taxId",
            "customers.e.1.n.taxId",
        ]
    )


PARTNER_VIEW = """
{ customers(first: 100) { edges { node {
    id name owner { email } createdBy { name } team { name }
    collaborators { role user { email } } openDisputes { claimant { email } }
    latestFollowUp { summary } followUps(first: 2) { edges { node { summary } } }
} } }
  ownershipEvents(first: 100) { edges { node { kind fromOwner { email } toOwner { email } } } }
}
"""
LATEST = "query L($id: ID!) { customer(id: $id) { latestFollowUp { summary } } }"
STAFF_FIELDS = ("owner", "createdBy", "team", "collaborators", "openDisputes")


async def test_a_partner_sees_customers_not_staff_nor_notes(api: Api) -> None:
    """Hole 8: people behind a customer are masked for partners (policy `customer.staff`),
    and so are follow-up notes (they name their author)."""
    token = await api.token(partner="acme-channel", scopes=["customer:read"])
    body = await api.gql(PARTNER_VIEW, token=token)
    assert not body.get("errors"), body
    nodes = [e["node"] for e in body["data"]["customers"]["edges"]]
    assert nodes
    for n in nodes:
        assert n["owner"] is None and n["createdBy"] is None and n["team"] is None
        assert n["collaborators"] == n["openDisputes"] == [] and n["latestFollowUp"] is None
        assert n["followUps"]["edges"] == []
    events = [e["node"] for e in body["data"]["ownershipEvents"]["edges"]]
    assert events and all(e["fromOwner"] is None and e["toOwner"] is None for e in events)
    masked = set(body["extensions"]["maskedFields"])
    for i in range(len(nodes)):
        for name in (*STAFF_FIELDS, "latestFollowUp", "followUps"):
            assert f"customers.edges.{i}.node.{name}" in masked
    internal = await api.ok(PARTNER_VIEW, as_user="admin@demo.test")
    assert any(e["node"]["owner"] for e in internal["customers"]["edges"])
    assert any(e["node"]["latestFollowUp"] for e in internal["customers"]["edges"])


async def test_a_partner_with_followup_read_still_sees_no_notes_nor_staff(api: Api) -> None:
    """A follow-up names its author (non-null staff): never shown to a partner."""
    token = await api.token(partner="acme-channel", scopes=["customer:read", "followup:read"])
    body = await api.gql(PARTNER_VIEW, token=token)
    nodes = [e["node"] for e in body["data"]["customers"]["edges"]]
    assert nodes
    for n in nodes:
        assert n["latestFollowUp"] is None and n["followUps"]["edges"] == []
        assert n["owner"] is None and n["collaborators"] == []
    masked = body["extensions"]["maskedFields"]
    assert sum(p.endswith(("latestFollowUp", "followUps")) for p in masked) == 2 * len(nodes)


NAMES_AND_A_NULL_TAX_ID = """query N($id: ID!) { customer(id: $id) { taxId contacts { name } } }"""


async def test_an_audit_entry_needs_a_sensitive_value_actually_read(api: Api) -> None:
    """AUDITOR: selecting contacts' names beside a tax id that is null reads nothing
    sensitive, so nothing is written down."""
    from db.models import AuditEntry, Contact

    async with api.services.db.read() as s:
        with_contacts = set((await s.execute(select(Contact.customer_id))).scalars())
        customers = list((await s.execute(select(Customer))).scalars())
    target = next(c for c in customers if c.tax_id is None and c.id in with_contacts)
    await api.ok(NAMES_AND_A_NULL_TAX_ID, {"id": str(target.id)}, as_user="audit@demo.test")
    async with api.services.db.read() as s:
        rows = (
            await s.execute(
                select(AuditEntry).where(
                    AuditEntry.customer_id == target.id,
                    AuditEntry.action == "customer.read_sensitive",
                )
            )
        ).all()
    assert rows == []


@pytest.mark.parametrize(
    "email", ["alice@demo.test", "carol@demo.test", "manager.east@demo.test", "director@demo.test"]
)
async def test_a_pool_is_seen_by_its_members_only(api: Api, email: str) -> None:
    """Half the pool moves to a West pool administered by East's manager: each role sees
    the rows of the pools it belongs to, exactly."""
    async with api.services.db.write() as s, s.begin():
        west = Pool(name="West pool", rules={}, created_at=api.services.clock.now())
        s.add(west)
        await s.flush()
        team = (await s.execute(select(Team).where(Team.name == "West"))).scalar_one()
        manager = (
            await s.execute(select(User).where(User.email == "manager.east@demo.test"))
        ).scalar_one()
        s.add(PoolTeam(pool_id=west.id, team_id=team.id))
        s.add(PoolAdmin(pool_id=west.id, user_id=manager.id))
        pooled = list(
            (await s.execute(select(Customer.id).where(Customer.owner_id.is_(None)))).scalars()
        )
        await s.execute(
            update(Customer).where(Customer.id.in_(pooled[::2])).values(pool_id=west.id)
        )
    visible, _ = await expected(api, email)
    _, seen, _ = await crawl(api, await api.token(email))
    assert set(seen) == visible
    west_rows = set(pooled[::2])
    assert bool(visible & west_rows) == (email != "alice@demo.test")
