"""Duplicates that catch look-alikes: a table of pairs through the real app, the block /
warn actions of createCustomer, and the trigram index answering the candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from db.keys import company_key
from db.models import OwnershipEvent
from db.similar import candidate_ids
from kernel.clock import FrozenClock
from tests.conftest import Api, db_id, errors_of, serve

CREATE = """mutation($i: CreateCustomerInput!, $c: Boolean! = false) {
  createCustomer(input: $i, confirmDuplicate: $c) { id }
}"""
CHECK = """query($i: DuplicateCheckInput!) {
  duplicateCheck(input: $i) { customerId name ownerName teamName matchedOn similarity }
}"""

# (the customer that exists, what a new entry looks like, the expected verdict)
PAIRS: list[tuple[dict[str, Any], dict[str, str], str]] = [
    # typos, transpositions, a doubled letter, sound-alikes
    ({"name": "Alpha Trading Co., Ltd."}, {"name": "Alfa Trading"}, "similar"),
    ({"name": "Acme Robotics Inc."}, {"name": "Acme Robotcs"}, "similar"),
    ({"name": "Zenquor Logistics"}, {"name": "Zenquor Logsitics"}, "similar"),
    ({"name": "Borealis Textiles"}, {"name": "Boreallis Textiles"}, "similar"),
    ({"name": "Meridian Pharma GmbH"}, {"name": "Meridain Pharma"}, "similar"),
    ({"name": "Quintal Dynamics"}, {"name": "Quintal Dynamix"}, "similar"),
    # full-width forms
    ({"name": "Nimbus Cloud Co., Ltd."}, {"name": "ＮＩＭＢＵＳ　ＣＬＯＵＤ"}, "block"),
    ({"name": "Oriel Foods Ltd."}, {"name": "Ｏｒｉｅｌ Ｆｏｏｄｓ Ｌｔｄ．"}, "block"),
    # legal suffixes fold
    ({"name": "杭州云帆科技有限公司"}, {"name": "杭州云帆科技股份有限公司"}, "block"),
    ({"name": "Helix Energy Inc."}, {"name": "Helix Energy Incorporated"}, "block"),
    ({"name": "Falkirk Motors GmbH"}, {"name": "Falkirk Motors"}, "block"),
    ({"name": "Sapphire Media Co., Ltd."}, {"name": "sapphire media company limited"}, "block"),
    # group words are part of the name
    ({"name": "东方医药集团"}, {"name": "东方医药有限公司"}, "different"),
    ({"name": "Titan Steel Group"}, {"name": "Titan Steel Inc."}, "different"),
    ({"name": "华润置地集团有限公司"}, {"name": "华润置地集团"}, "block"),
    ({"name": "Vortigen Holdings"}, {"name": "Vortigen"}, "different"),
    # Chinese names one character apart
    ({"name": "北京华夏建材有限公司"}, {"name": "北京华厦建材"}, "similar"),
    ({"name": "深圳市腾达电子"}, {"name": "深圳市腾运电子"}, "similar"),
    ({"name": "上海明珠物流"}, {"name": "上海明株物流"}, "similar"),
    ({"name": "广州白云制药"}, {"name": "广州白去制药"}, "similar"),
    # plainly different
    ({"name": "华为技术"}, {"name": "中兴通讯"}, "different"),
    ({"name": "Globex Corporation"}, {"name": "Initech"}, "different"),
    # one mobile in five notations, a landline with and without the country code
    (
        {"name": "Phone Probe", "contacts": [{"name": "P", "phone": "13912345678"}]},
        {"phone": "+86 139 1234 5678"},
        "block",
    ),
    ({"name": "Phone Probe"}, {"phone": "0086-139-1234-5678"}, "block"),
    ({"name": "Phone Probe"}, {"phone": "(+86) 13912345678"}, "block"),
    ({"name": "Phone Probe"}, {"phone": "139 1234 5678"}, "block"),
    ({"name": "Phone Probe"}, {"phone": "１３９１２３４５６７８"}, "block"),
    ({"name": "Phone Probe"}, {"phone": "13912345679"}, "different"),
    (
        {"name": "Landline Probe", "contacts": [{"name": "L", "phone": "021-6234 5678"}]},
        {"phone": "+86 21 6234 5678"},
        "block",
    ),
    # email domains: a company's domain is a key, a public mail service is none
    (
        {"name": "Mail Probe", "contacts": [{"name": "M", "email": "boss@quasarlabs.cn"}]},
        {"email": "sales@QuasarLabs.CN"},
        "block",
    ),
    ({"name": "Mail Probe"}, {"email": "info@quasar-labs.cn"}, "different"),
    (
        {"name": "Free Mail Probe", "contacts": [{"name": "F", "email": "a.boss@gmail.com"}]},
        {"name": "Wren Joinery", "email": "someone@gmail.com"},
        "different",
    ),
    # tax ids
    ({"name": "Tax Probe", "taxId": "91310000MA1FL4XX"}, {"taxId": "9131 0000-ma1fl4xx"}, "block"),
]


def verdict(found: list[dict[str, Any]], existing: str) -> str:
    match = next((m for m in found if m["customerId"] == str(db_id(existing))), None)
    if match is None:
        return "different"
    if match["matchedOn"] == ["similarName"]:
        assert 0.7 <= match["similarity"] < 1, match
        return "similar"
    assert match["similarity"] == 1.0, match
    return "block"


async def test_duplicate_table(api: Api) -> None:
    assert len(PAIRS) >= 30
    admin = await api.token("admin@demo.test")
    alice = await api.token("alice@demo.test")
    existing: dict[str, str] = {}
    for spec, _, _ in PAIRS:
        if spec["name"] not in existing:
            created = await api.ok(CREATE, {"i": spec}, token=admin)
            existing[spec["name"]] = created["createCustomer"]["id"]
    verdicts = []
    for spec, probe, _ in PAIRS:
        found = (await api.ok(CHECK, {"i": probe}, token=alice))["duplicateCheck"]
        verdicts.append(verdict(found, existing[spec["name"]]))
    assert verdicts == [expected for _, _, expected in PAIRS]
    # What blocks in the check blocks creation; similar names are reported, not blocked.
    blocked = await api.gql(CREATE, {"i": {"name": "Falkirk Motors"}}, token=alice)
    assert errors_of(blocked) == ["DUPLICATE_CUSTOMER"]
    assert not (await api.gql(CREATE, {"i": {"name": "Alfa Trading"}}, token=alice)).get("errors")


async def test_matches_tell_what_a_duplicate_answer_tells_and_partners_nothing(
    api: Api,
) -> None:
    await api.ok(CREATE, {"i": {"name": "Kestrel Optics"}}, as_user="carol@demo.test")
    found = (await api.ok(CHECK, {"i": {"name": "Kestrel Optic"}}, as_user="alice@demo.test"))[
        "duplicateCheck"
    ]
    assert {(m["name"], m["ownerName"], m["teamName"]) for m in found} == {
        ("Kestrel Optics", "Carol Smith", "West")
    }
    partner = await api.token(partner="acme-channel")
    body = await api.gql(CHECK, {"i": {"name": "Kestrel Optic"}}, token=partner)
    assert errors_of(body) == ["FORBIDDEN"] and "Kestrel" not in str(body)


async def test_warning_keys_may_be_confirmed_and_the_event_says_so(
    database_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    actions = {"name": "block", "taxId": "block", "phone": "warn", "emailDomain": "warn"}
    async with serve(database_url, clock, tmp_path, duplicate_actions=actions) as api:
        alice = await api.token("alice@demo.test")
        first = await api.ok(
            CREATE,
            {"i": {"name": "Puffin Ltd", "contacts": [{"name": "A", "phone": "13811112222"}]}},
            token=alice,
        )
        again = {"name": "Puffin Seafood", "contacts": [{"name": "B", "phone": "+8613811112222"}]}
        refused = await api.gql(CREATE, {"i": again}, token=alice)
        assert errors_of(refused) == ["DUPLICATE_CUSTOMER"]
        assert refused["errors"][0]["extensions"]["confirmable"] is True
        created = (await api.ok(CREATE, {"i": again, "c": True}, token=alice))["createCustomer"]
        async with api.services.db.read() as s:
            event = (
                await s.execute(
                    select(OwnershipEvent).where(OwnershipEvent.customer_id == db_id(created["id"]))
                )
            ).scalar_one()
        assert event.details["confirmed_duplicate"] == {
            "customer_ids": [db_id(first["createCustomer"]["id"])],
            "matched_on": ["phone"],
        }
        # A blocking key cannot be confirmed away.
        same_name = await api.gql(CREATE, {"i": {"name": "Puffin Ltd."}, "c": True}, token=alice)
        assert errors_of(same_name) == ["DUPLICATE_CUSTOMER"]
        assert same_name["errors"][0]["extensions"]["confirmable"] is False


async def test_candidates_come_from_the_trigram_index(api: Api) -> None:
    db = api.services.db
    stmt = candidate_ids(db.dialect, company_key("北京华厦建材"))
    compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
    async with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            plan = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")).all()
            details = [str(row[-1]) for row in plan]
            assert any("customer_name_grams VIRTUAL TABLE INDEX" in d for d in details), plan
            assert "SCAN customer" not in details, plan
        else:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            await conn.execute(text("DROP INDEX ix_customer_name_key"))
            plan = (await conn.exec_driver_sql(f"EXPLAIN {compiled}")).all()
            await conn.rollback()
            assert any("ix_customer_name_key_trgm" in str(row[0]) for row in plan), plan


@pytest.mark.parametrize(
    "probe", [{"name": "Alfa Quillwort"}, {"name": "Alpha Quillwort", "phone": "13900001111"}]
)
async def test_a_check_costs_the_same_statements_however_many_customers(
    api: Api, probe: dict[str, str]
) -> None:
    token = await api.token("alice@demo.test")
    await api.ok(CREATE, {"i": {"name": "Alpha Quillwort"}}, token=token)

    async def statements() -> tuple[int, int]:
        await api.ok(CHECK, {"i": probe}, token=token)  # warms the token and plan caches
        before = len(api.statements)
        found = (await api.ok(CHECK, {"i": probe}, token=token))["duplicateCheck"]
        return len(api.statements) - before, len(found)

    per_check, matches = await statements()
    for n in range(20):
        await api.ok(CREATE, {"i": {"name": f"Alpha Quillwort {n}"}}, token=token)
    assert await statements() == (per_check, matches + 20)
