"""The dashboard's page and files (ownergraph/dashboard.py) and the demo sign-in behind its
pick-list and GraphiQL's (ownergraph/demo_login.py), through the real app."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from kernel.clock import FrozenClock
from kernel.settings import Settings
from ownergraph.dashboard import VENDORED, DashboardPage
from ownergraph.seed import USERS
from tests.conftest import Api, serve


def _installed() -> None:
    if not DashboardPage().installed:
        missing = "the dashboard's files are not installed (`make dashboard`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs them: {missing}")
        pytest.skip(missing)


async def test_the_page_loads_only_this_servers_files(api: Api) -> None:
    _installed()
    page = await api.client.get("/dashboard")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert all(s.startswith("/dashboard/") or s == "data:," for s in sources)
    vendored = [s for s in sources if s.startswith("/dashboard/vendor/")]
    assert len(vendored) == len(VENDORED)
    for source in vendored:
        asset = await api.client.get(source)
        assert asset.status_code == 200, source
        assert "immutable" in asset.headers["cache-control"]
        assert "max-age=31536000" in asset.headers["cache-control"]
    own = await api.client.get("/dashboard/app/main.js")
    assert own.status_code == 200 and own.headers["cache-control"] == "no-cache"
    assert "etag" in own.headers


async def test_only_listed_files_are_served(api: Api) -> None:
    _installed()
    version = DashboardPage().versions["uplot.js"]
    assert (await api.client.get(f"/dashboard/vendor/{version}/uplot.js")).status_code == 200
    # Another version of a file, a file not listed, a way out of the folder: none exist.
    assert (await api.client.get("/dashboard/vendor/0123456789ab/uplot.js")).status_code == 404
    assert (await api.client.get(f"/dashboard/vendor/{version}/package.json")).status_code == 404
    assert (await api.client.get("/dashboard/app/..%2F..%2Fpolicy.csv")).status_code == 404
    assert (await api.client.get("/dashboard/app/../package-lock.json")).status_code == 404


async def test_without_the_files_the_page_says_how_to_install_them(
    api: Api, tmp_path: Path
) -> None:
    page = DashboardPage(node_modules=tmp_path)
    assert not page.installed
    answer = await page.page(None)  # type: ignore[arg-type]
    body = bytes(answer.body).decode()
    assert answer.status_code == 503
    assert "make dashboard" in body and "npm ci" in body
    assert "<script" not in body


@pytest.mark.parametrize(
    ("settings", "enabled"),
    [
        ({"demo_login": True, "bind_host": "127.0.0.1"}, True),
        ({"demo_login": True, "bind_host": "::1"}, True),
        ({"demo_login": True, "bind_host": "localhost"}, True),
        ({"demo_login": False, "bind_host": "127.0.0.1"}, False),
        ({"demo_login": True, "bind_host": "0.0.0.0"}, False),
        ({"demo_login": True, "bind_host": "192.0.2.10"}, False),
        ({"demo_login": True, "bind_host": None}, False),  # not started by `serve`
        ({"demo_login": True, "bind_host": "127.0.0.1", "production": True}, False),
    ],
)
def test_demo_login_only_on_a_loopback_development_server(
    settings: dict[str, object], enabled: bool
) -> None:
    assert Settings(**settings).demo_login_enabled is enabled  # type: ignore[arg-type]


async def test_no_endpoint_issues_tokens_unless_demo_login_is_on(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    for settings in (
        {},
        {"demo_login": True, "bind_host": "0.0.0.0"},
        {"demo_login": True, "bind_host": "127.0.0.1", "production": True},
    ):
        async with serve(database_url, clock, tmp_path, **settings) as api:
            assert (await api.client.get("/demo-login")).status_code == 404
            posted = await api.client.post("/demo-login", json={"email": "alice@demo.test"})
            assert posted.status_code in (404, 405)


async def test_demo_login_lists_the_demo_users_and_issues_their_tokens(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(database_url, clock, tmp_path, demo_login=True, bind_host="127.0.0.1") as api:
        listed = (await api.client.get("/demo-login")).json()["users"]
        assert [u["email"] for u in listed] == [u[0] for u in USERS]
        assert {
            "email": "manager.east@demo.test",
            "name": "Marcus Lee",
            "role": "MANAGER",
        } in listed

        issued = await api.client.post("/demo-login", json={"email": "manager.east@demo.test"})
        assert issued.status_code == 200
        me = await api.client.post(
            "/graphql",
            json={"query": "{ me { email role } }"},
            headers={"authorization": f"Bearer {issued.json()['token']}"},
        )
        assert me.json()["data"]["me"] == {"email": "manager.east@demo.test", "role": "MANAGER"}

        # Only demo users, and only for pages of this server.
        stranger = await api.client.post("/demo-login", json={"email": "someone@example.com"})
        assert stranger.status_code == 400 and "token" not in stranger.json()
        foreign = await api.client.post(
            "/demo-login",
            json={"email": "alice@demo.test"},
            headers={"origin": "http://localhost:3000"},
        )
        assert foreign.status_code == 403 and "token" not in foreign.json()
        same = await api.client.post(
            "/demo-login", json={"email": "alice@demo.test"}, headers={"origin": "http://test"}
        )
        assert same.status_code == 200
