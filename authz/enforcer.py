"""Loads the Casbin model and policy from the top level of the project."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import casbin

ROOT = Path(__file__).resolve().parent.parent


@lru_cache
def load_enforcer(
    model: Path = ROOT / "model.conf", policy: Path = ROOT / "policy.csv"
) -> casbin.Enforcer:
    return casbin.Enforcer(str(model), str(policy))


def permissions_for(enforcer: casbin.Enforcer, role: str) -> dict[tuple[str, str], frozenset[str]]:
    """(object, action) -> relations under which `role` may act, inherited roles included."""
    table: dict[tuple[str, str], set[str]] = {}
    for _sub, obj, act, rel in enforcer.get_implicit_permissions_for_user(role):
        table.setdefault((obj, act), set()).add(rel)
    return {key: frozenset(rels) for key, rels in table.items()}
