"""Query behaviour through the real app: batching, pagination, filters, limits."""

from __future__ import annotations

import pytest

from tests.conftest import Api, db_id, errors_of

NESTED = """
query Nested($first: Int!) {
  customers(first: $first) {
    totalCount
    edges { node {
      id name
      owner { name team { name } ownedCount }
      team { name manager { name } }
      collaborators { role creditShare user { name } }
      contacts { name phone }
      latestFollowUp { summary author { name } }
      openDisputes { id status claimant { name } }
      followUps(first: 2) { edges { node { summary } } }
      ownershipHistory(first: 2) { edges { node { kind } } }
    } }
  }
}
"""
PAGE = """
query Page($first: Int!, $after: String, $filter: CustomerFilter) {
  customers(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id tier inPool } }
  }
}
"""


async def test_nested_relations_cost_the_same_for_5_and_100_rows(api: Api) -> None:
    for email in ("admin@demo.test", "alice@demo.test"):
        token = await api.token(email)
        await api.ok("{ me { id } }", token=token)  # the first use also records last use
        counts = []
        for first in (5, 100):
            api.statements.clear()
            data = await api.ok(NESTED, {"first": first}, token=token)
            assert len(data["customers"]["edges"]) == min(first, data["customers"]["totalCount"])
            counts.append(len(api.statements))
        assert counts[0] == counts[1], counts


