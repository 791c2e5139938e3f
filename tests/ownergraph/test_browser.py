"""A real browser (the system's Chromium, driven by Playwright; no browser download) against
the real server: GraphiQL runs a query and a subscription, and a page on another origin
calls the API over HTTP and WebSocket only when its origin is allowed.

Skipped with a note where Chromium or Playwright is missing."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from ownergraph.graphiql import GraphiQLPage
from tests.ownergraph.server import Server, issue_cli_token, running

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or not GraphiQLPage().installed,
    reason="needs Debian's chromium and GraphiQL's files (`make graphiql`)",
)
WAIT_MS = 15_000

ME = "query Me { me { email } }"
FIRST_EVENT = "{ ownershipEvents(first: 1) { edges { cursor } } }"
REPLAY = 'subscription Replay { ownershipChanged(since: "%s") { id kind } }'
# Runs in a page on another origin: the API's answer or the browser's refusal.
CALL_API = """async ([url, token]) => {
  try {
    const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json",
      "Authorization": "Bearer " + token}, body: JSON.stringify({query: "{ me { email } }"})});
    return (await r.json()).data.me.email;
  } catch (e) { return "refused: " + e.name; }
}"""
OPEN_SOCKET = """([url, token]) => new Promise((resolve) => {
  const ws = new WebSocket(url.replace("http", "ws"), "graphql-transport-ws");
  ws.onopen = () => ws.send(JSON.stringify({type: "connection_init",
    payload: {authorization: "Bearer " + token}}));
  ws.onmessage = (m) => { resolve(JSON.parse(m.data).type); ws.close(); };
  ws.onerror = () => resolve("refused");
})"""


@pytest.fixture
def server(templates: dict[str, str], tmp_path: Path) -> Iterator[tuple[Server, str]]:
    database = tmp_path / "browser.db"
    shutil.copyfile(templates["sqlite"], database)
    url = f"sqlite+aiosqlite:///{database}"
    token = issue_cli_token(url, tmp_path)
    with running(url, tmp_path) as served:
        yield served, token


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def _run_in_graphiql(page: Any, served: Server, token: str, document: str) -> str:
    """Opens GraphiQL with `document` in its editor (`?q=`), runs it, returns the result."""
    page.goto(f"{served.graphql}?{urlencode({'token': token, 'q': document})}")
    assert "token=" not in page.url  # taken out of the address bar once read
    page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=WAIT_MS)
    page.click(".graphiql-execute-button")
    page.wait_for_function(
        "() => (document.querySelector('.result-window .CodeMirror')?.CodeMirror"
        ".getValue() || '').includes('\"data\"')",
        timeout=WAIT_MS,
    )
    return str(
        page.evaluate(
            "() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"
        )
    )


def test_graphiql_runs_a_query_and_a_subscription(server: tuple[Server, str], browser: Any) -> None:
    served, token = server
    page = browser.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(served.url) else None,
    )
    result = json.loads(_run_in_graphiql(page, served, token, ME))
    assert result["data"] == {"me": {"email": "alice@demo.test"}}
    assert result["extensions"]["cost"]["requested"] > 0  # as any client sees it

    events = httpx.post(
        served.graphql, json={"query": FIRST_EVENT}, headers={"authorization": f"Bearer {token}"}
    ).json()
    cursor = events["data"]["ownershipEvents"]["edges"][0]["cursor"]
    streamed = json.loads(_run_in_graphiql(page, served, token, REPLAY % cursor))
    assert streamed["data"]["ownershipChanged"]["kind"]
    assert outside == [] or all(u.startswith("data:") for u in outside)


@pytest.fixture
def page_server() -> Iterator[int]:
    """Serves a blank page on its own port: another origin, on loopback like the API (a
    public page would meet Chromium's local-network checks first)."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><p>a web app</p>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    thread.join()


def test_a_page_on_another_origin(
    templates: dict[str, str], tmp_path: Path, browser: Any, page_server: int
) -> None:
    database = tmp_path / "origins.db"
    shutil.copyfile(templates["sqlite"], database)
    url = f"sqlite+aiosqlite:///{database}"
    token = issue_cli_token(url, tmp_path)
    allowed, refused = f"http://localhost:{page_server}", f"http://127.0.0.1:{page_server}"
    with running(url, tmp_path, allowed_origins=allowed) as served:
        page = browser.new_page()
        page.goto(allowed + "/")
        assert page.evaluate(CALL_API, [served.graphql, token]) == "alice@demo.test"
        assert page.evaluate(OPEN_SOCKET, [served.graphql, token]) == "connection_ack"

        page.goto(refused + "/")
        assert page.evaluate(CALL_API, [served.graphql, token]).startswith("refused")
        assert page.evaluate(OPEN_SOCKET, [served.graphql, token]) == "refused"
