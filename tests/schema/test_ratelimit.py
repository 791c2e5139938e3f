"""Rate limits end to end: cost points charged per token and per IP before an operation
runs, `extensions.cost` on every response, RATE_LIMITED with Retry-After, and buckets
shared across two app instances through Redis."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from graphql import get_introspection_query, parse
from sqlalchemy import func, select

from db.models import Customer
from kernel.clock import FrozenClock
from kernel.settings import Settings
from ownergraph.app import create_app
from schema.cost import operation_cost
from schema.root import schema
from tests.conftest import SECRET, Api, errors_of, serve
from tests.subscriptions.test_bus import REDIS_URL, _redis_answers
from tests.subscriptions.test_live import Live, connect, token_id, websocket

ME = "query Me { me { id name } }"
TYPENAME = "{ __typename }"
CUSTOMERS = """
query Page { customers(first: 5) { edges { node { id name contacts { name } } } } }
"""
CREATE = """
mutation Create($name: String!) { createCustomer(input: {name: $name}) { id } }
"""
NOT_A_FIELD = "{ noSuchField }"
NOT_GRAPHQL = "{ me { "
OWNERSHIP_CHANGED = "subscription { ownershipChanged { id kind } }"


def estimate(document: str) -> int:
    return operation_cost(schema._schema, parse(document), None, 100)


async def post(
    client: httpx.AsyncClient, query: str, token: str | None = None, **variables: Any
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


def cost_of(response: httpx.Response) -> dict[str, Any]:
    cost: dict[str, Any] = response.json()["extensions"]["cost"]
    return cost


def refusal_of(response: httpx.Response) -> int:
    """The refusal's retryAfter, checked against the status and the header."""
    body = response.json()
    assert response.status_code == 429, body
    assert errors_of(body) == ["RATE_LIMITED"]
    assert body.get("data") is None
    retry_after = body["errors"][0]["extensions"]["retryAfter"]
    assert isinstance(retry_after, int) and retry_after >= 1
    assert response.headers["retry-after"] == str(retry_after)
    return retry_after


# Reporting.


async def test_every_response_reports_its_cost(api: Api) -> None:
    token = await api.token("alice@demo.test")
    me = await post(api.client, ME, token)
    assert me.status_code == 200 and "errors" not in me.json()
    assert cost_of(me) == {
        "requested": 3,
        "actual": 3,
        "limit": 100_000,
        "remaining": 100_000 - 3,
        "restoreRate": 5_000,
    }
    # Charged the estimate before it runs, then what it actually built: five customers of
    # a page of up to five, each with fewer than fifty contacts, is less than estimated.
    page = await post(api.client, CUSTOMERS, token)
    assert "errors" not in page.json()
    cost = cost_of(page)
    assert cost["requested"] == estimate(CUSTOMERS) == 525  # contacts count at their cap, 50
    assert 5 * 4 < cost["actual"] < cost["requested"]
    assert cost["remaining"] == 100_000 - 3 - cost["actual"]
    name = f"Costed {uuid.uuid4().hex[:8]}"
    created = await post(api.client, CREATE, token, name=name)
    assert cost_of(created)["requested"] == estimate(CREATE) > 0
    # What did not validate or parse ran nothing, but reading it costs a point.
    left = cost_of(created)["remaining"]
    for document in (NOT_A_FIELD, NOT_GRAPHQL):
        response = await post(api.client, document, token)
        assert response.json()["errors"]
        assert cost_of(response) == {
            "requested": 0,
            "limit": 100_000,
            "remaining": left - 1,
            "restoreRate": 5_000,
        }
        left -= 1
    # Without a token, the caller's address pays, from its own bucket.
    anonymous = await post(api.client, ME)
    assert errors_of(anonymous.json()) == ["UNAUTHENTICATED"]
    assert cost_of(anonymous) == {
        "requested": estimate(ME),
        "limit": 2_000,
        "remaining": 2_000 - estimate(ME),
        "restoreRate": 100,
    }


CREATE_WITH_CONTACTS = """
mutation Create($name: String!, $contacts: [ContactInput!]) {
  createCustomer(input: {name: $name, contacts: $contacts}) { id }
}
"""
CONTACTS = "query Contacts($id: ID!) { customer(id: $id) { contacts { name } } }"


