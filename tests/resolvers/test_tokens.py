"""issueApiToken and revokeApiToken, and what a partner token may see."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select

from db.models import Customer, Partner, PartnerCustomer
from kernel.clock import FrozenClock
from tests.conftest import SEED_TIME, Api, db_id, errors_of

ISSUE = """
mutation I($partner: String, $user: ID, $scopes: [String!]!, $expires: DateTime) {
  issueApiToken(partnerName: $partner, userId: $user, scopes: $scopes, expiresAt: $expires) {
    id token scopes expiresAt
  }
}
"""
REVOKE = "mutation R($id: ID!) { revokeApiToken(id: $id) }"
ME = "query { me { email } }"
CUSTOMERS = """
query {
  customers(first: 100) {
    totalCount
    edges { node { id taxId dealValue contacts { phone email } } }
  }
}
"""
CUSTOMER = "query C($id: ID!) { customer(id: $id) { id } }"
CREATE = 'mutation { createCustomer(input: {name: "Scoped Out Ltd"}) { id } }'


async def issue(api: Api, as_user: str, **variables: Any) -> dict[str, Any]:
    variables.setdefault("scopes", ["customer:read"])
    return await api.gql(ISSUE, variables, as_user=as_user)


async def test_a_partner_token_sees_its_customers_and_never_sensitive_fields(api: Api) -> None:
    body = await issue(api, "admin@demo.test", partner="acme-channel")
    issued = body["data"]["issueApiToken"]
    assert issued["scopes"] == ["customer:read"]
    async with api.services.db.read() as s:
        partner = await s.scalar(select(Partner.id).where(Partner.name == "acme-channel"))
        shared = exists().where(
            PartnerCustomer.customer_id == Customer.id, PartnerCustomer.partner_id == partner
        )
        theirs = or_(Customer.referred_by_partner_id == partner, shared)
        expected = await s.scalar(select(func.count()).where(theirs))
        with_tax_id = await s.scalar(
            select(func.count()).where(theirs, Customer.tax_id.is_not(None))
        )
        other = await s.scalar(select(func.min(Customer.id)).where(~theirs))
    assert expected and with_tax_id  # the demo gives the partner something to hide
    seen = await api.gql(CUSTOMERS, token=issued["token"])
    page = seen["data"]["customers"]
    assert page["totalCount"] == expected
    nodes = [e["node"] for e in page["edges"]]
    assert all(n["taxId"] is None and n["dealValue"] is None for n in nodes)
    assert all(c["phone"] is None and c["email"] is None for n in nodes for c in n["contacts"])
    assert seen["extensions"]["maskedFields"]
    hidden = await api.gql(CUSTOMER, {"id": str(other)}, token=issued["token"])
    assert errors_of(hidden) == ["NOT_FOUND"]
    assert errors_of(await api.gql(CREATE, token=issued["token"])) == ["FORBIDDEN"]


async def test_people_issue_tokens_for_themselves_within_their_own_scopes(
    api: Api, clock: FrozenClock
) -> None:
    alice = str(await api.user_id("alice@demo.test"))
    bob = str(await api.user_id("bob@demo.test"))
    expires = (SEED_TIME + timedelta(days=1)).isoformat()
    body = await issue(api, "alice@demo.test", user=alice, expires=expires)
    issued = body["data"]["issueApiToken"]
    assert (await api.ok(ME, token=issued["token"]))["me"]["email"] == "alice@demo.test"
    assert errors_of(await api.gql(CREATE, token=issued["token"])) == ["FORBIDDEN"]
    default = (await issue(api, "alice@demo.test", user=alice))["data"]["issueApiToken"]
    hours = api.services.settings.token_ttl_hours
    assert default["expiresAt"] == (SEED_TIME + timedelta(hours=hours)).isoformat()

    assert errors_of(await issue(api, "alice@demo.test", user=bob)) == ["FORBIDDEN"]
    assert errors_of(await issue(api, "alice@demo.test", partner="acme-channel")) == ["FORBIDDEN"]
    # A scoped token cannot mint a stronger one.
    narrow = await api.token("alice@demo.test", scopes=["token:issue"])
    minted = await api.gql(ISSUE, {"user": alice, "scopes": ["*"]}, token=narrow)
    assert errors_of(minted) == ["FORBIDDEN"]

    clock.advance(days=2)
    assert errors_of(await api.gql(ME, token=issued["token"])) == ["UNAUTHENTICATED"]


async def test_bad_token_requests_fail_clearly(api: Api) -> None:
    alice = str(await api.user_id("alice@demo.test"))
    past = (SEED_TIME - timedelta(minutes=1)).isoformat()
    cases = [
        ({}, "VALIDATION"),  # neither user nor partner
        ({"user": alice, "partner": "acme-channel"}, "VALIDATION"),
        ({"user": alice, "scopes": []}, "VALIDATION"),
        ({"user": alice, "scopes": ["customers read"]}, "VALIDATION"),
        ({"user": alice, "expires": past}, "VALIDATION"),
        ({"user": "31415926"}, "NOT_FOUND"),
        ({"partner": "nobody-channel"}, "NOT_FOUND"),
    ]
    for variables, code in cases:
        body = await issue(api, "admin@demo.test", **variables)
        assert errors_of(body) == [code], (variables, body)


async def test_a_revoked_token_stops_working_at_once(api: Api) -> None:
    alice = str(await api.user_id("alice@demo.test"))
    issued = (await issue(api, "alice@demo.test", user=alice, scopes=["*"]))["data"][
        "issueApiToken"
    ]
    assert not (await api.gql(ME, token=issued["token"])).get("errors")
    other = (await issue(api, "bob@demo.test", user=str(await api.user_id("bob@demo.test"))))[
        "data"
    ]["issueApiToken"]

    assert errors_of(await api.gql(REVOKE, {"id": issued["id"]}, as_user="bob@demo.test")) == [
        "NOT_FOUND"
    ]
    assert errors_of(await api.gql(REVOKE, {"id": "8888888"}, as_user="alice@demo.test")) == [
        "NOT_FOUND"
    ]
    async with api.services.bus.subscribe("revocations") as messages:
        done = await api.ok(REVOKE, {"id": issued["id"]}, as_user="alice@demo.test")
        message = await asyncio.wait_for(anext(messages), 2)
    assert done == {"revokeApiToken": True}
    assert message == {"token_id": db_id(issued["id"])}
    assert errors_of(await api.gql(ME, token=issued["token"])) == ["UNAUTHENTICATED"]
    # Revoking again is not an error; an admin revokes anyone's.
    assert (await api.ok(REVOKE, {"id": issued["id"]}, as_user="alice@demo.test"))["revokeApiToken"]
    assert (await api.ok(REVOKE, {"id": other["id"]}, as_user="admin@demo.test"))["revokeApiToken"]
    assert errors_of(await api.gql(ME, token=other["token"])) == ["UNAUTHENTICATED"]


API_TOKENS = """
query T($revoked: Boolean!) {
  apiTokens(includeRevoked: $revoked) {
    id databaseId partnerName user { email } scopes createdAt expiresAt lastUsedAt revokedAt
  }
}
"""


async def test_admins_list_every_token_and_others_their_own(api: Api) -> None:
    alice = str(await api.user_id("alice@demo.test"))
    kept = (await issue(api, "alice@demo.test", user=alice))["data"]["issueApiToken"]
    gone = (await issue(api, "alice@demo.test", user=alice))["data"]["issueApiToken"]
    partner = (await issue(api, "admin@demo.test", partner="acme-channel"))["data"]
    await api.ok(REVOKE, {"id": gone["id"]}, as_user="alice@demo.test")

    token = await api.token("alice@demo.test")
    mine = (await api.ok(API_TOKENS, {"revoked": False}, token=token))["apiTokens"]
    assert {t["user"]["email"] for t in mine} == {"alice@demo.test"}
    ids = [t["id"] for t in mine]
    assert kept["id"] in ids and gone["id"] not in ids
    assert ids == sorted(ids, key=db_id, reverse=True)  # newest first
    listed = next(t for t in mine if t["id"] == kept["id"])
    assert listed["scopes"] == ["customer:read"] and listed["databaseId"] == db_id(kept["id"])
    assert listed["revokedAt"] is None and listed["expiresAt"] == kept["expiresAt"]
    with_revoked = (await api.ok(API_TOKENS, {"revoked": True}, token=token))["apiTokens"]
    assert next(t for t in with_revoked if t["id"] == gone["id"])["revokedAt"]

    everyone = await api.ok(API_TOKENS, {"revoked": False}, as_user="admin@demo.test")
    holders = {t["partnerName"] or t["user"]["email"] for t in everyone["apiTokens"]}
    assert {"alice@demo.test", "admin@demo.test", "acme-channel"} <= holders
    assert partner["issueApiToken"]["id"] in [t["id"] for t in everyone["apiTokens"]]
    # The listed id is the one revokeApiToken takes.
    await api.ok(REVOKE, {"id": listed["id"]}, as_user="admin@demo.test")

    acme = await api.token(partner="acme-channel", scopes=["customer:read"])
    assert errors_of(await api.gql(API_TOKENS, {"revoked": False}, token=acme)) == ["FORBIDDEN"]
    # With the scope, a partner's token lists its partner's tokens and nobody else's.
    acme = await api.token(partner="acme-channel", scopes=["token:read"])
    theirs = (await api.ok(API_TOKENS, {"revoked": True}, token=acme))["apiTokens"]
    assert theirs and {t["partnerName"] for t in theirs} == {"acme-channel"}
    assert all(t["user"] is None for t in theirs)


PARTNER_CREATE = """
mutation C($name: String!) { createCustomer(input: {name: $name}) { id } }
"""
PARTNER_FOLLOW_UPS = """
{ customers(first: 100) { edges { node {
    id latestFollowUp { summary } followUps(first: 5) { edges { node { summary } } } } } } }
