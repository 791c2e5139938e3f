"""Which fields of a row the caller may read, as plain data from the plan.

Each guarded field names the policy object that guards it; whether the caller may read it
depends only on the row's relation bits (see authz.plan.relation_mask), so the set of
hidden fields is worked out once per distinct bitmask and then looked up per row: O(1).
The same table serves HTTP, subscriptions and exports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from authz.plan import Plan

SENSITIVE = "customer.sensitive"
# People behind a customer: every internal role, never a partner.
STAFF = "customer.staff"
# Follow-up notes: a token needs the `followup:read` scope.
FOLLOW_UPS = "followup"

# Python attribute -> policy object, per kind of row.
GUARDED: dict[str, dict[str, str]] = {
    "customer": {
        "tax_id": SENSITIVE,
        "deal_value": SENSITIVE,
        "owner": STAFF,
        "created_by": STAFF,
        "team": STAFF,
        "collaborators": STAFF,
        # Disputes are between staff, and name them (a claimant is never null).
        "open_disputes": STAFF,
        "latest_follow_up": FOLLOW_UPS,
        "follow_ups": FOLLOW_UPS,
    },
    "contact": {"phone": SENSITIVE, "email": SENSITIVE},
    "event": {"from_owner": STAFF, "to_owner": STAFF, "actor": STAFF},
}
NO_FIELDS: frozenset[str] = frozenset()
# The relation bits of a minimal view: a customer the caller may not see but is entitled
# to hear of (an event that moved it away from them, a dispute they were a party to). Its
# id, name and the values its non-null fields must have; everything else withheld.
MINIMAL = -1
WITHHELD: dict[str, frozenset[str]] = {
    "customer": frozenset(GUARDED["customer"])
    | {"industry", "region", "size", "source", "tags", "contacts", "last_follow_up_at"}
    | {"next_follow_up_due", "ownership_history"}
    | {"pool", "locked_until", "protected_until", "recycle_due_at"},
    "contact": frozenset(GUARDED["contact"]),
    "event": frozenset(GUARDED["event"]),
}


@dataclass(eq=False)
class FieldMasks:
    """The request's answers, memoised by (kind, relation bits)."""

    plan: Plan
    _hidden: dict[tuple[str, int], frozenset[str]] = field(default_factory=dict)
    _audited: dict[int, bool] = field(default_factory=dict)

    def hidden(self, kind: str, relations: int) -> frozenset[str]:
        """Attributes of a `kind` row the caller may not read."""
        key = (kind, relations)
        found = self._hidden.get(key)
        if found is None and relations == MINIMAL:
            found = self._hidden[key] = WITHHELD[kind]
        if found is None:
            allows = self.plan.allows
            found = (
                frozenset(
                    name
                    for name, obj in GUARDED[kind].items()
                    if not allows(obj, "read", relations)
                )
                or NO_FIELDS
            )
            self._hidden[key] = found
        return found

    def audited(self, relations: int) -> bool:
        """Is a sensitive read of such a row written down (AUDITOR)?"""
        found = self._audited.get(relations)
        if found is None and relations == MINIMAL:
            found = self._audited[relations] = False  # shows nothing sensitive
        if found is None:
            found = self._audited[relations] = self.plan.allows(SENSITIVE, "audit", relations)
        return found
