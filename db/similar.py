"""Similar company names: candidates from a trigram index, scored by rapidfuzz.

A name is compared on its folded key (db.keys.company_key). Candidates are the customers
sharing a trigram of the key padded as `^key$`, so that the start and the end count too:
a one-character change inside a four-character Chinese name leaves no inner trigram in
common, but keeps `^ab` or `cd$`.

Not every trigram of the key is asked for, only its rarest (prefix filtering): names share
a vocabulary (公司, 科技, Pharma, Trading…), so at a million customers any common trigram
is held by hundreds of thousands of them, and reading those would cost what a table scan
does. The counts of customers per trigram (`customer_name_gram_counts`, migration 0016)
pick them: every trigram no customer holds (the edited part of a look-alike, free), then
the rarest ones while the rows they hold together stay within `budget`, at least one
held by someone. A look-alike keeps most of the key's trigrams, so it keeps some of the
rarest; one edit changes at most four (a transposition), so a key whose five rarest
trigrams fit the budget always finds its one-edit neighbours. The index answers:

- PostgreSQL: pg_trgm's GIN index on `name_key` (migration 0008) serves each `LIKE 'ab%'`,
  `LIKE '%abc%'`, `LIKE '%cd'`; the best `limit` by edit distance (fuzzystrmatch's
  `levenshtein`, over the longer length; migration 0016) are kept;
- SQLite: the FTS5 trigram table `customer_name_grams` over `^name_key$` (migration 0012,
  kept in step by triggers), matched on the same trigrams; the best `limit` by rapidfuzz's
  optimal-string-alignment similarity (a function of each connection, db/engine.py) are
  kept.

The candidates (at most `limit`, never a table scan) are scored in Python with the
optimal-string-alignment similarity (a typo, a doubled letter or a transposition costs
one edit), and with a small sound-alike fold (ph/f, doubled letters) weighted slightly
lower, so "Alfa" finds "Alpha" without being called the same name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rapidfuzz.distance import OSA
from sqlalchemy import ColumnElement, Float, bindparam, cast, func, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.engine import SQLITE_SIMILARITY
from db.models import Customer

GRAMS_TABLE = "customer_name_grams"
COUNTS_TABLE = "customer_name_gram_counts"
CANDIDATES = 50
# Set (SET LOCAL) by a bulk load that counts its rows' trigrams itself (`count_bulk`).
BULK_SETTING = "ownergraph.bulk_insert"
# Rows the asked-for trigrams may hold together (each read from the table to be ranked).
BUDGET = 2_000
SOUND_ALIKE_WEIGHT = 0.9
_DOUBLED = re.compile(r"(.)\1+")


def trigrams(key: str) -> list[str]:
    """The trigrams of `^key$`, in order, each once."""
    padded = f"^{key}$"
    return list(dict.fromkeys(padded[i : i + 3] for i in range(len(padded) - 2)))


def _sound(key: str) -> str:
    return _DOUBLED.sub(r"\1", key.replace("ph", "f"))


def similarity(a: str, b: str) -> float:
    """How alike two folded keys are, 0..1; 1.0 only for the same key."""
    if a == b:
        return 1.0
    score = OSA.normalized_similarity(a, b)
    sound = OSA.normalized_similarity(_sound(a), _sound(b)) * SOUND_ALIKE_WEIGHT
    return round(min(max(score, sound), 0.99), 3)


def _like(gram: str) -> ColumnElement[bool]:
    key = col(Customer.name_key)
    if gram.startswith("^"):
        return key.like(f"{gram[1:]}%")
    if gram.endswith("$"):
        return key.like(f"%{gram[:-1]}")
    return key.like(f"%{gram}%")


async def gram_counts(session: AsyncSession, grams: Sequence[str]) -> dict[str, int]:
    """How many customers hold each of `grams` (absent: none)."""
    stmt = text(f"SELECT term, doc FROM {COUNTS_TABLE} WHERE term IN :grams").bindparams(
        bindparam("grams", expanding=True)
    )
    rows = await session.execute(stmt, {"grams": list(grams)})
    return {str(term): int(doc) for term, doc in rows.all()}


async def count_bulk(session: AsyncSession, first_id: int, last_id: int) -> None:
    """PostgreSQL, in a transaction that set BULK_SETTING before inserting customers
    `first_id`..`last_id` by executemany (a statement per row, each firing the counting
    trigger): count their trigrams in one statement instead."""
    await session.execute(
        text(
            f"INSERT INTO {COUNTS_TABLE} AS c (term, doc) "
            "SELECT g, count(*) FROM customer, name_grams(customer.name_key) AS g "
            "WHERE customer.id BETWEEN :first AND :last GROUP BY g ORDER BY g "
            "ON CONFLICT (term) DO UPDATE SET doc = c.doc + excluded.doc"
        ),
        {"first": first_id, "last": last_id},
    )


def rarest(grams: Sequence[str], counts: dict[str, int], budget: int = BUDGET) -> list[str]:
    """The trigrams to ask the index for: those nobody holds, then the rarest while the
    rows they hold together stay within `budget`, and at least one that somebody holds."""
    chosen: list[str] = []
    held = 0
    for gram in sorted(grams, key=lambda g: counts.get(g, 0)):
        n = counts.get(gram, 0)
        if held and held + n > budget:
            break
        chosen.append(gram)
        held += n
    return chosen


def candidate_ids(
    dialect: str, key: str, probes: Sequence[str] | None = None, limit: int = CANDIDATES
) -> Any:
    """The statement selecting up to `limit` ids of live customers whose names hold one
    of `probes` (default: every trigram of `key`), most alike first. `key` is folded: it
    holds no LIKE wildcards nor quotes."""
    probes = list(probes) if probes is not None else trigrams(key)
    live = col(Customer.merged_into_id).is_(None)
    if dialect == "postgresql":
        return (
            select(col(Customer.id), col(Customer.name_key))
            .where(or_(*(_like(g) for g in probes)), live)
            .order_by(
                cast(func.levenshtein(col(Customer.name_key), literal(key)), Float)
                / func.greatest(func.length(col(Customer.name_key)), len(key)),
                col(Customer.id),
            )
            .limit(limit)
        )
    match = " OR ".join(f'"{g}"' for g in probes)
    found = text(f"SELECT rowid FROM {GRAMS_TABLE} WHERE {GRAMS_TABLE} MATCH :match").bindparams(
        match=match
    )
    return (
        select(col(Customer.id), col(Customer.name_key))
        .where(col(Customer.id).in_(found), live)
        .order_by(
            getattr(func, SQLITE_SIMILARITY)(col(Customer.name_key), literal(key)).desc(),
            col(Customer.id),
        )
        .limit(limit)
    )


async def similar_names(
    session: AsyncSession,
    key: str,
    *,
    threshold: float,
    limit: int = CANDIDATES,
    budget: int = BUDGET,
) -> list[tuple[int, float]]:
    """Live customers whose folded name is at least `threshold` alike to `key`, best
    first: (id, similarity). Two indexed statements: the trigrams' counts, the
    candidates."""
    if len(key) < 2:
        return []
    grams = trigrams(key)
    probes = rarest(grams, await gram_counts(session, grams), budget)
    stmt = candidate_ids(session.get_bind().dialect.name, key, probes, limit)
    scored = [
        (int(cid), similarity(key, other))
        for cid, other in (await session.execute(stmt)).all()
        if cid is not None
    ]
    return sorted(
        ((cid, s) for cid, s in scored if s >= threshold), key=lambda pair: (-pair[1], pair[0])
    )
