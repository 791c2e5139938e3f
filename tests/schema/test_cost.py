"""Query cost: ordinary pages pass, multiplying nested pages is refused before running."""

from __future__ import annotations

from pathlib import Path

from graphql import parse

from kernel.clock import FrozenClock
from kernel.settings import Settings
from schema.cost import list_sizes, operation_cost
from schema.root import schema
from tests.conftest import Api, errors_of, serve
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


CONTACT_PAGE = "{ customers(first: 100) { edges { node { name contacts { name phone } } } } }"


def test_a_plain_list_costs_its_cap() -> None:
    document = parse(
        '{ customer(id: "1") { tags contacts { name phone } collaborators { role } } }'
    )
    sizes = list_sizes(Settings(max_contacts=50, max_tags=40, max_collaborators=20))
    # customer 1, tags 40, contacts 50 × (1 + 2 fields), collaborators 20 × (1 + 1)
    assert operation_cost(schema._schema, document, None, 100, sizes) == 1 + 40 + 150 + 40


async def test_raising_a_cap_raises_the_cost(
    api: Api, database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    await api.ok(CONTACT_PAGE, as_user="admin@demo.test")
    async with serve(database_url, clock, tmp_path, max_contacts=1000) as generous:
        body = await generous.gql(CONTACT_PAGE, as_user="admin@demo.test")
        assert errors_of(body) == ["QUERY_TOO_COMPLEX"], body
        # customers × (itself, edges, node, name, contacts × (itself, name, phone))
        assert body["errors"][0]["extensions"]["cost"] == 100 * (4 + 1000 * 3)
