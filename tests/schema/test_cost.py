"""Query cost: ordinary pages pass, multiplying nested pages is refused before running."""

from __future__ import annotations

from tests.conftest import Api, errors_of
from tests.schema.test_queries import NESTED

EXPLOSIVE = """
{ customers(first: 100) { edges { node {
    followUps(first: 100) { edges { node { customer {
      followUps(first: 100) { edges { node { id } } } } } } } } } } }
"""
VIA_VARIABLES = """
query($a: Int!, $b: Int!) { customers(first: $a) { edges { node {
  ownershipHistory(first: $b) { edges { node { customer { ownershipHistory(first: $b) {
    edges { node { id } } } } } } } } } } }
"""
VIA_FRAGMENTS = """
query { customers(first: 100) { ...page } }
fragment page on CustomerConnection { edges { node { followUps(first: 100) { ...more } } } }
fragment more on FollowUpConnection { edges { node { customer { contacts { name } followUps(first: 100) { edges { node { id } } } } } } }
"""


async def test_ordinary_queries_are_within_budget(api: Api) -> None:
    data = await api.ok(NESTED, {"first": 100}, as_user="admin@demo.test")
    assert len(data["customers"]["edges"]) == 100


async def test_multiplying_pages_is_refused_before_running(api: Api) -> None:
    token = await api.token("admin@demo.test")
    for doc, variables in ((EXPLOSIVE, {}), (VIA_VARIABLES, {"a": 1, "b": 1}), (VIA_FRAGMENTS, {})):
        api.statements.clear()
        body = await api.gql(doc, variables, token=token)
        assert errors_of(body) == ["QUERY_TOO_COMPLEX"], body
        assert body["errors"][0]["extensions"]["cost"] > body["errors"][0]["extensions"]["limit"]
        # Refused before any resolver ran: only authentication touched the database.
        assert not any("customer" in s for s in api.statements)
