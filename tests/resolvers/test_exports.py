"""Export with approval: requestExport, decideExport, exportRequests and the CSV download
(GET /exports/{id}.csv), through the real app on both backends."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from db.models import AuditEntry
from kernel.clock import FrozenClock
from resolvers.export_csv import COLUMNS
from tests.conftest import Api, errors_of, serve

REQUEST = """
mutation R($filter: CustomerFilter, $fields: [String!]!, $reason: String!) {
  requestExport(filter: $filter, fields: $fields, reason: $reason) {
    id databaseId status rowCount fields reason downloadUrl expiresAt createdAt
    requestedBy { email } decidedBy { email }
  }
}
"""
DECIDE = """
mutation D($id: ID!, $approve: Boolean!, $note: String) {
  decideExport(id: $id, approve: $approve, note: $note) {
    id status decidedAt decisionNote expiresAt downloadUrl decidedBy { email }
  }
}
"""
LIST = """
query L($status: ExportStatus, $first: Int!, $after: String) {
  exportRequests(status: $status, first: $first, after: $after) {
    edges { cursor node { id status downloadUrl expiresAt requestedBy { email } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
COUNT = """
query C($filter: CustomerFilter) { customers(filter: $filter, first: 1) { totalCount } }
"""
ALICE, BOB, CAROL = "alice@demo.test", "bob@demo.test", "carol@demo.test"
MANAGER, DIRECTOR, ADMIN = "manager.east@demo.test", "director@demo.test", "admin@demo.test"


async def ask(
    api: Api,
    who: str,
    fields: list[str] | None = None,
    filter: dict[str, Any] | None = None,
    reason: str = "Quarterly account review",
) -> dict[str, Any]:
    variables = {
        "filter": filter,
        "fields": ["id", "name"] if fields is None else fields,
        "reason": reason,
    }
    return await api.gql(REQUEST, variables, as_user=who)


async def asked(api: Api, who: str, **kw: Any) -> dict[str, Any]:
    body = await ask(api, who, **kw)
    assert not body.get("errors"), body["errors"]
    return body["data"]["requestExport"]


async def decide(
    api: Api, who: str, ident: str, approve: bool = True, note: str | None = None
) -> dict[str, Any]:
    variables = {"id": ident, "approve": approve, "note": note}
    return await api.gql(DECIDE, variables, as_user=who)


async def approved(api: Api, who: str = ALICE, **kw: Any) -> dict[str, Any]:
    export = await asked(api, who, **kw)
    body = await decide(api, MANAGER if who != MANAGER else DIRECTOR, export["id"])
    assert not body.get("errors"), body["errors"]
    # As the requester sees it: with its download URL.
    (mine,) = [n for n in await listed(api, who) if n["id"] == export["id"]]
    assert mine["downloadUrl"]
    return {**export, **mine}


async def listed(api: Api, who: str, status: str | None = None, first: int = 50) -> list[dict]:
    data = await api.ok(LIST, {"status": status, "first": first}, as_user=who)
    return [e["node"] for e in data["exportRequests"]["edges"]]


async def get_csv(api: Api, path: str, who: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {await api.token(who)}"} if who else {}
    return await api.client.get(path, headers=headers)


def rows_of(response: httpx.Response) -> list[list[str]]:
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


async def audits(api: Api, action: str) -> list[AuditEntry]:
    async with api.services.db.read() as session:
        stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list((await session.execute(stmt)).scalars())


# Requesting.


@pytest.mark.parametrize("who", [ALICE, MANAGER])
async def test_the_row_count_is_what_the_requester_may_see_under_the_filter(
    api: Api, who: str
) -> None:
    for filter in (None, {"tier": "A"}, {"inPool": True}):
        export = await asked(api, who, filter=filter, fields=["name", "taxId", "name"])
        count = await api.ok(COUNT, {"filter": filter}, as_user=who)
        assert export["rowCount"] == count["customers"]["totalCount"] > 0
        assert export["status"] == "PENDING" and export["downloadUrl"] is None
        assert export["fields"] == ["name", "taxId"]
        assert export["requestedBy"]["email"] == who and export["decidedBy"] is None
    logged = await audits(api, "export.request")
    assert len(logged) == 3 and {a.actor_id for a in logged} == {await api.user_id(who)}


async def test_fields_are_checked_against_the_exportable_ones(api: Api) -> None:
    for fields in (["name", "password"], [], ["x" * 5000]):
        body = await ask(api, ALICE, fields=fields)
        assert errors_of(body) == ["VALIDATION"]
        error = body["errors"][0]
        assert "Exportable: id, name," in error["message"] and "contactPhones" in error["message"]
        assert error["extensions"]["allowed"] == list(COLUMNS)
    assert errors_of(await ask(api, ALICE, reason="  ")) == ["VALIDATION"]
    assert await audits(api, "export.request") == []


@pytest.mark.parametrize(
    "who", [DIRECTOR, ADMIN, "dan@demo.test", "audit@demo.test", "judge@demo.test", None]
)
async def test_only_managers_and_reps_request_exports(api: Api, who: str | None) -> None:
    token = await api.token(who) if who else await api.token(partner="acme-channel")
    variables = {"fields": ["name"], "reason": "I want the list"}
    assert errors_of(await api.gql(REQUEST, variables, token=token)) == ["FORBIDDEN"]


# Deciding.


async def test_the_requesters_manager_approves_and_the_export_expires_a_day_later(
    api: Api,
) -> None:
    export = await asked(api, ALICE)
    for outsider in (BOB, CAROL, "dan@demo.test", "audit@demo.test"):
        assert errors_of(await decide(api, outsider, export["id"])) == ["NOT_FOUND"]
    assert errors_of(await decide(api, ALICE, export["id"])) == ["FORBIDDEN"]
    body = await decide(api, MANAGER, export["id"], note="For the QBR only")
    decided = body["data"]["decideExport"]
    assert decided["status"] == "APPROVED" and decided["decidedBy"]["email"] == MANAGER
    assert decided["decisionNote"] == "For the QBR only"
    assert decided["expiresAt"] == "2026-06-02T09:00:00+00:00"  # 24 h after approval
    assert decided["downloadUrl"] is None  # the approver does not get the file
    mine = await listed(api, ALICE)
    assert mine[0]["downloadUrl"] == f"/exports/{export['databaseId']}.csv"
    # Deciding again, either way, is a conflict with the state it is in.
    for approver in (MANAGER, DIRECTOR):
        assert errors_of(await decide(api, approver, export["id"], False)) == ["CONFLICT"]
    logged = await audits(api, "export.decide")
    assert [(a.actor_id, a.detail["approve"]) for a in logged] == [
        (await api.user_id(MANAGER), True)
    ]


async def test_a_managers_export_goes_to_a_director_above_and_an_admin_may_decide(
    api: Api,
) -> None:
    own = await asked(api, MANAGER)
    assert errors_of(await decide(api, MANAGER, own["id"])) == ["FORBIDDEN"]
    assert (await decide(api, DIRECTOR, own["id"]))["data"]["decideExport"]["status"] == "APPROVED"
    rep = await asked(api, BOB)
    body = await decide(api, ADMIN, rep["id"], approve=False, note="Not this quarter")
    assert body["data"]["decideExport"]["status"] == "REJECTED"
    assert body["data"]["decideExport"]["expiresAt"] is None
    # Carol is in West, which the director manages: the East manager has no say.
    west = await asked(api, CAROL)
    assert errors_of(await decide(api, MANAGER, west["id"])) == ["NOT_FOUND"]
    assert (await decide(api, DIRECTOR, west["id"]))["data"]["decideExport"]["status"] == (
        "APPROVED"
    )


async def test_two_approvers_deciding_at_once_one_wins(api: Api) -> None:
    export = await asked(api, ALICE)
    bodies = await asyncio.gather(
        decide(api, MANAGER, export["id"]), decide(api, DIRECTOR, export["id"], approve=False)
    )
    assert sorted(str(errors_of(b)) for b in bodies) == ["['CONFLICT']", "[]"]
    assert len(await audits(api, "export.decide")) == 1


# Listing.


async def test_each_sees_their_own_those_waiting_for_them_and_those_they_decided(
    api: Api,
) -> None:
    a1, a2, a3 = [(await asked(api, ALICE))["id"] for _ in range(3)]
    b1 = (await asked(api, BOB))["id"]
    c1 = (await asked(api, CAROL))["id"]
    m1 = (await asked(api, MANAGER))["id"]

    def ids(nodes: list[dict]) -> list[str]:
        return [n["id"] for n in nodes]

    assert ids(await listed(api, ALICE)) == [a3, a2, a1]  # newest first
    assert ids(await listed(api, BOB)) == [b1]
    assert ids(await listed(api, MANAGER)) == [m1, b1, a3, a2, a1]
    assert ids(await listed(api, DIRECTOR)) == [m1, c1, b1, a3, a2, a1]
    assert ids(await listed(api, ADMIN)) == [m1, c1, b1, a3, a2, a1]
    assert await listed(api, "dan@demo.test") == [] == await listed(api, "audit@demo.test")
    partner = await api.token(partner="acme-channel")
    assert errors_of(await api.gql(LIST, {"first": 5}, token=partner)) == ["FORBIDDEN"]

    # Keyset pages.
    page = await api.ok(LIST, {"first": 2}, as_user=MANAGER)
    assert ids([e["node"] for e in page["exportRequests"]["edges"]]) == [m1, b1]
    after = page["exportRequests"]["pageInfo"]
    assert after["hasNextPage"]
    rest = await api.ok(LIST, {"first": 10, "after": after["endCursor"]}, as_user=MANAGER)
    assert ids([e["node"] for e in rest["exportRequests"]["edges"]]) == [a3, a2, a1]
    assert not rest["exportRequests"]["pageInfo"]["hasNextPage"]

    # Once the director has decided one, it waits for nobody: the manager no longer sees it,
    # the director keeps it as one they decided, status filters apply.
    await decide(api, DIRECTOR, a1, approve=False)
    await decide(api, MANAGER, a2)
    assert ids(await listed(api, MANAGER)) == [m1, b1, a3, a2]
    assert ids(await listed(api, MANAGER, "PENDING")) == [m1, b1, a3]
    assert ids(await listed(api, DIRECTOR, "REJECTED")) == [a1]
    assert ids(await listed(api, ALICE, "APPROVED")) == [a2]
    api.services.clock.advance(hours=24)
    assert ids(await listed(api, ALICE, "APPROVED")) == []
    expired = await listed(api, ALICE, "EXPIRED")
    assert ids(expired) == [a2] and expired[0]["downloadUrl"] is None


# Downloading.


async def test_only_the_requesters_approved_unexpired_export_downloads(api: Api) -> None:
    pending = await asked(api, ALICE)
    rejected = await asked(api, ALICE)
    await decide(api, MANAGER, rejected["id"], approve=False)
    good = await approved(api, ALICE)
    url = good["downloadUrl"] or ""
    assert (await get_csv(api, url, ALICE)).status_code == 200

    refused = {
        str(pending["databaseId"]): ALICE,
        str(rejected["databaseId"]): ALICE,
        "not-a-number": ALICE,
        "999999": MANAGER,
    }
    # Someone else's approved export, to its approver, a teammate and even an admin.
    foreign = [(str(good["databaseId"]), who) for who in (MANAGER, BOB, ADMIN)]
    for ident, who in [*refused.items(), *foreign]:
        response = await get_csv(api, f"/exports/{ident}.csv", who)
        assert response.status_code == 404
        assert response.json() == {
            "errors": [
                {"message": f"No export {ident} exists.", "extensions": {"code": "NOT_FOUND"}}
            ]
        }
    anonymous = await get_csv(api, url, None)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"

    api.services.clock.advance(hours=23, minutes=59)
    assert (await get_csv(api, url, ALICE)).status_code == 200
    api.services.clock.advance(minutes=1)
    assert (await get_csv(api, url, ALICE)).status_code == 404
    downloads = await audits(api, "export.download")
    assert len(downloads) == 2
    assert {(a.actor_id, a.detail["id"]) for a in downloads} == {
        (await api.user_id(ALICE), good["databaseId"])
    }


async def test_how_long_an_approved_export_lasts_is_a_setting(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(database_url, clock, tmp_path, export_ttl_hours=2) as api:
        export = await approved(api, ALICE)
        assert export["expiresAt"] == "2026-06-01T11:00:00+00:00"
        clock.advance(hours=2)
        assert (await get_csv(api, export["downloadUrl"], ALICE)).status_code == 404
        assert (await listed(api, ALICE))[0]["status"] == "EXPIRED"
