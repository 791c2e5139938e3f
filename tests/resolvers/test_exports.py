"""Export with approval: requestExport, decideExport, exportRequests and the CSV download
(GET /exports/{id}.csv), through the real app on both backends."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import JSON, String, cast, insert, literal, select

from db.models import AuditEntry, Customer
from db.types import UTCDateTime
from resolvers.export_csv import COLUMNS, cell
from tests.conftest import SEED_TIME, Api, errors_of

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
    edges { cursor node { id status downloadUrl requestedBy { email } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
COUNT = """
query C($filter: CustomerFilter) { customers(filter: $filter, first: 1) { totalCount } }
"""
VISIBLE = """
query V($after: String) {
  customers(first: 100, after: $after) {
    edges { node { id name taxId owner { name } contacts { phone } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
ASSIGN = """
mutation A($c: ID!, $u: ID!) { assignCustomer(customerId: $c, toUserId: $u, reason: "cover") { id } }
"""
CREATE = """
mutation N($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }
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


async def test_the_csv_holds_what_the_requester_may_see_at_download_time(api: Api) -> None:
    fields = ["id", "name", "owner", "taxId", "contactPhones", "inPool"]
    export = await approved(api, ALICE, fields=fields)
    # After approval, the manager hands one of Alice's customers to Bob.
    moved = (await api.owned(ALICE))[0]
    await api.ok(ASSIGN, {"c": str(moved), "u": str(await api.user_id(BOB))}, as_user=MANAGER)

    response = await get_csv(api, export["downloadUrl"], ALICE)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    header, *rows = rows_of(response)
    assert header == fields

    expected: list[list[str]] = []
    after = None
    while True:
        page = (await api.ok(VISIBLE, {"after": after}, as_user=ALICE))["customers"]
        for edge in page["edges"]:
            node = edge["node"]
            phones = [c["phone"] for c in node["contacts"] if c["phone"]]
            owner = node["owner"]["name"] if node["owner"] else None
            values = [node["id"], node["name"], owner, node["taxId"], phones, node["owner"] is None]
            expected.append([cell(v) for v in values])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert rows == expected
    assert str(moved) not in {r[0] for r in rows}
    pooled = [r for r in rows if r[5] == "true"]
    owned = [r for r in rows if r[2] == "Alice Wang"]
    assert pooled and owned
    # Sensitive cells: empty for the pool customers she may not see them on, filled on hers.
    assert all(r[3] == "" and r[4] == "" for r in pooled)
    assert any(r[3] for r in owned) and any(r[4] for r in owned)


async def test_cells_excel_would_run_are_escaped_and_text_stays_utf8(api: Api) -> None:
    for n, name in enumerate(('=HYPERLINK("http://x.test","y")', "上海测试有限公司")):
        contacts = [{"name": "@SUM(A1)", "phone": f"+86 138 0000 000{n}"}]
        customer = {"name": name, "region": "Excel", "tags": ["-1+2"], "contacts": contacts}
        await api.ok(CREATE, {"input": customer}, as_user=ALICE)
    fields = ["name", "tags", "contactNames", "contactPhones", "region"]
    export = await approved(api, ALICE, fields=fields, filter={"region": "Excel"})
    header, *rows = rows_of(await get_csv(api, export["downloadUrl"], ALICE))
    assert header == fields
    assert rows == [
        ['\'=HYPERLINK("http://x.test","y")', "'-1+2", "'@SUM(A1)", "'+86 138 0000 0000", "Excel"],
        ["上海测试有限公司", "'-1+2", "'@SUM(A1)", "'+86 138 0000 0001", "Excel"],
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=b", "a=b"),
        (None, ""),
        (True, "true"),
        (["a", "=b"], "a; =b"),
    ],
)
def test_a_cell_never_starts_a_formula(value: object, shown: str) -> None:
    assert cell(value) == shown


# Bounded memory.


class StreamingTransport(httpx.AsyncBaseTransport):
    """Like httpx.ASGITransport, but hands the body over chunk by chunk as the app sends
    it (ASGITransport collects the whole body first), so the client can stream."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=2)
        started: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        done = asyncio.Event()
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.set_result(message)
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    await chunks.put(message["body"])
                if not message.get("more_body"):
                    await chunks.put(None)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": "http",
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": ("test", 80),
            "client": ("127.0.0.1", 1234),
            "root_path": "",
        }
        task = asyncio.create_task(self.app(scope, receive, send))
        start = await started

        class Body(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                while (chunk := await chunks.get()) is not None:
                    yield chunk

            async def aclose(self) -> None:
                done.set()
                await task

        headers = [(k.decode(), v.decode()) for k, v in start.get("headers", [])]
        return httpx.Response(start["status"], headers=headers, stream=Body())


BULK = 100_000


async def insert_bulk(api: Api, n: int) -> None:
    """`n` pool customers in region Bulk, generated by the database in one statement."""
    numbers = select(literal(1).label("i")).cte("numbers", recursive=True)
    numbers = numbers.union_all(select(numbers.c.i + 1).where(numbers.c.i < n))
    name = literal("Bulk customer ") + cast(numbers.c.i, String)
    values = {
        "name": name,
        "name_key": name,
        "region": literal("Bulk"),
        "industry": literal("Logistics"),
        "tier": literal("C"),
        "stage": literal("LEAD"),
        "tags": literal(["bulk", "imported"], JSON),
        "owner_credit_share": literal(100),
        "version": literal(1),
        **{
            c: literal(SEED_TIME, UTCDateTime)
            for c in ("created_at", "updated_at", "recycle_clock_at", "pooled_at")
        },
    }
    async with api.services.db.write() as session, session.begin():
        await session.execute(insert(Customer).from_select(list(values), select(*values.values())))


async def test_a_hundred_thousand_rows_stream_in_bounded_memory(api: Api) -> None:
    await insert_bulk(api, BULK)
    fields = ["id", "name", "region", "industry", "tier", "stage", "tags", "createdAt", "inPool"]
    export = await approved(api, ALICE, fields=fields, filter={"region": "Bulk"})
    assert export["rowCount"] == BULK
    headers = {"authorization": f"Bearer {await api.token(ALICE)}"}
    batch = api.services.settings.export_batch_size
    start = len(api.statements)

    def batches_read() -> int:
        return sum("FROM customer" in s for s in api.statements[start:])

    size = lines = chunks = ahead = largest = 0
    async with httpx.AsyncClient(transport=StreamingTransport(api.app), base_url="http://t") as c:
        async with c.stream("GET", export["downloadUrl"], headers=headers) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_raw():
                chunks += 1
                size += len(chunk)
                largest = max(largest, len(chunk))
                lines += chunk.count(b"\r\n")
                # How far the server has read beyond what the client has taken: with
                # streaming, a couple of batches; with buffering, all of them.
                ahead = max(ahead, batches_read() - chunks)

    assert lines == BULK + 1  # the header and every row
    assert batches_read() == BULK // batch + 1  # one read per batch, then the empty one
    assert chunks == 1 + BULK // batch  # the header, then one chunk per batch
    # So at most a few batches are ever alive at once, whatever the row count.
    assert ahead <= 3, ahead
    assert size > 8_000_000 and largest < size / 50
