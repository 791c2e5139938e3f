"""Partners see customers, never staff: disputes (claimant, evidence) and follow-ups
(author) name people, so a partner token reads neither. And an arbiter, like a claimant,
sees a disputed customer only while the dispute is undecided."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Dispute
from tests.conftest import Api, db_id, errors_of

PARTNER_DISPUTES = "{ disputes(first: 50) { edges { node { evidence claimant { email } } } } }"
PARTNER_NOTES = """
{ customers(first: 100) { edges { node {
    id latestFollowUp { author { email } } followUps(first: 5) { edges { node { author { email } } } }
    openDisputes { claimant { email } evidence }
} } } }
"""
JUDGE_VIEW = """
query J($id: ID!) { customer(id: $id) { id name } disputes { edges { node { id status } } } }
"""
RESOLVE = """
mutation R($id: ID!, $to: ID!) { resolveDispute(id: $id, awardToUserId: $to) { status } }
"""
PARTNER_SCOPES = (
    ["customer:read"],
    ["customer:read", "followup:read"],
    ["customer:*", "followup:*"],
)


async def test_a_partner_may_not_read_disputes_whatever_its_scopes(api: Api) -> None:
    staff = await api.ok(PARTNER_DISPUTES, as_user="admin@demo.test")
    assert staff["disputes"]["edges"], "the demo has a dispute"
    for scopes in PARTNER_SCOPES:
        token = await api.token(partner="acme-channel", scopes=scopes)
        body = await api.gql(PARTNER_DISPUTES, token=token)
        assert errors_of(body) == ["FORBIDDEN"]
        assert body["data"] is None
        assert "partner" in body["errors"][0]["message"]


async def test_a_partner_never_reads_follow_ups_nor_open_disputes(api: Api) -> None:
    """A follow-up's author is non-null staff: withheld from partners even with
    `followup:read` (null / empty, listed in maskedFields)."""
    for scopes in PARTNER_SCOPES:
        token = await api.token(partner="acme-channel", scopes=scopes)
        body = await api.gql(PARTNER_NOTES, token=token)
        assert not body.get("errors"), body
        nodes = [e["node"] for e in body["data"]["customers"]["edges"]]
        assert nodes
        for n in nodes:
            assert n["latestFollowUp"] is None and n["followUps"]["edges"] == []
            assert n["openDisputes"] == []
        masked = set(body["extensions"]["maskedFields"])
        for i in range(len(nodes)):
            for name in ("latestFollowUp", "followUps", "openDisputes"):
                assert f"customers.edges.{i}.node.{name}" in masked
    # The same customers have notes for people.
    internal = await api.ok(PARTNER_NOTES, as_user="admin@demo.test")
    assert any(e["node"]["latestFollowUp"] for e in internal["customers"]["edges"])


async def test_an_arbiter_sees_a_disputed_customer_only_while_undecided(api: Api) -> None:
    judge = await api.user_id("judge@demo.test")
    async with api.services.db.read() as s:
        dispute = (
            await s.execute(select(Dispute).where(Dispute.arbiter_id == judge).limit(1))
        ).scalar_one()
    assert dispute.status in ("OPEN", "ESCALATED")
    token = await api.token("judge@demo.test")
    ident = {"id": str(dispute.customer_id)}
    before = await api.ok(JUDGE_VIEW, ident, token=token)
    assert db_id(before["customer"]["id"]) == dispute.customer_id
    assert [db_id(e["node"]["id"]) for e in before["disputes"]["edges"]] == [dispute.id]

    done = await api.ok(
        RESOLVE, {"id": str(dispute.id), "to": str(dispute.respondent_id)}, token=token
    )
    assert done["resolveDispute"]["status"] == "RESOLVED"
    after = await api.gql(JUDGE_VIEW, ident, token=token)
    assert errors_of(after) == ["NOT_FOUND"]
    assert after["data"] is None or after["data"]["customer"] is None