"""


async def test_a_partners_duplicate_answer_names_nothing_but_the_fact(api: Api) -> None:
    async with api.services.db.read() as s:
        partner = await s.scalar(select(Partner.id).where(Partner.name == "acme-channel"))
        shared = exists().where(
            PartnerCustomer.customer_id == Customer.id, PartnerCustomer.partner_id == partner
        )
        hidden = (
            await s.execute(
                select(Customer.id, Customer.name)
                .where(Customer.owner_id.is_not(None), ~shared)
                .where(or_(Customer.referred_by_partner_id.is_(None),
                           Customer.referred_by_partner_id != partner))
                .limit(1)
            )
        ).one()  # fmt: skip
    token = await api.token(partner="acme-channel", scopes=["customer:*"])
    body = await api.gql(PARTNER_CREATE, {"name": hidden.name.upper()}, token=token)
    assert errors_of(body) == ["DUPLICATE_CUSTOMER"]
    error = body["errors"][0]
    assert error["extensions"] == {"code": "DUPLICATE_CUSTOMER"}
    assert error["message"] == "This customer already exists."
    # A person still learns whose it is (name, owner and team).
    rep = await api.gql(PARTNER_CREATE, {"name": hidden.name}, as_user="bob@demo.test")
    assert rep["errors"][0]["extensions"]["customerName"] == hidden.name


async def test_a_user_token_reads_follow_ups_only_with_the_followup_read_scope(
    api: Api,
) -> None:
    without = await api.token("admin@demo.test", scopes=["customer:read"])
    body = await api.gql(PARTNER_FOLLOW_UPS, token=without)
    nodes = [e["node"] for e in body["data"]["customers"]["edges"]]
    assert nodes and not body.get("errors")
    assert all(n["latestFollowUp"] is None and n["followUps"]["edges"] == [] for n in nodes)
    masked = body["extensions"]["maskedFields"]
    assert "customers.edges.0.node.latestFollowUp" in masked
    assert "customers.edges.0.node.followUps" in masked

    scoped = await api.token("admin@demo.test", scopes=["customer:read", "followup:read"])
    allowed = await api.ok(PARTNER_FOLLOW_UPS, token=scoped)
    read = [e["node"] for e in allowed["customers"]["edges"]]
    assert any(n["latestFollowUp"] for n in read)
    assert any(n["followUps"]["edges"] for n in read)
