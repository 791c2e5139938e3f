"""Similar company names: candidates from a trigram index, scored by rapidfuzz.

A name is compared on its folded key (db.keys.company_key). Candidates are the customers
sharing at least one trigram of the key padded as `^key$`, so that the start and the end
count too: a one-character change inside a four-character Chinese name leaves no inner
trigram in common, but keeps `^ab` or `cd$`. The index answers this on either backend:

- PostgreSQL: pg_trgm's GIN index on `name_key` (migration 0008) serves each `LIKE 'ab%'`,
  `LIKE '%abc%'`, `LIKE '%cd'`; the best `limit` by pg_trgm `similarity` are kept;
- SQLite: the FTS5 trigram table `customer_name_grams` over `^name_key$` (migration 0012,
  kept in step by triggers), matched on the same trigrams and ranked by bm25.

The candidates (at most `limit`, never a table scan) are scored in Python with the
optimal-string-alignment similarity (a typo, a doubled letter or a transposition costs
one edit), and with a small sound-alike fold (ph/f, doubled letters) weighted slightly
lower, so "Alfa" finds "Alpha" without being called the same name.
"""

from __future__ import annotations

import re
from typing import Any

from rapidfuzz.distance import OSA
from sqlalchemy import ColumnElement, func, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.models import Customer

GRAMS_TABLE = "customer_name_grams"
CANDIDATES = 50
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


def candidate_ids(dialect: str, key: str, limit: int = CANDIDATES) -> Any:
    """The statement selecting up to `limit` ids of live customers whose names share a
    trigram with `key` (folded: it holds no LIKE wildcards nor quotes)."""
    grams = trigrams(key)
    live = col(Customer.merged_into_id).is_(None)
    if dialect == "postgresql":
        return (
            select(col(Customer.id), col(Customer.name_key))
            .where(or_(*(_like(g) for g in grams)), live)
            .order_by(func.similarity(col(Customer.name_key), literal(key)).desc())
            .limit(limit)
        )
    match = " OR ".join(f'"{g}"' for g in grams)
    ranked = text(
        f"SELECT rowid FROM {GRAMS_TABLE} WHERE {GRAMS_TABLE} MATCH :match "
        "ORDER BY rank LIMIT :limit"
    ).bindparams(match=match, limit=limit)
    return select(col(Customer.id), col(Customer.name_key)).where(
        col(Customer.id).in_(ranked), live
    )


async def similar_names(
    session: AsyncSession, key: str, *, threshold: float, limit: int = CANDIDATES
) -> list[tuple[int, float]]:
    """Live customers whose folded name is at least `threshold` alike to `key`, best
    first: (id, similarity). One indexed statement."""
    if len(key) < 2:
        return []
    stmt = candidate_ids(session.get_bind().dialect.name, key, limit)
    scored = [
        (int(cid), similarity(key, other))
        for cid, other in (await session.execute(stmt)).all()
        if cid is not None
    ]
    return sorted(
        ((cid, s) for cid, s in scored if s >= threshold), key=lambda pair: (-pair[1], pair[0])
    )
