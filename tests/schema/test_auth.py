"""Authentication: every bad token is UNAUTHENTICATED; nothing is served without one."""

from __future__ import annotations

from datetime import timedelta

import jwt
from sqlalchemy import select, update

from authz.tokens import issue_token
from db.models import ApiToken, User
from kernel.clock import FrozenClock
from tests.conftest import SECRET, Api, errors_of

ME = "{ me { email } }"


async def test_missing_malformed_and_forged_tokens(api: Api) -> None:
    assert errors_of(await api.gql(ME)) == ["UNAUTHENTICATED"]
    for header in ("Basic abc", "Bearer", "Bearer not-a-jwt"):
        response = await api.client.post(
            "/graphql", json={"query": ME}, headers={"authorization": header}
        )
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["UNAUTHENTICATED"]
    real = await api.token("alice@demo.test")
    claims = jwt.decode(real, options={"verify_signature": False})
    forged = jwt.encode(claims, "another-secret-of-a-decent-length-0123456789", algorithm="HS256")
    assert errors_of(await api.gql(ME, token=forged)) == ["UNAUTHENTICATED"]
    # A correctly signed token that was never issued (no row) is not accepted either.
    unissued = jwt.encode({**claims, "jti": "fresh"}, SECRET, algorithm="HS256")
    assert errors_of(await api.gql(ME, token=unissued)) == ["UNAUTHENTICATED"]
    assert (await api.ok(ME, token=real))["me"]["email"] == "alice@demo.test"


async def test_expired_token(api: Api) -> None:
    clock = api.services.clock
    async with api.services.db.write() as s, s.begin():
        user = (await s.execute(select(User).where(User.email == "bob@demo.test"))).scalar_one()
        _, token = await issue_token(
            session=s,
            secret=SECRET,
            algorithm="HS256",
            now=clock.now(),
            user=user,
            expires_at=clock.now() + timedelta(hours=1),
        )
    assert (await api.ok(ME, token=token))["me"]["email"] == "bob@demo.test"
    clock.advance(hours=2)
    body = await api.gql(ME, token=token)
    assert errors_of(body) == ["UNAUTHENTICATED"] and "expired" in body["errors"][0]["message"]


async def test_revoked_token_and_deactivated_user(api: Api, clock: FrozenClock) -> None:
    token = await api.token("carol@demo.test")
    other = await api.token("carol@demo.test")
    async with api.services.db.write() as s, s.begin():
        await s.execute(
            update(ApiToken)
            .where(ApiToken.id == (await _token_id(s, token)))
            .values(revoked_at=api.services.clock.now())
        )
    assert errors_of(await api.gql(ME, token=token)) == ["UNAUTHENTICATED"]
    assert (await api.ok(ME, token=other))["me"]["email"] == "carol@demo.test"
    async with api.services.db.write() as s, s.begin():
        await s.execute(update(User).where(User.email == "carol@demo.test").values(active=False))
    # Changed behind the app's back (as another process would): a lookup is reused for at
    # most `token_cache_seconds`.
    clock.advance(seconds=1)
    assert errors_of(await api.gql(ME, token=other)) == ["UNAUTHENTICATED"]


async def test_last_use_is_recorded(api: Api) -> None:
    token = await api.token("alice@demo.test")
    await api.ok(ME, token=token)
    async with api.services.db.read() as s:
        row = await s.get(ApiToken, await _token_id(s, token))
        assert row is not None and row.last_used_at == api.services.clock.now()


async def _token_id(session, token: str) -> int:  # type: ignore[no-untyped-def]
    from authz.tokens import token_hash

    return (
        await session.execute(select(ApiToken.id).where(ApiToken.token_hash == token_hash(token)))
    ).scalar_one()


async def test_me_comes_with_the_token_check(api: Api, clock: FrozenClock) -> None:
    """While a token's check is reused (`token_cache_seconds`), `me` is the user read with
    it: no statement; a change made elsewhere shows once the check is made again."""
    query = "{ me { id name email role } }"
    token = await api.token("carol@demo.test")
    first = (await api.ok(query, token=token))["me"]
    before = len(api.statements)
    assert (await api.ok(query, token=token))["me"] == first
    assert len(api.statements) == before
    async with api.services.db.write() as s, s.begin():
        await s.execute(update(User).where(User.email == "carol@demo.test").values(name="Caro"))
    clock.advance(seconds=api.services.settings.token_cache_seconds)
    assert (await api.ok(query, token=token))["me"] == {**first, "name": "Caro"}


async def test_requests_arriving_together_check_a_token_once(api: Api) -> None:
    """A dashboard's connections arrive together: those that find the token's check
    missing wait for the first one's, instead of each checking it and building a plan."""
    import asyncio

    token = await api.token("alice@demo.test")
    await api.ok(ME, token=token)  # the first use also records last use
    api.services.tokens.clear()
    api.statements.clear()
    answers = await asyncio.gather(*(api.ok(ME, token=token) for _ in range(8)))
    assert all(a["me"]["email"] == "alice@demo.test" for a in answers)
    checks = [s for s in api.statements if "FROM api_token" in s]
    assert len(checks) == 1, checks