async def test_an_operation_is_charged_what_it_built(api: Api) -> None:
    token = await api.token("alice@demo.test")
    contacts = [{"name": f"Contact {i}"} for i in range(15)]
    name = f"Many contacts {uuid.uuid4().hex[:8]}"
    created = await post(api.client, CREATE_WITH_CONTACTS, token, name=name, contacts=contacts)
    assert "errors" not in created.json(), created.json()
    before = cost_of(created)["remaining"]
    ident = created.json()["data"]["createCustomer"]["id"]
    response = await post(api.client, CONTACTS, token, id=ident)
    assert len(response.json()["data"]["customer"]["contacts"]) == 15
    cost = cost_of(response)
    # Whatever a plain list is estimated at, the charge ends at what was built.
    assert cost["requested"] == estimate(CONTACTS)
    assert cost["actual"] == 1 + 1 + 15 + 15
    assert cost["remaining"] == before - cost["actual"]


async def test_introspection_costs_a_point_as_the_estimate_says(api: Api) -> None:
    # GraphiQL introspects before a token is entered; that must not empty the address's
    # bucket (5,000-odd values), or the token entered next would be refused. Like any
    # operation, it costs at least one point.
    response = await post(api.client, get_introspection_query(descriptions=True))
    assert response.json()["data"]["__schema"]["queryType"]
    assert cost_of(response) == {
        "requested": 0,
        "actual": 1,
        "limit": 2_000,
        "remaining": 2_000 - 1,
        "restoreRate": 100,
    }


# Exhaustion and restore.


async def test_an_empty_bucket_answers_rate_limited_before_any_sql(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    # A 10-point bucket runs ME (3 points) three times; it refills in a day, not during the test.
    async with serve(
        database_url, clock, tmp_path, rate_limit_points=10, rate_limit_restore_rate=0.0001
    ) as api:
        token = await api.token("alice@demo.test")
        assert estimate(ME) == 3
        remaining = [cost_of(await post(api.client, ME, token))["remaining"] for _ in range(3)]
        assert remaining == [7, 4, 1]
        # Signing in alone: the statements every request runs before it is charged.
        before = len(api.statements)
        assert cost_of(await post(api.client, TYPENAME, token))["remaining"] == 0
        sign_in = len(api.statements) - before

        before = len(api.statements)
        refused = await post(api.client, ME, token)
        refusal_of(refused)
        assert len(api.statements) - before == sign_in
        assert cost_of(refused) == {
            "requested": 3,
            "limit": 10,
            "remaining": 0,
            "restoreRate": 0.0001,
        }
        # A refused mutation writes nothing.
        async with api.services.db.read() as session:
            customers = await session.scalar(select(func.count()).select_from(Customer))
        refusal_of(await post(api.client, CREATE, token, name=f"Never {uuid.uuid4().hex[:8]}"))
        async with api.services.db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Customer)) == customers
        # Another token has a bucket of its own.
        other = await post(api.client, ME, await api.token("bob@demo.test"))
        assert "errors" not in other.json() and cost_of(other)["remaining"] == 7


