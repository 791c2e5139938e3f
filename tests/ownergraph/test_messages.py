"""Messages in zh-CN and en: the catalogues cover every error code and every marked text,
and a request's Accept-Language (HTTP, and a WebSocket's upgrade request) picks the one
it reads, the `default_locale` setting otherwise."""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path
from string import Formatter
from typing import Any

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from kernel import errors
from kernel.clock import FrozenClock
from kernel.messages import LOCALE_DIR, N_, negotiate, render
from tests.conftest import Api, serve
from tests.subscriptions.test_live import WAIT

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("authz", "db", "kernel", "ownergraph", "resolvers", "schema", "subscriptions")
# Codes answered outside kernel/errors.py: graphql-core's, the HTTP layer's, INTERNAL.
OTHER_CODES = {
    "INTERNAL",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "PERSISTED_QUERY_NOT_FOUND",
    "BAD_REQUEST",
    "METHOD_NOT_ALLOWED",
    "UNSUPPORTED_MEDIA_TYPE",
}
HAN = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
CUSTOMER = "query ($id: ID!) { customer(id: $id) { id name } }"
MY_REMINDERS = "{ myReminders { id kind message customer { name } } }"


def _catalogue(locale: str, domain: str) -> dict[str, str]:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po").open("rb") as fp:
        return {m.id: m.string for m in read_po(fp) if m.id}


def _codes() -> set[str]:
    found, todo = set(), [errors.DomainError]
    while todo:
        cls = todo.pop()
        found.add(cls.code)
        todo += cls.__subclasses__()
    return found | OTHER_CODES


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in Formatter().parse(template) if f is not None}


def test_every_error_code_reads_in_both_languages() -> None:
    en, zh = _catalogue("en", "codes"), _catalogue("zh_CN", "codes")
    for code in sorted(_codes()):
        assert en.get(code) and not HAN.search(en[code]), code
        assert zh.get(code) and HAN.search(zh[code]), code


def test_every_marked_text_is_translated_with_its_placeholders() -> None:
    zh = _catalogue("zh_CN", "ownergraph")
    marked: set[str] = set()
    for package in PACKAGES:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / package, keywords={"N_": None}
        ):
            marked.add(message)
    assert len(marked) > 150
    # `make messages` keeps the catalogue in step with the code.
    assert marked == set(zh)
    for text in marked:
        assert zh[text] and HAN.search(zh[text]), text
        assert _fields(zh[text]) == _fields(text), text


def _error_classes() -> set[str]:
    found, todo = set(), [errors.DomainError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo += cls.__subclasses__()
    return found


def _plain_text(node: ast.expr | None) -> bool:
    """Whether `node` builds a text the catalogue cannot know: a str literal, an f-string,
    `"..." % x`, `"...".format(x)`, or a join of such; a conditional if any branch is one.
    An `N_(...)` call, a name or an attribute (a Message made elsewhere) passes."""
    if node is None:
        return False
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return _plain_text(node.left) or _plain_text(node.right) or isinstance(node.op, ast.Mod)
    if isinstance(node, ast.IfExp):
        return _plain_text(node.body) or _plain_text(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format" or (
            node.func.attr == "join" and _plain_text(node.func.value)
        )
    return False


def test_every_domain_error_is_raised_with_a_marked_text() -> None:
    """A DomainError's message goes through the catalogue: `N_(...)`, never a bare str or
    an f-string, which a zh-CN client would read as the code's text plus English.
    NotFound takes a key of errors.THINGS, which it marks itself."""
    classes = _error_classes()
    unmarked: list[tuple[str, int, str]] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name not in classes:
                    continue
                first = node.args[0] if node.args else None
                keyword = {k.arg: k.value for k in node.keywords}
                first = first or keyword.get("message") or keyword.get("what")
                where = (str(path.relative_to(ROOT)), node.lineno, "")
                if name == "NotFound":
                    if isinstance(first, ast.Constant) and first.value not in errors.THINGS:
                        unmarked.append((*where[:2], " (not a key of errors.THINGS)"))
                    elif first is not None and not isinstance(first, ast.Constant):
                        if _plain_text(first):
                            unmarked.append(where)
                elif _plain_text(first):
                    unmarked.append(where)
    listed = [f"{file}:{line}{note}" for file, line, note in sorted(unmarked)]
    assert not listed, "raised with an unmarked text:\n" + "\n".join(listed)


@pytest.mark.parametrize(
    ("header", "default", "chosen"),
    [
        ("en", "zh-CN", "en"),
        ("en-US,en;q=0.9", "zh-CN", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "en", "zh_CN"),
        ("zh-Hans", "en", "zh_CN"),
        ("zh;q=0.4, en;q=0.6", "zh-CN", "en"),
        ("fr-FR, en;q=0.5", "zh-CN", "en"),
        ("fr-FR", "zh-CN", "zh_CN"),
        ("en;q=0", "zh-CN", "zh_CN"),
        (None, "en", "en"),
    ],
)
def test_accept_language_is_negotiated(header: str | None, default: str, chosen: str) -> None:
    assert negotiate(header, default) == chosen


def test_an_untranslated_text_reads_as_its_code_then_the_english_detail() -> None:
    # What an error added without a catalogue entry for its text looks like.
    assert render("Embargo until 2026-12-04.", "CONFLICT", "zh_CN") == (
        "状态已发生变化；请刷新后重试。（Embargo until 2026-12-04.）"
    )
    assert render("Embargo until 2026-12-04.", "CONFLICT", "en") == "Embargo until 2026-12-04."
    # Nested texts and format specs render in the same language.
    refused = errors.NotFound("export request", 7)
    assert render(refused.message, "NOT_FOUND", "zh_CN") == "导出申请 7 不存在。"
    assert str(refused.message) == "No export request 7 exists."
    assert render(N_("A text value is at most {limit:,} characters.", limit=12000), None, "en") == (
        "A text value is at most 12,000 characters."
    )


async def _ask(api: Api, token: str, query: str, variables: dict[str, Any], **headers: str) -> Any:
    response = await api.client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}", **headers},
    )
    return response.json()["errors"][0]


