"""The visibility table of DESIGN.md as allow/deny rows against the real policy.csv."""

from __future__ import annotations

import pytest

from authz.enforcer import load_enforcer, permissions_for
from authz.plan import Plan
from authz.principal import Principal
from db.enums import Role
from db.models import Team
from kernel.errors import Forbidden

R, S = "customer", "customer.sensitive"

TABLE = [
    # role, object, action, relation, allowed
    ("ADMIN", R, "read", "any", True),
    ("ADMIN", S, "read", "any", True),
    ("DIRECTOR", R, "read", "subtree", True),
    ("DIRECTOR", R, "read", "pool", True),
    ("DIRECTOR", R, "read", "any", False),
    ("DIRECTOR", S, "read", "subtree", True),
    ("DIRECTOR", S, "read", "pool", False),
    ("MANAGER", R, "read", "team", True),
    ("MANAGER", R, "read", "pool", True),
    ("MANAGER", R, "read", "subtree", False),
    ("MANAGER", S, "read", "team", True),
    ("MANAGER", S, "read", "pool", False),
    ("REP", R, "read", "owner", True),
    ("REP", R, "read", "collaborator", True),
    ("REP", R, "read", "pool", True),
    ("REP", R, "read", "team", False),
    ("REP", S, "read", "owner", True),
    ("REP", S, "read", "collaborator", True),
    ("REP", S, "read", "pool", False),
    ("REP", R, "create", "any", True),
    ("REP", R, "claim", "pool", True),
    ("REP", R, "release", "owner", True),
    ("REP", R, "release", "collaborator", False),
    ("REP", R, "assign", "pool", False),
    # A READ collaborator sees the customer and its contacts; only WRITE follows up, edits.
    ("REP", R, "follow_up", "collaborator", False),
    ("REP", R, "follow_up", "write_collaborator", True),
    ("REP", R, "update", "collaborator", False),
    ("REP", R, "update", "write_collaborator", True),
    ("REP", R, "collaborate", "write_collaborator", False),
    ("SERVICE", R, "read", "owner", True),
    ("SERVICE", R, "read", "service_collaborator", True),
    ("SERVICE", R, "read", "collaborator", False),
    ("SERVICE", R, "read", "pool", False),
    ("SERVICE", R, "follow_up", "service_collaborator", False),
    ("SERVICE", R, "follow_up", "write_collaborator", True),
    ("SERVICE", R, "create", "any", False),
    ("AUDITOR", R, "read", "any", True),
    ("AUDITOR", S, "read", "any", True),
    ("AUDITOR", S, "audit", "any", True),
    ("AUDITOR", R, "update", "any", False),
    ("AUDITOR", R, "follow_up", "any", False),
    ("ARBITER", R, "read", "arbiter", True),
    ("ARBITER", R, "read", "any", False),
    ("ARBITER", S, "read", "arbiter", False),
    ("ARBITER", R, "arbitrate", "arbiter", True),
    ("PARTNER", R, "read", "partner", True),
    ("PARTNER", R, "read", "pool", False),
    ("PARTNER", S, "read", "partner", False),
    ("PARTNER", R, "update", "partner", False),
    # A dispute right: what the caller sees, what a duplicate answer just named, what they
    # lost lately; never any customer at all. A claimant never reads sensitive fields.
    ("REP", R, "dispute", "any", False),
    ("REP", R, "dispute", "owner", True),
    ("REP", R, "dispute", "collaborator", True),
    ("REP", R, "dispute", "pool", True),
    ("REP", R, "dispute", "team", False),
    ("REP", R, "dispute", "duplicate_notice", True),
    ("REP", R, "dispute", "former_owner", True),
    ("REP", R, "read", "duplicate_notice", False),
    ("REP", R, "read", "former_owner", False),
    ("REP", R, "read", "claimant", True),
    ("REP", S, "read", "claimant", False),
    ("MANAGER", R, "dispute", "any", False),
    ("MANAGER", R, "dispute", "team", True),
    ("MANAGER", R, "dispute", "duplicate_notice", True),
    ("MANAGER", R, "dispute", "former_owner", True),
    ("SERVICE", R, "dispute", "owner", False),
    ("ADMIN", R, "dispute", "any", False),
]