async def test_the_bucket_restores_by_the_time_retry_after_says(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    # The limits library keeps real time; a bucket that refills in one second keeps the
    # wait short. Waiting what retryAfter says must be enough.
    async with serve(
        database_url, clock, tmp_path, rate_limit_points=6, rate_limit_restore_rate=6
    ) as api:
        token = await api.token("alice@demo.test")
        answered = [(await post(api.client, ME, token)).status_code for _ in range(3)]
        assert answered == [200, 200, 429]
        retry_after = refusal_of(await post(api.client, ME, token))
        assert retry_after <= 2  # one window to close, one to drain
        await asyncio.sleep(retry_after)
        again = await post(api.client, ME, token)
        assert again.status_code == 200 and "errors" not in again.json()
        assert again.json()["data"]["me"]["name"]


# Per IP: unauthenticated calls and failed sign-ins.


async def test_failed_sign_ins_are_limited_per_ip(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(
        database_url,
        clock,
        tmp_path,
        ip_rate_limit_points=50,
        ip_rate_limit_restore_rate=0.0001,
        failed_auth_cost=10,
    ) as api:
        valid = await api.token("alice@demo.test")
        # Each failed sign-in costs 10, and its operation 1 more.
        for attempt in range(4):
            response = await post(api.client, TYPENAME, "not-a-token")
            assert response.status_code == 200
            assert cost_of(response)["remaining"] == 50 - 11 * (attempt + 1)
        # The fifth takes what is left (6 points), then its operation does not fit.
        refusal_of(await post(api.client, TYPENAME, "not-a-token"))
        # While the address's bucket is empty, no token from it is even looked up.
        before = len(api.statements)
        refusal_of(await post(api.client, ME, valid))
        assert api.statements[before:] == []
        # Another address is not concerned.
        transport = httpx.ASGITransport(app=api.app, client=("10.9.8.7", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as elsewhere:
            fine = await post(elsewhere, ME, valid)
            assert fine.status_code == 200 and "errors" not in fine.json()


async def test_unauthenticated_calls_are_limited_per_ip(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(
        database_url, clock, tmp_path, ip_rate_limit_points=5, ip_rate_limit_restore_rate=0.0001
    ) as api:
        assert [cost_of(await post(api.client, TYPENAME))["remaining"] for _ in range(5)] == [
            4,
            3,
            2,
            1,
            0,
        ]
        refusal_of(await post(api.client, TYPENAME))


@pytest.mark.parametrize("token", ["not-a-token", None])
async def test_a_websocket_sign_in_that_fails_costs_its_ip(
    database_url: str, clock: FrozenClock, tmp_path: Path, token: str | None
) -> None:
    async with serve(
        database_url,
        clock,
        tmp_path,
        ip_rate_limit_points=20,
        ip_rate_limit_restore_rate=0.0001,
        failed_auth_cost=20,
    ) as api:
        async with websocket(api.app) as ws:
            payload = {"authorization": f"Bearer {token}"} if token else {}
            await ws.send_json({"type": "connection_init", "payload": payload})
            assert await Live(ws).closed_with() == 4403
        # httpx-ws's ASGI transport connects from 127.0.0.1, as httpx's does.
        refusal_of(await post(api.client, TYPENAME))


# Subscriptions.


async def test_subscribing_is_charged_and_refused_when_the_bucket_is_empty(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    cost = estimate(OWNERSHIP_CHANGED)
    async with serve(
        database_url,
        clock,
        tmp_path,
        rate_limit_points=2 * cost + estimate(ME),
        rate_limit_restore_rate=0.0001,
    ) as api:
        token = await api.token("alice@demo.test")
        async with connect(api.app, token) as live:
            first = await live.subscribe(OWNERSHIP_CHANGED)
            second = await live.subscribe(OWNERSHIP_CHANGED)
            # The server charges each subscribe as it starts it: wait (bounded) for both.
            limiter = api.services.limiter
            bucket = limiter.token
            key = str(await token_id(api, token))
            for _ in range(200):
                if (await limiter.look(bucket, key)).remaining <= estimate(ME):
                    break
                await asyncio.sleep(0.01)
            # Both were charged: what is left over HTTP is one ME.
            response = await post(api.client, ME, token)
            assert "errors" not in response.json() and cost_of(response)["remaining"] == 0
            third = await live.subscribe(OWNERSHIP_CHANGED)
            message = await live.message(third)
            errors = (
                message["payload"]
                if message["type"] == "error"
                else message["payload"].get("errors")
            )
            assert [e["extensions"]["code"] for e in errors] == ["RATE_LIMITED"]
            assert errors[0]["extensions"]["retryAfter"] >= 1
            assert first != second != third


# Shared through Redis.


async def test_two_app_instances_share_buckets_through_redis(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    if not await _redis_answers():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but Redis does not answer at {REDIS_URL}")
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    prefix = f"test:limits:{uuid.uuid4().hex}"
    settings = Settings(
        database_url=database_url,
        jwt_secret=SECRET,
        data_dir=tmp_path,
        broadcast_url=REDIS_URL,
        rate_limit_points=10,
        rate_limit_restore_rate=0.01,
        rate_limit_prefix=prefix,
    )
    apps = [create_app(settings, clock=clock), create_app(settings, clock=clock)]
    try:
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=apps[0]), base_url="http://t"
            ) as c1,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=apps[1]), base_url="http://t"
            ) as c2,
        ):
            token = await Api(apps[0], c1).token("alice@demo.test")
            remaining = [
                cost_of(await post(client, ME, token))["remaining"] for client in (c1, c2, c1)
            ]
            assert remaining == [7, 4, 1]
            refusal_of(await post(c2, ME, token))
            refusal_of(await post(c1, ME, token))
    finally:
        for app in apps:
            services = app.state.services
            await services.bus.close()
            await services.limiter.close()
            await services.db.dispose()
        raw = redis.Redis.from_url(REDIS_URL)
        kept = [key async for key in raw.scan_iter(match=f"{prefix}*")]
        if kept:
            await raw.delete(*kept)
        await raw.aclose()
    assert kept  # the counters were in Redis


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_without_redis_each_worker_limits_on_its_own(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    nobody = f"redis://127.0.0.1:{_free_port()}/0"
    async with serve(
        database_url,
        clock,
        tmp_path,
        broadcast_url=nobody,
        rate_limit_points=6,
        rate_limit_restore_rate=0.0001,
    ) as api:
        token = await api.token("alice@demo.test")
        first = await post(api.client, ME, token)
        assert "errors" not in first.json() and cost_of(first)["remaining"] == 3
        assert cost_of(await post(api.client, ME, token))["remaining"] == 0
        refusal_of(await post(api.client, ME, token))