async def test_the_request_language_chooses_the_message(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(database_url, clock, tmp_path, default_locale="zh-CN") as api:
        token = await api.token("alice@demo.test")
        missing = {"id": "999999"}
        en = await _ask(api, token, CUSTOMER, missing, **{"accept-language": "en-GB,en;q=0.9"})
        zh = await _ask(api, token, CUSTOMER, missing, **{"accept-language": "zh-CN"})
        default = await _ask(api, token, CUSTOMER, missing)
        assert en["message"] == "No customer 999999 exists."
        assert zh["message"] == default["message"] == "客户 999999 不存在。"
        assert {e["extensions"]["code"] for e in (en, zh, default)} == {"NOT_FOUND"}

        # graphql-core's own refusal: the code's text first, its English detail after.
        bad = await _ask(api, token, "{ nope }", {}, **{"accept-language": "zh-CN"})
        assert bad["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert bad["message"].startswith("查询不符合接口定义。（") and "nope" in bad["message"]

        # A request refused before GraphQL runs, and signing in.
        plain = await api.client.post(
            "/graphql",
            content=b"[]",
            headers={"content-type": "application/json", "accept-language": "zh-CN"},
        )
        assert HAN.search(plain.json()["errors"][0]["message"])
        unsigned = await _ask(api, "nope", CUSTOMER, missing, **{"accept-language": "zh"})
        assert (unsigned["extensions"]["code"], unsigned["message"]) == (
            "UNAUTHENTICATED",
            "令牌无效。",
        )

    async with serve(database_url, clock, tmp_path, default_locale="en") as api:
        token = await api.token("alice@demo.test")
        assert (await _ask(api, token, CUSTOMER, {"id": "999999"}))["message"] == (
            "No customer 999999 exists."
        )


async def test_reminders_read_in_the_readers_language(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serve(database_url, clock, tmp_path, default_locale="zh-CN") as api:
        token = await api.token("alice@demo.test")
        answers = {}
        for language in ("en", "zh-CN"):
            response = await api.client.post(
                "/graphql",
                json={"query": MY_REMINDERS},
                headers={"authorization": f"Bearer {token}", "accept-language": language},
            )
            answers[language] = response.json()["data"]["myReminders"]
    en, zh = answers["en"], answers["zh-CN"]
    assert [r["id"] for r in en] == [r["id"] for r in zh] and en
    for one, other in zip(en, zh, strict=True):
        name = one["customer"]["name"]
        assert one["kind"] == "FOLLOW_UP_DUE"
        assert one["message"] == f"Follow up with {name}, as planned."
        assert other["message"] == f"请按计划跟进 {name}。"


async def test_a_websocket_speaks_its_upgrade_requests_language(api: Api) -> None:
    token = await api.token("alice@demo.test")
    messages = {}
    for language in ("en", "zh-CN"):
        transport = ASGIWebSocketTransport(api.app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
            aconnect_ws(
                "http://test/graphql",
                client,
                subprotocols=["graphql-transport-ws"],
                headers={"accept-language": language},
            ) as ws,
        ):
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            await ws.send_json(init)
            async with asyncio.timeout(WAIT):
                assert (await ws.receive_json())["type"] == "connection_ack"
                query = 'subscription { reminderDue(since: "garbage") { id } }'
                await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
                while (message := await ws.receive_json())["type"] == "ping":
                    await ws.send_json({"type": "pong"})
        payload = message["payload"]
        [error] = payload["errors"] if message["type"] == "next" else payload
        assert error["extensions"]["code"] == "VALIDATION"
        messages[language] = error["message"]
    assert messages["en"] == "The cursor is not one this server gave out."
    assert messages["zh-CN"] == "该游标不是本服务器发出的。"