@pytest.mark.parametrize(("role", "obj", "act", "rel", "allowed"), TABLE)
def test_policy_table(role: str, obj: str, act: str, rel: str, allowed: bool) -> None:
    assert load_enforcer().enforce(role, obj, act, rel) is allowed


def test_audited_roles_are_audited_wherever_they_read() -> None:
    enforcer = load_enforcer()
    audited = [r for r in Role if (S, "audit") in permissions_for(enforcer, r)]
    assert audited == [Role.ADMIN, Role.DIRECTOR, Role.AUDITOR]
    for role in audited:
        table = permissions_for(enforcer, role)
        assert table[(S, "audit")] == table[(S, "read")]
    assert (S, "audit") not in permissions_for(load_enforcer(audited_roles=("REP",)), Role.ADMIN)
    with pytest.raises(ValueError, match="NOBODY"):
        load_enforcer(audited_roles=("NOBODY",))


def test_every_relation_in_the_policy_is_known() -> None:
    from authz.relations import BIT

    for role in Role:
        for rels in permissions_for(load_enforcer(), role).values():
            assert rels <= set(BIT), rels


TEAMS = [
    Team(id=1, name="Sales", path="/1/", manager_id=10),
    Team(id=2, name="East", path="/1/2/", parent_id=1, manager_id=20),
    Team(id=3, name="West", path="/1/3/", parent_id=1),
    Team(id=4, name="Other", path="/4/"),
]


def test_director_plan_covers_the_subtree_only() -> None:
    plan = Plan.build(load_enforcer(), Principal(Role.DIRECTOR, "d", user_id=10, team_id=1), TEAMS)
    assert plan.facts.subtree_ids == {1, 2, 3}
    assert plan.team_ids_for("customer", "assign") == {1, 2, 3}


def test_manager_plan_covers_the_managed_team() -> None:
    plan = Plan.build(load_enforcer(), Principal(Role.MANAGER, "m", user_id=20, team_id=2), TEAMS)
    assert plan.facts.team_ids == {2}
    assert plan.team_ids_for("customer", "release") == {2}


def test_token_scopes_narrow_the_plan() -> None:
    principal = Principal(Role.REP, "r", user_id=5, scopes=frozenset({"customer:read"}))
    plan = Plan.build(load_enforcer(), principal, TEAMS)
    assert plan.may("customer", "read")
    assert not plan.may("customer", "create")
    assert not plan.may("token", "issue")


def test_a_dispute_right_covers_what_a_role_sees() -> None:
    """Each disputing role may dispute whatever its row scope shows it (and more, from the
    history-reading relations): `customer, dispute` lines include every `customer, read` one."""
    enforcer = load_enforcer()
    for role in (Role.REP, Role.MANAGER):
        table = permissions_for(enforcer, role)
        assert table[(R, "read")] <= table[(R, "dispute")]


def test_history_relations_stay_out_of_the_row_mask() -> None:
    """Scope-only relations widen one action's scope; listing rows never pays for them."""
    from datetime import UTC, datetime

    from authz.relations import SCOPE_ONLY

    principal = Principal(Role.REP, "r", user_id=5, team_id=2)
    plan = Plan.build(load_enforcer(), principal, TEAMS, now=datetime(2026, 6, 1, tzinfo=UTC))
    mask = str(plan.relation_mask().compile())
    scope = str(plan.customer_scope("dispute").compile())
    assert "audit_entry" not in mask and "ownership_event" not in mask
    assert "audit_entry" in scope and "ownership_event" in scope
    assert SCOPE_ONLY == {"duplicate_notice", "former_owner"}
    # Without a time the history relations never hold.
    timeless = Plan.build(load_enforcer(), principal, TEAMS)
    assert "audit_entry" not in str(timeless.customer_scope("dispute").compile())


def test_forbidden_messages_read_as_english() -> None:
    plan = Plan.build(load_enforcer(), Principal(Role.REP, "r", user_id=5), TEAMS)
    with pytest.raises(Forbidden, match=r"^You may not read ownership statistics\.$"):
        plan.require("stats", "read")
    with pytest.raises(Forbidden, match=r"^You may not manage rules\.$"):
        plan.require("rule", "manage")
