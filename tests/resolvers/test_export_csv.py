"""The CSV of an approved export (resolvers/export_csv.py): what it holds at download time,
that Excel opens it safely, and that it streams in batches, through the real app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import JSON, String, cast, insert, literal, select

from db.models import Customer
from db.types import UTCDateTime
from resolvers.export_csv import cell
from tests.conftest import SEED_TIME, Api, db_id
from tests.resolvers.test_exports import ALICE, BOB, MANAGER, approved, get_csv, rows_of

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
            values = [
                str(db_id(node["id"])),
                node["name"],
                owner,
                node["taxId"],
                phones,
                node["owner"] is None,
            ]
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
