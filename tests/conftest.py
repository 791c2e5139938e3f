"""Test fixtures: real databases (SQLite always, PostgreSQL when it answers, required
when CI=true), migrated once and seeded with the demo, cloned per test; the real app
through httpx."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from authz.tokens import issue_token
from db.engine import open_database
from db.migrate import upgrade_async
from db.models import Customer, Partner, User
from kernel.clock import FrozenClock
from kernel.settings import Settings
from ownergraph.app import create_app
from ownergraph.seed import seed_demo
from resolvers.ids import decode_global_id

# The suite reads messages in English; tests/ownergraph/test_messages.py sets zh-CN (the
# shipped default) where it means to. Servers the tests start as processes inherit this.
os.environ.setdefault("OWNERGRAPH_DEFAULT_LOCALE", "en")

SEED_TIME = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
PG_ADMIN_URL = os.environ.get(
    "OWNERGRAPH_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
SECRET = "test-secret-" + "x" * 32
DEMO_USERS = [
    "admin@demo.test",
    "director@demo.test",
    "manager.east@demo.test",
    "alice@demo.test",
    "bob@demo.test",
    "carol@demo.test",
    "dan@demo.test",
    "audit@demo.test",
    "judge@demo.test",
]


def _pg_available() -> bool:
    async def probe() -> bool:
        engine = create_async_engine(PG_ADMIN_URL)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False
        finally:
            await engine.dispose()

    return asyncio.run(probe())


PG = _pg_available()
if os.environ.get("CI") == "true" and not PG:
    raise RuntimeError(f"CI=true but PostgreSQL does not answer at {PG_ADMIN_URL}")

BACKENDS = ["sqlite"] + (["postgresql"] if PG else [])


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def _pg_admin(*statements: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _seed(url: str) -> None:
    await upgrade_async(url)
    db = open_database(url)
    try:
        await seed_demo(db, Settings(database_url=url, jwt_secret=SECRET), FrozenClock(SEED_TIME))
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One migrated, seeded database per backend, to be cloned by each test."""
    made: dict[str, str] = {}
    sqlite_path = tmp_path_factory.mktemp("template") / "seeded.db"
    asyncio.run(_seed(f"sqlite+aiosqlite:///{sqlite_path}"))
    made["sqlite"] = str(sqlite_path)
    if PG:
        name = f"og_tpl_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        asyncio.run(_seed(_pg_url(name)))
        made["postgresql"] = name
    yield made
    if PG:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{made["postgresql"]}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, templates: dict[str, str], tmp_path: Path
) -> AsyncIterator[str]:
    """A private copy of the seeded demo database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(templates["sqlite"], path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    name = f"og_t_{uuid.uuid4().hex[:10]}"
    await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{templates["postgresql"]}"')
    try:
        yield _pg_url(name)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(SEED_TIME)


@dataclass
class Api:
    """The real ASGI app, called over httpx, with tokens issued through the real code."""

    app: Any
    client: httpx.AsyncClient
    statements: list[str] = field(default_factory=list)

    @property
    def services(self) -> Any:
        return self.app.state.services

    async def token(
        self,
        email: str | None = None,
        *,
        partner: str | None = None,
        scopes: list[str] | None = None,
    ) -> str:
        async with self.services.db.write() as session, session.begin():
            if partner:
                owner = (
                    await session.execute(select(Partner).where(Partner.name == partner))
                ).scalar_one()
                _, jwt = await issue_token(
                    session=session,
                    secret=SECRET,
                    algorithm="HS256",
                    now=self.services.clock.now(),
                    partner=owner,
                    scopes=scopes or ["customer:read"],
                )
            else:
                user = (await session.execute(select(User).where(User.email == email))).scalar_one()
                _, jwt = await issue_token(
                    session=session,
                    secret=SECRET,
                    algorithm="HS256",
                    now=self.services.clock.now(),
                    user=user,
                    scopes=scopes,
                )
        return jwt

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        as_user: str | None = None,
    ) -> dict[str, Any]:
        if as_user is not None:
            token = await self.token(as_user)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def ok(
        self, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        body = await self.gql(query, variables, **kw)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def owned(self, email: str, n: int = 1) -> list[int]:
        """Up to `n` customers `email` owns that no transfer is waiting on, by id."""
        uid = await self.user_id(email)
        async with self.services.db.read() as session:
            stmt = (
                select(Customer.id)
                .where(Customer.owner_id == uid, Customer.pending_transfer_id.is_(None))
                .order_by(Customer.id)
                .limit(n)
            )
            return list((await session.execute(stmt)).scalars())

    async def user_id(self, email: str) -> int:
        async with self.services.db.read() as session:
            return (await session.execute(select(User.id).where(User.email == email))).scalar_one()


@asynccontextmanager
async def serve(
    database_url: str, clock: FrozenClock, tmp_path: Path, **settings: Any
) -> AsyncIterator[Api]:
    """The real app over `database_url`, with settings overridden as given."""
    config = Settings(database_url=database_url, jwt_secret=SECRET, data_dir=tmp_path, **settings)
    app = create_app(config, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        api = Api(app, client)

        @event.listens_for(app.state.services.db.engine.sync_engine, "before_cursor_execute")
        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            api.statements.append(statement)

        yield api
    await app.state.services.bus.close()
    await app.state.services.limiter.close()
    await app.state.services.db.dispose()


@pytest.fixture
async def api(database_url: str, clock: FrozenClock, tmp_path: Path) -> AsyncIterator[Api]:
    async with serve(database_url, clock, tmp_path) as served:
        yield served


@pytest.fixture
async def handoff_api(database_url: str, clock: FrozenClock, tmp_path: Path) -> AsyncIterator[Api]:
    """The app over the same database, handing customers that become ACTIVE to Service."""
    async with serve(
        database_url, clock, tmp_path, handoff_on_active=True, handoff_team="Service"
    ) as served:
        yield served


def errors_of(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


def db_id(value: str | int) -> int:
    """The database id inside a global id the API answered (to compare with rows); a bare
    database id as it is."""
    if isinstance(value, int) or value.isdigit():
        return int(value)
    decoded = decode_global_id(value)
    assert decoded is not None, value
    return decoded[1]
