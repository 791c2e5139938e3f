"""Similar-name candidates from the rarest trigrams (db/similar.py): the counts the
triggers keep, which trigrams are asked for, and what is still found."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import delete, insert, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.keys import company_key
from db.models import Customer
from db.similar import COUNTS_TABLE, gram_counts, rarest, similar_names, similarity, trigrams
from ownergraph.bulk import add_customers
from tests.conftest import Api, db_id

CREATE = "mutation($n: String!) { createCustomer(input: {name: $n}) { id } }"
RENAME = "mutation($id: ID!, $n: String!) { updateCustomer(id: $id, input: {name: $n}) { id } }"


async def _stored(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(text(f"SELECT term, doc FROM {COUNTS_TABLE} WHERE doc <> 0"))
    return {str(term): int(doc) for term, doc in rows.all()}


async def _expected(session: AsyncSession) -> dict[str, int]:
    keys = (await session.execute(select(col(Customer.name_key)))).scalars()
    return dict(Counter(g for key in keys for g in trigrams(key)))


async def test_trigram_counts_follow_inserts_renames_and_deletes(api: Api) -> None:
    db = api.services.db
    async with db.read() as session:
        assert await _stored(session) == await _expected(session)  # the migration's count
    # Many rows per INSERT statement (PostgreSQL counts per statement).
    await add_customers(db, api.services.clock.now(), 25, batch=10)
    token = await api.token("alice@demo.test")
    ident = (await api.ok(CREATE, {"n": "Quokka Optics"}, token=token))["createCustomer"]["id"]
    await api.ok(RENAME, {"id": ident, "n": "Wombat Optics"}, token=token)
    async with db.read() as session:
        assert await _stored(session) == await _expected(session)
    async with db.write() as session, session.begin():
        # A copy of a row under a new name, then gone again.
        columns = [c for c in Customer.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]
        copy = select(
            *(literal("zzyzxoptics") if c.name == "name_key" else c for c in columns)
        ).where(col(Customer.id) == db_id(ident))
        await session.execute(insert(Customer).from_select([c.name for c in columns], copy))
        assert (await _stored(session))["zzy"] == 1
        await session.execute(delete(Customer).where(col(Customer.name_key) == "zzyzxoptics"))
        assert await _stored(session) == await _expected(session)


@pytest.mark.parametrize(
    ("counts", "budget", "asked"),
    [
        # Nobody holds the edited trigrams: free. Then the rarest while within budget.
        ({"^ab": 5, "abc": 0, "bcd": 40, "cd$": 9}, 20, ["abc", "^ab", "cd$"]),
        # At least one that somebody holds, however many hold it.
        ({"^ab": 500, "abc": 900, "bcd": 700, "cd$": 600}, 20, ["^ab"]),
        ({"^ab": 500}, 20, ["abc", "bcd", "cd$", "^ab"]),
        # A small table: every trigram.
        ({"^ab": 1, "abc": 1, "bcd": 1, "cd$": 1}, 20, ["^ab", "abc", "bcd", "cd$"]),
    ],
)
def test_the_rarest_trigrams_within_the_budget_are_asked_for(
    counts: dict[str, int], budget: int, asked: list[str]
) -> None:
    assert rarest(trigrams("abcd"), counts, budget) == asked


async def test_a_look_alike_is_found_by_its_rare_trigrams_alone(api: Api) -> None:
    """Names built from a shared vocabulary: the common trigrams are not asked for, and
    the look-alike is still found through what is particular to it."""
    db = api.services.db
    await add_customers(db, api.services.clock.now(), 300, batch=100)
    token = await api.token("alice@demo.test")
    target = (await api.ok(CREATE, {"n": "Zephyrine Falcon Trading"}, token=token))[
        "createCustomer"
    ]["id"]
    key = company_key("Zephyrin Falcon Trading")
    async with db.read() as session:
        counts = await gram_counts(session, trigrams(key))
        asked = rarest(trigrams(key), counts, budget=20)
        common = {g for g, n in counts.items() if n > 20}
        assert common and asked and not common & set(asked), (counts, asked)
        found = await similar_names(session, key, threshold=0.7, budget=20)
    assert found[0] == (db_id(target), similarity(key, company_key("Zephyrine Falcon Trading")))
