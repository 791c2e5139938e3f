"""The dashboard in a real browser (the system's Chromium, driven by Playwright; no browser
download) against the real server, as the demo MANAGER: the balance matches the API, a
rep's claim shows live, a server restart is survived with nothing lost or doubled, and a
transfer is approved from the page. Screenshots go to build/dashboard/.

Skipped with a note where Chromium, Playwright or the dashboard's files are missing;
required when CI=true."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ownergraph.dashboard import DashboardPage
from ownergraph.graphiql import GraphiQLPage
from tests.ownergraph.server import Server, free_port, issue_cli_token, running

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None  # type: ignore[assignment]

MISSING = [
    why
    for why, absent in (
        ("Playwright (`pip install -e '.[test]'`)", sync_playwright is None),
        ("Debian's chromium (`apt-get install chromium`)", CHROMIUM is None),
        ("the dashboard's files (`make dashboard`)", not DashboardPage().installed),
    )
    if absent
]


@pytest.fixture(autouse=True)
def _browser_present() -> None:
    if MISSING:
        why = "needs " + ", ".join(MISSING)
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true {why}")
        pytest.skip(why)


SHOTS = Path(__file__).resolve().parents[2] / "build" / "dashboard"
LIVE_MS = 2_000  # a claim shows in the feed within this
WAIT_MS = 15_000  # loading, reconnecting
MANAGER, ALICE, BOB = "manager.east@demo.test", "alice@demo.test", "bob@demo.test"
BUDGET = 300_000  # bytes the first load may transfer

ME = "{ me { id team { id } } }"
TEAM = "query ($team: ID!) { users(teamId: $team) { id } }"
OWNED = "query ($owner: ID!) { customers(filter: {ownerId: $owner}, first: 1) { totalCount } }"
POOL = "{ pool(first: 30) { edges { node { id name } } } }"
CLAIM = "mutation ($id: ID!) { claimCustomer(customerId: $id) { id name owner { id } } }"
OWNED_BY_ME = "query ($owner: ID!) { customers(filter: {ownerId: $owner}, first: 1) { edges { node { id } } } }"
LAST_EVENT = (
    "query ($c: ID!) { ownershipEvents(customerId: $c, first: 50) { edges { node { id kind } } } }"
)
REQUEST = """mutation ($c: ID!, $to: ID!) { requestTransfer(input: {customerIds: [$c], toUserId: $to,
  kind: REASSIGNMENT, reason: "Bob covers the North region"}) { id status } }"""
DECIDE = "mutation ($id: ID!) { decideTransfer(id: $id, approve: true) { id status } }"
STATUS = "{ transferRequests { id status } }"
HAS_POOLS = '{ __type(name: "Pool") { name } }'
POOLS = "{ pools { id size } }"
POOL_SIZE = "{ ownershipStats { poolSize } }"


def call(server: Server, token: str, query: str, **variables: Any) -> dict[str, Any]:
    answer = httpx.post(
        server.graphql,
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    assert "errors" not in answer, answer
    data: dict[str, Any] = answer["data"]
    return data


class Rep:
    """A rep acting through the API, on whichever server is up."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.tried: set[str] = set()

    def claim(self, server: Server) -> tuple[str, str]:
        """Claims some pool customer it may claim: (customer id, name)."""
        for edge in call(server, self.token, POOL)["pool"]["edges"]:
            customer = edge["node"]
            if customer["id"] in self.tried:
                continue
            self.tried.add(customer["id"])
            answer = httpx.post(
                server.graphql,
                json={"query": CLAIM, "variables": {"id": customer["id"]}},
                headers={"authorization": f"Bearer {self.token}"},
            ).json()
            if not answer.get("errors"):
                return customer["id"], customer["name"]
        raise AssertionError("no pool customer could be claimed")


def api_pools(server: Server, token: str) -> dict[str, str]:
    """Pool id -> size as the API tells (one pool, "pool", where there are no pools yet)."""
    if call(server, token, HAS_POOLS)["__type"] is None:
        return {"pool": str(call(server, token, POOL_SIZE)["ownershipStats"]["poolSize"])}
    return {p["id"]: str(p["size"]) for p in call(server, token, POOLS)["pools"]}


def shown_pools(page: Any) -> dict[str, str]:
    rows = page.locator("#pools tbody tr").all()
    return {r.get_attribute("data-pool"): r.locator(".size").inner_text() for r in rows}


