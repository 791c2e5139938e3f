"""Relay global object identification: `node`/`nodes` for every Node type, global and bare
ids on input, and ids that are malformed, of another type or invisible answering exactly
as missing ones."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select

from db import models
from resolvers.ids import global_id
from tests.conftest import Api, errors_of

NODE = """
query N($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Customer { databaseId name }
    ... on User { databaseId }
    ... on Team { databaseId }
    ... on FollowUp { databaseId }
    ... on OwnershipEvent { databaseId }
    ... on TransferRequest { databaseId }
    ... on Dispute { databaseId }
    ... on Reminder { databaseId }
    ... on ApiToken { databaseId }
    ... on AuditEntry { databaseId }
    ... on ExportRequest { databaseId }
  }
}
"""
NODES = "query M($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
CUSTOMER = "query C($id: ID!) { customer(id: $id) { id databaseId name } }"
PAGE = """
query P($after: String) {
  customers(first: 2, after: $after) {
    edges { cursor }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
ADMIN = "admin@demo.test"
# GraphQL type -> table, for picking one row of each.
TABLES: dict[str, Any] = {
    "Customer": models.Customer,
    "User": models.User,
    "Team": models.Team,
    "FollowUp": models.FollowUp,
    "OwnershipEvent": models.OwnershipEvent,
    "TransferRequest": models.TransferRequest,
    "Dispute": models.Dispute,
    "Reminder": models.Reminder,
    "ApiToken": models.ApiToken,
    "AuditEntry": models.AuditEntry,
    "ExportRequest": models.ExportRequest,
}


async def add_missing_rows(api: Api) -> None:
    """The demo has no transfer, audit entry or export request yet: one of each, by alice."""
    alice, bob = await api.user_id("alice@demo.test"), await api.user_id("bob@demo.test")
    now = api.services.clock.now()
    async with api.services.db.write() as s, s.begin():
        s.add(
            models.TransferRequest(
                from_user_id=alice,
                to_user_id=bob,
                requested_by_id=alice,
                kind="HANDOVER",
                reason="test",
                created_at=now,
            )
        )
        s.add(models.AuditEntry(at=now, actor_id=alice, action="test.node"))
        s.add(
            models.ExportRequest(
                requested_by_id=alice, fields=["name"], reason="test", row_count=1, created_at=now
            )
        )


async def first_row(api: Api, table: Any) -> Any:
    async with api.services.db.read() as s:
        return (await s.execute(select(table).order_by(table.id).limit(1))).scalar_one()


async def node(api: Api, ident: str, email: str) -> dict[str, Any] | None:
    body = await api.gql(NODE, {"id": ident}, as_user=email)
    assert not body.get("errors"), body
    result: dict[str, Any] | None = body["data"]["node"]
    return result


async def test_node_finds_every_type_by_its_global_id(api: Api) -> None:
    await add_missing_rows(api)
    await api.token(ADMIN)  # an ApiToken row
    for type_name, table in TABLES.items():
        row = await first_row(api, table)
        email = ADMIN
        if type_name == "Reminder":  # nobody else's to see
            async with api.services.db.read() as s:
                email = (await s.get(models.User, row.user_id)).email
        gid = global_id(type_name, row.id)
        found = await node(api, gid, email)
        assert found is not None, type_name
        assert (found["__typename"], found["id"], found["databaseId"]) == (type_name, gid, row.id)
    # Global ids are unique across types.
    assert global_id("Customer", 1) != global_id("User", 1)


async def test_nodes_answer_in_order_with_null_for_what_is_not_found(api: Api) -> None:
    customer = await first_row(api, models.Customer)
    user = await first_row(api, models.User)
    ids = [global_id("Customer", customer.id), "nonsense", global_id("User", user.id)]
    body = await api.gql(NODES, {"ids": ids}, as_user=ADMIN)
    assert not body.get("errors"), body
    assert [n and n["__typename"] for n in body["data"]["nodes"]] == ["Customer", None, "User"]


async def test_malformed_and_missing_ids_answer_null(api: Api) -> None:
    customer = await first_row(api, models.Customer)
    raw = base64.b64encode(b"Customer:abc").decode()
    bad = ["nonsense", "", "12", str(customer.id), raw, global_id("Pool", 1)]
    bad += [global_id("Customer", 2**31), global_id("Customer", 999_999)]
    for ident in bad:
        assert await node(api, ident, ADMIN) is None, ident


async def test_invisible_ids_answer_exactly_as_missing_ones(api: Api) -> None:
    await add_missing_rows(api)
    await api.token(ADMIN)
    # A customer of alice's that bob may not see.
    hidden = None
    for ident in await api.owned("alice@demo.test", 20):
        if errors_of(await api.gql(CUSTOMER, {"id": str(ident)}, as_user="bob@demo.test")):
            hidden = ident
            break
    assert hidden is not None
    assert await node(api, global_id("Customer", hidden), "bob@demo.test") is None
    reminder = await first_row(api, models.Reminder)
    token = await first_row(api, models.ApiToken)
    audit = await first_row(api, models.AuditEntry)
    export = await first_row(api, models.ExportRequest)
    async with api.services.db.read() as s:
        owner = (await s.get(models.User, reminder.user_id)).email
    other = "bob@demo.test" if owner != "bob@demo.test" else "carol@demo.test"
    assert await node(api, global_id("Reminder", reminder.id), other) is None
    assert await node(api, global_id("ApiToken", token.id), "bob@demo.test") is None
    assert await node(api, global_id("AuditEntry", audit.id), "bob@demo.test") is None
    assert await node(api, global_id("ExportRequest", export.id), "bob@demo.test") is None
    # The same ids answer for those who may see them (so the nulls above are visibility).
    assert await node(api, global_id("ExportRequest", export.id), ADMIN) is not None


async def test_id_arguments_take_global_and_bare_ids_alike(api: Api) -> None:
    customer = await first_row(api, models.Customer)
    gid = global_id("Customer", customer.id)
    by_global = await api.ok(CUSTOMER, {"id": gid}, as_user=ADMIN)
    by_bare = await api.ok(CUSTOMER, {"id": str(customer.id)}, as_user=ADMIN)
    assert by_global == by_bare
    assert by_global["customer"] == {"id": gid, "databaseId": customer.id, "name": customer.name}
    # Another type's global id for the same number: NOT_FOUND, as a missing id.
    other = await api.gql(CUSTOMER, {"id": global_id("User", customer.id)}, as_user=ADMIN)
    missing = await api.gql(CUSTOMER, {"id": "999999"}, as_user=ADMIN)
    assert errors_of(other) == errors_of(missing) == ["NOT_FOUND"]
    assert other["data"] == missing["data"]


async def test_page_info_has_previous_page_and_start_cursor(api: Api) -> None:
    first = (await api.ok(PAGE, as_user=ADMIN))["customers"]
    info = first["pageInfo"]
    assert info["hasPreviousPage"] is False and info["hasNextPage"] is True
    assert info["startCursor"] == first["edges"][0]["cursor"]
    assert info["endCursor"] == first["edges"][-1]["cursor"]
    second = (await api.ok(PAGE, {"after": info["endCursor"]}, as_user=ADMIN))["customers"]
    assert second["pageInfo"]["hasPreviousPage"] is True
    assert second["pageInfo"]["startCursor"] == second["edges"][0]["cursor"]
