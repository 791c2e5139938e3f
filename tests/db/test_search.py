"""Name search through the trigram index on each backend (db/search.py)."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlmodel import col

from db.keys import company_key
from db.models import Customer
from db.search import name_contains
from tests.conftest import Api, db_id

CREATE = "mutation($n: String!) { createCustomer(input: {name: $n}) { id } }"
RENAME = "mutation($id: ID!, $n: String!) { updateCustomer(id: $id, input: {name: $n}) { id } }"
SEARCH = "query($s: String!) { customers(first: 10, filter: {search: $s}) { totalCount edges { node { id } } } }"
DUPLICATES = "query($n: String!) { duplicateCheck(input: {name: $n}) { customerId matchedOn } }"


async def test_search_follows_creates_and_renames(api: Api) -> None:
    token = await api.token("alice@demo.test")
    ident = (await api.ok(CREATE, {"n": "Quokka Heavy Xy Industries"}, token=token))[
        "createCustomer"
    ]["id"]

    async def found(term: str) -> list[str]:
        page = (await api.ok(SEARCH, {"s": term}, token=token))["customers"]
        assert page["totalCount"] == len(page["edges"])
        return [e["node"]["id"] for e in page["edges"]]

    assert await found("okka heavy") == [ident]  # inside a word, across the folded space
    assert await found("xy") == [ident]  # shorter than a trigram still works
    await api.ok(RENAME, {"id": ident, "n": "Wombat Heavy Xy Industries"}, token=token)
    assert await found("quokka") == []
    assert await found("wombat") == [ident]
    similar = (await api.ok(DUPLICATES, {"n": "Wombat Heavy Xy Industry"}, token=token))[
        "duplicateCheck"
    ]
    assert [m["customerId"] for m in similar] == [str(db_id(ident))]


async def test_search_uses_the_trigram_index(api: Api) -> None:
    db = api.services.db
    condition = name_contains(company_key("robotics"))
    stmt = select(func.count()).select_from(Customer).where(condition)
    compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
    async with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            plan = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")).all()
            assert any("VIRTUAL TABLE INDEX 0:L" in str(row[-1]) for row in plan), plan
        else:
            # The demo's table is tiny: rule out the scans the planner prefers at that size
            # (inside this transaction only) and see that the trigram index can answer.
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            await conn.execute(text("DROP INDEX ix_customer_name_key"))
            plan = (await conn.exec_driver_sql(f"EXPLAIN {compiled}")).all()
            await conn.rollback()
            assert any("ix_customer_name_key_trgm" in str(row[0]) for row in plan), plan
        # The index answers what a scan of the table would.
        scanned = await conn.scalar(
            select(func.count()).where(col(Customer.name_key).contains("robotics"))
        )
        assert await conn.scalar(stmt) == scanned


def test_search_keys_hold_no_wildcards() -> None:
    assert "%" not in company_key("100% Pure_Foods") and "_" not in company_key("a_b")


async def test_the_trigram_index_keeps_a_short_pending_list(api: Api) -> None:
    """Writes park new trigrams in the GIN index's pending list, which every search reads
    through; PostgreSQL's default of 4 MB let a million-customer search double (0018)."""
    if api.services.db.dialect != "postgresql":
        return
    async with api.services.db.read() as session:
        options = await session.scalar(
            text("SELECT reloptions FROM pg_class WHERE relname = 'ix_customer_name_key_trgm'")
        )
    assert "gin_pending_list_limit=256" in (options or []), options
