"""Duplicate check: exact keys (blocking or warning, per key kind) and similar names.

Exact keys come from db/keys.py; similar names from db/similar.py (a trigram index picks
the candidates, rapidfuzz scores them). What a match tells the caller is what a
DUPLICATE_CUSTOMER answer already tells every internal user: the customer's id, name,
owner name and team; a partner learns nothing (DESIGN.md, "Duplicate check").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col

from db.keys import company_key, customer_keys
from db.models import Customer, Team, User
from db.similar import similar_names
from kernel.errors import Forbidden, Validation
from kernel.messages import N_
from kernel.settings import Settings
from resolvers import validation
from resolvers.context import Context

SIMILAR_NAME = "similarName"


def blocking(matches: dict[int, list[str]], settings: Settings) -> bool:
    """Whether any matched key kind blocks (setting `duplicate_actions`; unknown: block)."""
    actions = settings.duplicate_actions
    return any(actions.get(kind, "block") != "warn" for kinds in matches.values() for kind in kinds)


async def duplicate_check(
    ctx: Context,
    *,
    name: str | None = None,
    tax_id: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> list[dict[str, Any]]:
    """Who already has this company: exact key matches first (similarity 1.0), then
    similar names at least `duplicate_similarity_threshold` alike, best first."""
    from resolvers.customers import find_duplicates

    if ctx.plan.principal.is_partner:
        raise Forbidden(N_("Partners cannot run duplicate checks."))
    settings = ctx.settings
    name = validation.search_term(name, "name")
    keys = customer_keys(
        name=name,
        tax_id=tax_id,
        phones=[phone] if phone else [],
        emails=[email] if email else [],
        region=settings.phone_region,
    )
    if not keys and not (name and name.strip()):
        raise Validation(N_("Give at least a name, tax id, phone or email to check."))
    session = await ctx.session()
    matches = await find_duplicates(session, keys)
    scores = {i: 1.0 for i in matches}
    if name and (key := company_key(name)):
        for cid, score in await similar_names(
            session, key, threshold=settings.duplicate_similarity_threshold
        ):
            scores.setdefault(cid, score)
    if not scores:
        return []
    rows = await session.execute(
        select(col(Customer.id), col(Customer.name), col(User.name), col(Team.name))
        .outerjoin(User, col(User.id) == col(Customer.owner_id))
        .outerjoin(Team, col(Team.id) == col(Customer.team_id))
        .where(col(Customer.id).in_(list(scores)), col(Customer.merged_into_id).is_(None))
    )
    by_id = {r[0]: r for r in rows}
    ordered = sorted(scores, key=lambda i: (-scores[i], i not in matches, i))
    return [
        {
            "customer_id": str(i),
            "name": by_id[i][1],
            "owner_name": by_id[i][2],
            "team_name": by_id[i][3],
            "matched_on": sorted(matches.get(i, [SIMILAR_NAME])),
            "similarity": scores[i],
        }
        for i in ordered
        if i in by_id
    ]