def demo_token(server: Server, email: str) -> str:
    """A token as the demo pick-list gets one (tokens outlive a restart: same database)."""
    issued = httpx.post(f"{server.url}/demo-login", json={"email": email}, timeout=30)
    assert issued.status_code == 200, issued.text
    return str(issued.json()["token"])


def claimed_event(server: Server, token: str, customer: str) -> str:
    edges = call(server, token, LAST_EVENT, c=customer)["ownershipEvents"]["edges"]
    claims = [e["node"]["id"] for e in edges if e["node"]["kind"] == "CLAIMED"]
    return claims[-1]


@pytest.fixture
def database(templates: dict[str, str], tmp_path: Path) -> str:
    database = tmp_path / "dashboard.db"
    shutil.copyfile(templates["sqlite"], database)
    return f"sqlite+aiosqlite:///{database}"


@pytest.fixture
def page() -> Iterator[Any]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser.new_page(viewport={"width": 1400, "height": 900}, locale="en-US")
        browser.close()


def test_the_dashboard_as_a_manager(database: str, tmp_path: Path, page: Any) -> None:
    port = free_port()
    served: dict[str, int] = {}
    outside: list[str] = []

    def count(response: Any) -> None:
        if not response.url.startswith(f"http://127.0.0.1:{port}/"):
            outside.append(response.url)
        elif response.request.resource_type != "websocket":
            served[response.url] = served.get(response.url, 0) + len(response.body())

    posted: list[dict[str, Any]] = []

    def sent(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/graphql"):
            posted.append(json.loads(request.post_data or "{}"))

    with running(database, tmp_path, port=port, demo_login="true") as server:
        tokens = {email: demo_token(server, email) for email in (MANAGER, ALICE, BOB)}
        alice = Rep(tokens[ALICE])
        # Sign in with the demo pick-list; the token stays in session storage.
        page.on("request", sent)
        page.on("response", count)
        page.goto(f"{server.url}/dashboard")
        page.select_option("#demo-users", MANAGER)
        page.click("#demo-form button")
        expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
        page.remove_listener("response", count)
        page.remove_listener("request", sent)
        # Queries go as persisted hashes: the text only once, when the server asks for it.
        assert posted and all("persistedQuery" in p.get("extensions", {}) for p in posted)
        assert any("query" not in p for p in posted)
        assert outside == [] or all(u.startswith("data:") for u in outside)
        assert 0 < sum(served.values()) < BUDGET, served

        # The bars are the team's owners, with the API's counts.
        me = call(server, tokens[MANAGER], ME)["me"]
        team = {
            u["id"] for u in call(server, tokens[MANAGER], TEAM, team=me["team"]["id"])["users"]
        }
        rows = page.locator("#owners tbody tr")
        shown = {
            row.get_attribute("data-owner"): int(row.locator(".count").inner_text())
            for row in rows.all()
        }
        assert set(shown) == team
        for owner, customers in shown.items():
            api = call(server, tokens[MANAGER], OWNED, owner=owner)["customers"]["totalCount"]
            assert customers == api, owner
        # The pool panel: each pool the manager belongs to, or the one pool before pools.
        assert shown_pools(page) == api_pools(server, tokens[MANAGER])
        alice_id = call(server, tokens[ALICE], ME)["me"]["id"]
        bar = page.locator(f'#owners tr[data-owner="{alice_id}"] .count')

        # A claim made through the API shows in the feed and moves her bar, live.
        customer, name = alice.claim(server)
        expect(page.locator("#events li[data-kind=CLAIMED]", has_text=name)).to_have_count(
            1, timeout=LIVE_MS
        )
        expect(bar).to_have_text(str(shown[alice_id] + 1), timeout=LIVE_MS)
        chart = page.locator("#chart")
        counted = re.compile(f'"{re.escape(alice_id)}":{shown[alice_id] + 1}[,}}]')
        expect(chart).to_have_attribute("data-counts", counted)
        events = [claimed_event(server, tokens[ALICE], customer)]
        pools = api_pools(server, tokens[MANAGER])
        page.wait_for_function(
            "(n) => document.querySelectorAll('#pools tbody tr').length === n", arg=len(pools)
        )
        expect(page.locator("#pools tbody .size").first).to_have_text(next(iter(pools.values())))
        assert shown_pools(page) == pools

    # The server goes away (closing the page's socket) and comes back on the same port;
    # meanwhile another server of the same database takes two claims.
    expect(page.locator("#live-state")).to_have_attribute("data-state", "reconnecting")
    with running(database, tmp_path) as other:
        for _ in range(2):
            events.append(claimed_event(other, tokens[ALICE], alice.claim(other)[0]))
    with running(database, tmp_path, port=port, demo_login="true") as server:
        expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
        for event in events:
            expect(page.locator(f'#events li[data-event="{event}"]')).to_have_count(
                1, timeout=WAIT_MS
            )
        expect(bar).to_have_text(str(shown[alice_id] + 3), timeout=WAIT_MS)
        # One more live claim: everything replayed before it has arrived, each once.
        events.append(claimed_event(server, tokens[ALICE], alice.claim(server)[0]))
        expect(page.locator(f'#events li[data-event="{events[-1]}"]')).to_have_count(
            1, timeout=LIVE_MS
        )
        for event in events:
            assert page.locator(f'#events li[data-event="{event}"]').count() == 1, event

        # A transfer waiting for the manager, approved from the page.
        bob_id = call(server, tokens[BOB], ME)["me"]["id"]
        mine = call(server, tokens[ALICE], OWNED_BY_ME, owner=alice_id)["customers"]["edges"]
        request = call(server, tokens[ALICE], REQUEST, c=mine[0]["node"]["id"], to=bob_id)
        transfer = request["requestTransfer"]["id"]
        call(server, tokens[BOB], DECIDE, id=transfer)
        page.reload()  # the token and the feed's cursor survive in session storage
        item = page.locator(f'#transfers li[data-transfer="{transfer}"]')
        expect(item.locator("button.approve")).to_be_visible(timeout=WAIT_MS)
        shots(page)
        item.locator("button.approve").click()
        expect(item).to_have_attribute("data-status", "APPROVED", timeout=WAIT_MS)
        statuses = {
            r["id"]: r["status"] for r in call(server, tokens[MANAGER], STATUS)["transferRequests"]
        }
        assert statuses[transfer] == "APPROVED"


def shots(page: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard-1400x900.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / "dashboard-390x844.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})


GRAPHIQL_RESULT = (
    "() => document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() || ''"
)


def test_demo_pick_lists_labels_and_refusals(database: str, tmp_path: Path, page: Any) -> None:
    if not GraphiQLPage().installed:
        why = "needs GraphiQL's files (`make graphiql`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true {why}")
        pytest.skip(why)
    with running(database, tmp_path, demo_login="true") as server:
        # GraphiQL's pick-list fills its headers editor with a fresh token for the user.
        page.goto(f"{server.graphql}?q={{ me {{ email }} }}")
        with page.expect_navigation():  # to ?token=…, which the page reads and drops
            page.select_option("#demo-login", ALICE)
        page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=WAIT_MS)
        assert "token=" not in page.url
        page.click(".graphiql-execute-button")
        page.wait_for_function(f"() => ({GRAPHIQL_RESULT})().includes('{ALICE}')", timeout=WAIT_MS)

        # The dashboard in Chinese, signed in with a token typed in: a REP may not read
        # the team's balance and is told so, in words; the rest of the page still works.
        page.goto(f"{server.url}/dashboard")
        page.select_option("#lang", "zh")
        expect(page.locator("h1")).to_have_text("客户归属看板")
        page.fill("#token", demo_token(server, ALICE))
        page.click("#token-form button")
        expect(page.locator("#message")).to_have_attribute("data-code", "FORBIDDEN")
        expect(page.locator("#message")).to_contain_text("无权操作")
        expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
        assert page.evaluate("() => sessionStorage.getItem('ownergraph.dashboard.token')")
        page.select_option("#lang", "en")
        expect(page.locator("#feed h2")).to_have_text("Live feed")

    with running(database, tmp_path) as server:
        # Without the switch: no pick-list, and no endpoint that would fill one.
        page.goto(f"{server.url}/dashboard")
        expect(page.locator("#signin")).to_be_visible()
        assert page.locator("#demo-form").is_hidden()
        page.goto(server.graphql)
        page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=WAIT_MS)
        assert page.locator("#demo-login").count() == 0
        assert httpx.get(f"{server.url}/demo-login").status_code == 404

    # A token whose bucket runs dry mid-load is told to wait, with the wait.
    manager = issue_cli_token(database, tmp_path, MANAGER)
    with running(
        database, tmp_path, rate_limit_points="300", rate_limit_restore_rate="1"
    ) as server:
        page.goto(f"{server.url}/dashboard")
        page.fill("#token", manager)
        page.click("#token-form button")
        expect(page.locator("#message")).to_have_attribute("data-code", "RATE_LIMITED")
        expect(page.locator("#message")).to_contain_text(re.compile(r"wait \d+ s"))