async def test_pages_walk_every_row_once_in_order(api: Api) -> None:
    token = await api.token("admin@demo.test")
    seen: list[int] = []
    after = None
    total = 0
    while True:
        page = (await api.ok(PAGE, {"first": 37, "after": after}, token=token))["customers"]
        total = page["totalCount"]
        seen += [db_id(e["node"]["id"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(set(seen)) and len(seen) == total >= 300


async def _walk(api: Api, token: str, *, fresh_plan: bool) -> list[tuple[int, str]]:
    seen: list[tuple[int, str]] = []
    after = None
    while True:
        if fresh_plan:
            api.services.tokens.clear()  # the next request builds its plan and statements anew
        variables = {"first": 7, "after": after, "filter": {"tier": "A"}}
        page = (await api.ok(PAGE, variables, token=token))["customers"]
        seen += [(db_id(e["node"]["id"]), e["cursor"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def test_a_plan_reuses_its_page_statements_with_each_cursor(api: Api) -> None:
    """A REP's scope is a dozen subqueries: the page and count statements are kept with the
    plan (SQLAlchemy then reuses their cache key), the cursor a parameter of the one
    statement every later page shares, so pages come out as if each were built anew."""
    token = await api.token("alice@demo.test")
    kept = await _walk(api, token, fresh_plan=False)
    [known] = api.services.tokens.values()
    statements = known.plan._statements
    # The first page, every later page, the count; and the pool masks read with them.
    assert len(statements) == 4, list(statements)
    assert len(kept) > 14 and kept == sorted(set(kept))
    assert await _walk(api, token, fresh_plan=True) == kept


async def test_first_out_of_range_is_refused_naming_the_limit(api: Api) -> None:
    page = (await api.ok(PAGE, {"first": 100}, as_user="admin@demo.test"))["customers"]
    assert len(page["edges"]) == 100 and page["pageInfo"]["hasNextPage"]
    body = await api.gql(PAGE, {"first": 101}, as_user="admin@demo.test")
    assert errors_of(body) == ["VALIDATION"]
    [error] = body["errors"]
    assert "limit of 100" in error["message"]
    assert error["extensions"]["limit"] == 100
    assert errors_of(await api.gql(PAGE, {"first": -1}, as_user="admin@demo.test")) == [
        "VALIDATION"
    ]
    # Every connection, nested ones too.
    nested = (
        "{ customers(first: 1) { edges { node { followUps(first: 500) { edges { cursor } } } } } }"
    )
    assert errors_of(await api.gql(nested, as_user="admin@demo.test")) == ["VALIDATION"]
    for field in ("pool", "disputes", "ownershipEvents", "auditLog", "exportRequests"):
        body = await api.gql(
            f"{{ {field}(first: 101) {{ pageInfo {{ hasNextPage }} }} }}", as_user="admin@demo.test"
        )
        assert errors_of(body) == ["VALIDATION"], (field, body)


async def test_a_forged_cursor_is_a_validation_error(api: Api) -> None:
    body = await api.gql(PAGE, {"first": 5, "after": "not-a-cursor"}, as_user="admin@demo.test")
    assert errors_of(body) == ["VALIDATION"]


async def test_filters_apply_in_sql_and_count_right(api: Api) -> None:
    token = await api.token("admin@demo.test")
    tiers = {}
    for tier in ("A", "B", "C"):
        page = (await api.ok(PAGE, {"first": 100, "filter": {"tier": tier}}, token=token))[
            "customers"
        ]
        assert all(e["node"]["tier"] == tier for e in page["edges"])
        tiers[tier] = page["totalCount"]
    everything = (await api.ok(PAGE, {"first": 1}, token=token))["customers"]["totalCount"]
    assert sum(tiers.values()) == everything
    pool = (
        await api.ok("{ pool(first: 100) { totalCount edges { node { inPool } } } }", token=token)
    )["pool"]
    assert pool["totalCount"] > 0 and all(e["node"]["inPool"] for e in pool["edges"])
    in_pool = (await api.ok(PAGE, {"first": 1, "filter": {"inPool": False}}, token=token))[
        "customers"
    ]
    assert in_pool["totalCount"] + pool["totalCount"] == everything
    overdue = (await api.ok(PAGE, {"first": 1, "filter": {"overdue": True}}, token=token))[
        "customers"
    ]
    on_time = (await api.ok(PAGE, {"first": 1, "filter": {"overdue": False}}, token=token))[
        "customers"
    ]
    assert overdue["totalCount"] + on_time["totalCount"] == everything


async def test_search_folds_width_case_and_legal_suffixes(api: Api) -> None:
    token = await api.token("alice@demo.test")
    create = 'mutation { createCustomer(input: {name: "Zebra Robotics Co., Ltd."}) { id } }'
    ident = (await api.ok(create, token=token))["createCustomer"]["id"]
    for term in ("zebra", "ＺＥＢＲＡ robotics", "Zebra Robotics Ltd"):
        page = (await api.ok(PAGE, {"first": 5, "filter": {"search": term}}, token=token))[
            "customers"
        ]
        assert [e["node"]["id"] for e in page["edges"]] == [ident], term


async def test_every_contract_query_answers(api: Api) -> None:
    token = await api.token("admin@demo.test")
    data = await api.ok(
        """
        { me { name role }
          users { id name role ownedCount team { name } }
          teams { id name parent { name } manager { name } members { name } }
          disputes(first: 5) { edges { node { id status customer { name } evidence } } }
          transferRequests { id status }
          myReminders { id kind }
          ownershipEvents(first: 5) { edges { cursor node { kind customer { name } } } }
          ownershipStats { poolSize overdueFollowUps giniOfLoad changesLast30Days
                           owners { owner { name } customers overdue } }
          duplicateCheck(input: {name: "zebra"}) { name }
        }
        """,
        token=token,
    )
    assert data["me"]["role"] == "ADMIN"
    assert len(data["users"]) >= 9 and data["disputes"]["edges"]
    assert 0 <= data["ownershipStats"]["giniOfLoad"] < 1


async def test_depth_alias_and_token_limits(api: Api) -> None:
    token = await api.token("admin@demo.test")
    deep = "{ me { team " + "{ parent " * 20 + "{ name }" + " }" * 20 + " } }"
    assert errors_of(await api.gql(deep, token=token)) == ["QUERY_TOO_COMPLEX"]
    aliases = "{ " + " ".join(f"a{i}: me {{ name }}" for i in range(50)) + " }"
    assert errors_of(await api.gql(aliases, token=token)) == ["QUERY_TOO_COMPLEX"]
    huge = "{ me { " + "name " * 5000 + "} }"
    assert errors_of(await api.gql(huge, token=token)) == ["QUERY_TOO_COMPLEX"]


async def test_unexpected_errors_leak_nothing(api: Api) -> None:
    body = await api.gql("{ customers(first: 5) { edges { node { id } } } }", token="x.y.z")
    assert errors_of(body) == ["UNAUTHENTICATED"]
    body = await api.gql("{ nope }", as_user="admin@demo.test")
    text = str(body)
    assert "Traceback" not in text and "SELECT" not in text


ROLE_QUERIES = [
    "{ disputes(first: 5) { edges { node { id customer { name } claimant { name } } } } }",
    "{ transferRequests { id customers { name } } }",
    "{ ownershipEvents(first: 5) { edges { node { kind customer { name } } } } }",
    "{ myReminders { id customer { name } } }",
    "{ ownershipStats { poolSize } }",
    "{ pool(first: 5) { totalCount } }",
]


@pytest.mark.parametrize(
    "email",
    [
        "director@demo.test",
        "manager.east@demo.test",
        "bob@demo.test",
        "dan@demo.test",
        "audit@demo.test",
        "judge@demo.test",
    ],
)
async def test_every_role_gets_answers_or_clear_refusals(api: Api, email: str) -> None:
    token = await api.token(email)
    for query in ROLE_QUERIES:
        codes = errors_of(await api.gql(query, token=token))
        assert set(codes) <= {"FORBIDDEN"}, (query, codes)


DASHBOARD = """
query Dashboard($first: Int!) {
  customers(first: $first) {
    totalCount
    edges { node {
      id name tier stage
      owner { id name } team { id name }
      collaborators { role creditShare user { id name } }
      latestFollowUp { at summary } openDisputes { id status }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
POOL_NESTED = """
query Pool($first: Int!) {
  pool(first: $first) {
    totalCount
    edges { cursor node {
      id name taxId inPool createdBy { name team { name } }
      contacts { name phone } latestFollowUp { summary author { name } }
      openDisputes { id claimant { name } }
    } }
  }
}
"""


async def _statements(api: Api, token: str, query: str, first: int) -> int:
    """SELECTs a request ran (SQLite's explicit BEGIN left out)."""
    api.statements.clear()
    await api.ok(query, {"first": first}, token=token)
    return sum(s.lstrip().upper().startswith("SELECT") for s in api.statements)


async def test_the_dashboard_is_one_statement_per_relation(api: Api) -> None:
    token = await api.token("manager.east@demo.test")
    await api.ok("{ me { id } }", token=token)  # signs in; the token is then cached
    small = await _statements(api, token, DASHBOARD, 5)
    large = await _statements(api, token, DASHBOARD, 100)
    # The page, its count, collaborators, latest follow-ups, open disputes, the people
    # (owners and collaborators together) and the teams: whatever the page size.
    assert small == large == 7, (small, large)


async def test_pool_pages_cost_one_statement_per_relation_whatever_their_size(api: Api) -> None:
    token = await api.token("alice@demo.test")
    await api.ok("{ me { id } }", token=token)
    data = await api.ok(POOL_NESTED, {"first": 100}, token=token)
    assert len(data["pool"]["edges"]) > 5
    assert all(e["node"]["inPool"] for e in data["pool"]["edges"])
    # Page, count, contacts, latest follow-ups, disputes, creators, their teams, then the
    # authors and claimants together: nine at most (fewer when a relation is empty).
    small = await _statements(api, token, POOL_NESTED, 5)
    large = await _statements(api, token, POOL_NESTED, 100)
    assert small <= large <= 9, (small, large)


async def test_single_customers_nested_in_lists_still_batch(api: Api) -> None:
    query = """query Q($first: Int!) { ownershipEvents(first: $first) { edges { node {
      customer { id owner { name } team { name } collaborators { user { name } } }
    } } } }"""
    token = await api.token("admin@demo.test")
    await api.ok("{ me { id } }", token=token)
    # Both pages hold customers in a pool, whose rules the process keeps once read.
    warm = await _statements(api, token, query, 100)
    assert await _statements(api, token, query, 30) == await _statements(api, token, query, 100)
    assert await _statements(api, token, query, 100) < warm


DISPUTES_NESTED = """query D($first: Int!) { disputes(first: $first) { edges { node {
  id status claimant { name } customer { id name owner { name } contacts { name } }
} } } }"""


async def test_dispute_pages_cost_the_same_for_1_and_100_rows(api: Api) -> None:
    token = await api.token("admin@demo.test")
    await api.ok("{ me { id } }", token=token)
    data = await api.ok(DISPUTES_NESTED, {"first": 100}, token=token)
    assert data["disputes"]["edges"]
    assert await _statements(api, token, DISPUTES_NESTED, 1) == await _statements(
        api, token, DISPUTES_NESTED, 100
    )


TWICE = """{ customers(first: 3) { totalCount }
  customers(first: 3) { edges { node { id ...Owner } } }
}
fragment Owner on Customer { owner { name } name }"""


async def test_a_field_asked_twice_under_one_key_is_merged(api: Api) -> None:
    page = (await api.ok(TWICE, as_user="admin@demo.test"))["customers"]
    assert page["totalCount"] >= 3 and len(page["edges"]) == 3
    assert all({"id", "owner", "name"} <= set(e["node"]) for e in page["edges"])


async def test_a_request_holds_one_session_and_gives_it_back_however_it_ends(api: Api) -> None:
    pool = api.services.db.engine.pool
    reads = []
    for body in (b'{"query": "{ me { id } }"}', b"{not json"):
        token = await api.token("alice@demo.test")  # fresh, so the token check reads
        api.statements.clear()
        await api.client.post(
            "/graphql",
            content=body,
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        assert pool.checkedout() == 0
        # Read transactions begin with a plain BEGIN on SQLite (writes: BEGIN IMMEDIATE, here
        # the token's first-use stamp).
        reads.append(sum(s.strip().upper() == "BEGIN" for s in api.statements))
    if api.services.db.dialect == "sqlite":
        assert reads == [1, 1]  # the token check and `me` shared one session


# Scalars that are work, not a column: an aggregate query (the pools: a count of the
# user's locks, of their claims today).
WORK = {"User.owned_count", "User.locked_count", "User.claims_left_today"}


def test_scalars_on_read_paths_are_plain_attributes() -> None:
    """STYLE.md 13: a scalar is an attribute filled when the object is built, never a
    method resolver; and every field authz/fields.py guards exists on its type."""
    from graphql import GraphQLEnumType, GraphQLList, GraphQLNonNull, GraphQLScalarType

    from authz.fields import GUARDED
    from schema.customer import Contact, Customer
    from schema.dispute import Dispute
    from schema.event import OwnershipEvent
    from schema.followup import FollowUp
    from schema.root import schema
    from schema.transfer import Approval, TransferRequest
    from schema.user import Team, User

    types = (Customer, Contact, User, Team, FollowUp, OwnershipEvent, Dispute)
    for cls in (*types, TransferRequest, Approval):
        definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        gql = schema._schema.type_map[definition.name]
        for field in definition.fields:
            name = schema.config.name_converter.get_graphql_name(field)
            if name not in gql.fields:
                continue  # strawberry.Private
            kind = gql.fields[name].type
            while isinstance(kind, GraphQLNonNull | GraphQLList):
                kind = kind.of_type
            label = f"{definition.name}.{field.python_name}"
            if label in WORK:
                continue
            if isinstance(kind, GraphQLScalarType | GraphQLEnumType) and not field.arguments:
                assert field.base_resolver is None, label
    names = {f.python_name for f in Customer.__strawberry_definition__.fields}  # type: ignore[attr-defined]
    assert set(GUARDED["customer"]) <= names
    assert set(GUARDED["contact"]) <= {
        f.python_name for f in Contact.__strawberry_definition__.fields
    }  # type: ignore[attr-defined]
    assert set(GUARDED["event"]) <= {
        f.python_name for f in OwnershipEvent.__strawberry_definition__.fields
    }  # type: ignore[attr-defined]


ONE_WITH_OWNER = "query O($id: ID!) { customer(id: $id) { id owner { name } } }"


async def test_the_objects_of_a_page_are_freed_without_the_cycle_collector(api: Api) -> None:
    """A page's objects (plain types, rows, loaders) form no reference cycles: they go
    when the request does, not when the collector next runs."""
    import gc

    from strawberry.dataloader import DataLoader

    from resolvers.loaders import Loaders
    from schema.customer import Collaborator, Customer, CustomerEdge
    from schema.user import Team, User

    ours = (Customer, CustomerEdge, Collaborator, User, Team, Loaders, DataLoader)
    token = await api.token("manager.east@demo.test")
    await api.ok(DASHBOARD, {"first": 50}, token=token)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        page = await api.ok(DASHBOARD, {"first": 50}, token=token)
        first = page["customers"]["edges"][0]["node"]["id"]
        await api.ok(ONE_WITH_OWNER, {"id": first}, token=token)
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, ours)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []
