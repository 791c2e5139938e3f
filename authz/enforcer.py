"""Loads the Casbin model and policy from the top level of the project, with the audit
lines the settings ask for."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import casbin

from db.enums import Role
from kernel.settings import DEFAULT_AUDITED_ROLES

ROOT = Path(__file__).resolve().parent.parent
SENSITIVE = "customer.sensitive"


@lru_cache
def load_enforcer(
    model: Path = ROOT / "model.conf",
    policy: Path = ROOT / "policy.csv",
    audited_roles: tuple[str, ...] = DEFAULT_AUDITED_ROLES,
) -> casbin.Enforcer:
    enforcer = casbin.Enforcer(str(model), str(policy))
    audit_sensitive_reads(enforcer, audited_roles)
    return enforcer


def audit_sensitive_reads(enforcer: casbin.Enforcer, roles: tuple[str, ...]) -> None:
    """Every sensitive read by these roles is written down: each gets a
    `customer.sensitive, audit` line under each relation it may read them under, so the
    plan's field table decides reading and auditing together (schema/masking.py)."""
    if unknown := sorted(set(roles) - {str(r) for r in Role}):
        raise ValueError(f"audited_roles: unknown roles {unknown}")
    for role in roles:
        for rel in sorted(permissions_for(enforcer, role).get((SENSITIVE, "read"), ())):
            enforcer.add_policy(role, SENSITIVE, "audit", rel)


def permissions_for(enforcer: casbin.Enforcer, role: str) -> dict[tuple[str, str], frozenset[str]]:
    """(object, action) -> relations under which `role` may act, inherited roles included."""
    table: dict[tuple[str, str], set[str]] = {}
    for _sub, obj, act, rel in enforcer.get_implicit_permissions_for_user(role):
        table.setdefault((obj, act), set()).add(rel)
    return {key: frozenset(rels) for key, rels in table.items()}
