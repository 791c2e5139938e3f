"""The per-request authorization plan.

Built once per request from the caller's role lines in policy.csv (and narrowed by the
token's scopes). It answers three questions without calling Casbin again:

- which customer rows may this caller see (or act on)? `customer_scope(act)`, a SQL
  condition that list queries put in their WHERE, so counts and pages stay right;
- how does the caller relate to a row? `relation_mask()`, a SQL column selected with each
  customer: one bit per relation (owner, team, pool, ...);
- may the caller read this field / do this to that row? `allows(obj, act, mask)`, a
  bitwise AND against the precomputed table: O(1) per row.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from typing import Any, TypeVar

import casbin
from sqlalchemy import ColumnElement, and_, case, false, literal, or_
from sqlmodel import col

from authz.enforcer import permissions_for
from authz.principal import Principal
from authz.relations import BIT, SCOPE_ONLY, SQL, Facts, Windows
from db.models import Customer, Team, User
from kernel.errors import Forbidden
from kernel.messages import N_, Message

T = TypeVar("T")
ANY = BIT["any"]
# Statements kept per plan (a filter's values are part of the key): enough for a
# dashboard's few queries, bounded for a socket that lives for hours.
STATEMENTS_KEPT = 64
OVERSEERS = frozenset({"MANAGER", "DIRECTOR"})
LIVE = col(Customer.merged_into_id).is_(None)
# How a refusal reads, "You may not <phrase>.", where "<act> <obj>s" would read wrong.
PHRASES = {
    ("stats", "read"): N_("read ownership statistics"),
    ("audit", "read"): N_("read the audit log"),
    ("user", "hand_over"): N_("hand over portfolios"),
    ("customer", "collaborate"): N_("change collaborators"),
    ("customer", "follow_up"): N_("log follow-ups"),
}


def refusal(obj: str, act: str) -> Message:
    base = obj.split(".")[0]
    if phrase := PHRASES.get((base, act)):
        return N_("You may not {phrase}.", phrase=phrase)
    return N_("You may not {act} {obj}s.", act=act.replace("_", " "), obj=base)


@dataclass(frozen=True)
class Plan:
    principal: Principal
    facts: Facts
    # (object, action) -> bitmask of the relations under which it is allowed.
    table: dict[tuple[str, str], int]
    # The SQL below, built once per plan (a plan outlives a request while its token's
    # lookup is cached; building these expressions costs more than running them).
    _sql: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    _statements: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        enforcer: casbin.Enforcer,
        principal: Principal,
        teams: list[Team],
        *,
        now: datetime | None = None,
        windows: Windows | None = None,
    ) -> Plan:
        table: dict[tuple[str, str], int] = {}
        for (obj, act), rels in permissions_for(enforcer, principal.role).items():
            if principal.scope_allows(obj, act):
                table[(obj, act)] = reduce(lambda m, r: m | BIT[r], rels, 0)
        managed = {t.id for t in teams if principal.user_id and t.manager_id == principal.user_id}
        own = {principal.team_id} if principal.team_id else set()
        team_ids = frozenset(i for i in managed | own if i is not None)
        prefixes = [t.path for t in teams if t.id in team_ids]
        subtree = frozenset(
            t.id for t in teams if t.id is not None and any(t.path.startswith(p) for p in prefixes)
        )
        ancestors = frozenset(
            int(part)
            for t in teams
            if t.id in team_ids
            for part in t.path.strip("/").split("/")
            if part.isdigit()
        )
        facts = Facts(
            principal.user_id,
            principal.partner_id,
            team_ids,
            subtree,
            now,
            windows or Windows(),
            # Managers and directors also belong to the pools of the teams below them.
            pool_team_ids=ancestors
            | team_ids
            | (subtree if principal.role in OVERSEERS else set()),
        )
        return cls(principal, facts, table)

    # Questions without a row.

    def may(self, obj: str, act: str) -> bool:
        """Under some relation at least."""
        return self.table.get((obj, act), 0) != 0

    def require(self, obj: str, act: str) -> None:
        if not self.may(obj, act):
            raise Forbidden(refusal(obj, act))

    # Customer rows, as SQL.

    def customer_scope(self, act: str = "read", obj: str = "customer") -> ColumnElement[bool]:
        found = self._sql.get((obj, act))
        if found is None:
            found = self._sql[(obj, act)] = self._customer_scope(act, obj)
        return found

    def _customer_scope(self, act: str, obj: str) -> ColumnElement[bool]:
        # A customer merged into another is in no one's scope (its id answers with the
        # kept one: resolvers/loaders.py); each branch says so, so that counts can still
        # answer branch by branch (db/customers.count_customers).
        mask = self.table.get((obj, act), 0)
        if mask & ANY:
            return LIVE
        conds = [and_(LIVE, SQL[r](self.facts)) for r, bit in BIT.items() if mask & bit]
        return or_(*conds) if conds else false()

    def memo(self, key: Hashable | None, build: Callable[[], T]) -> T:
        """A statement built from this plan's SQL, kept while the plan is (a None key:
        built each time). Executing the same statement object again reuses its
        SQLAlchemy cache key; a new one is walked whole, which for a REP's scope of a
        dozen subqueries costs more than the rest of the statement's execution in Python."""
        if key is None:
            return build()
        found = self._statements.get(key)
        if found is None:
            if len(self._statements) >= STATEMENTS_KEPT:
                self._statements.clear()
            found = self._statements[key] = build()
        return found

    def relation_mask(self) -> ColumnElement[int]:
        """Bits of every relation this role's customer lines mention, as one SQL column;
        not the scope-only ones (history lookups no per-row check reads)."""
        found = self._sql.get("mask")
        if found is None:
            found = self._sql["mask"] = self._relation_mask()
        return found

    def _relation_mask(self) -> ColumnElement[int]:
        used = reduce(
            lambda m, k: m | self.table[k],
            (k for k in self.table if k[0].startswith("customer")),
            0,
        )
        terms = [
            case((SQL[r](self.facts), literal(bit)), else_=literal(0))
            for r, bit in BIT.items()
            if used & bit and bit != ANY and r not in SCOPE_ONLY
        ]
        expr: ColumnElement[int] = reduce(lambda a, b: a + b, terms) if terms else literal(0)
        return expr

    def allows(self, obj: str, act: str, mask: int) -> bool:
        """O(1): may the caller `act` on `obj` of a row whose relation bits are `mask`?"""
        allowed = self.table.get((obj, act), 0)
        return bool(allowed & ANY or allowed & mask)

    # Users (portfolios, tokens): one row at a time, known in Python.

    def allows_user(self, obj: str, act: str, user: User) -> bool:
        allowed = self.table.get((obj, act), 0)
        if allowed & ANY:
            return True
        if allowed & BIT["self"] and user.id == self.principal.user_id:
            return True
        if allowed & BIT["team"] and user.team_id in self.facts.team_ids:
            return True
        return bool(allowed & BIT["subtree"] and user.team_id in self.facts.subtree_ids)

    def team_ids_for(self, obj: str, act: str) -> frozenset[int] | None:
        """Teams the caller may `act` on; None means every team."""
        allowed = self.table.get((obj, act), 0)
        if allowed & ANY:
            return None
        ids: set[int] = set()
        if allowed & BIT["team"]:
            ids |= self.facts.team_ids
        if allowed & BIT["subtree"]:
            ids |= self.facts.subtree_ids
        return frozenset(ids)
