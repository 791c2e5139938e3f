"""GraphiQL is served from the server's own files (web/graphiql, installed from npm by the
Makefile): nothing is fetched from elsewhere, and without the files the page says how to
install them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from kernel.clock import FrozenClock
from ownergraph.graphiql import VENDORED, GraphiQLPage
from tests.conftest import Api, serve

HTML = {"accept": "text/html"}


def _installed() -> None:
    if not GraphiQLPage().installed:
        missing = "GraphiQL's files are not installed (`make graphiql`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs them: {missing}")
        pytest.skip(missing)


async def test_the_page_loads_only_this_servers_files(api: Api) -> None:
    _installed()
    page = await api.client.get("/graphql", headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/graphiql/") or s == "data:," for s in sources)
    for source in sources:
        if source.startswith("/graphiql/"):
            asset = await api.client.get(source)
            assert asset.status_code == 200, source
            assert len(asset.content) > 1000
    assert len(sources) == len(VENDORED) + 2  # the vendored files, our script, the icon


async def test_only_listed_files_are_served(api: Api) -> None:
    assert (await api.client.get("/graphiql/package.json")).status_code == 404
    assert (await api.client.get("/graphiql/..%2F..%2Fpolicy.csv")).status_code == 404


def test_without_the_files_the_page_says_how_to_install_them(tmp_path: Path) -> None:
    page = GraphiQLPage(node_modules=tmp_path)
    assert not page.installed
    body = bytes(page.render().body).decode()
    assert "make graphiql" in body and "npm ci" in body
    assert "<script" not in body


async def test_no_graphiql_without_introspection(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(database_url, clock, tmp_path, introspection=False) as api:
        assert (await api.client.get("/graphql", headers=HTML)).status_code == 404
        assert (await api.client.get("/graphiql/start.js")).status_code == 404
