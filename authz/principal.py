"""Who is calling."""

from __future__ import annotations

from dataclasses import dataclass, field

from db.enums import Role
from db.models import User


@dataclass(frozen=True)
class Principal:
    role: Role
    name: str
    user_id: int | None = None
    partner_id: int | None = None
    team_id: int | None = None
    token_id: int | None = None
    # "*" grants everything the role may do; otherwise "object:action" or "object:*".
    scopes: frozenset[str] = field(default_factory=lambda: frozenset({"*"}))

    @classmethod
    def of_user(
        cls, user: User, *, token_id: int | None = None, scopes: frozenset[str] | None = None
    ) -> Principal:
        return cls(
            role=Role(user.role),
            name=user.name,
            user_id=user.id,
            team_id=user.team_id,
            token_id=token_id,
            scopes=scopes if scopes is not None else frozenset({"*"}),
        )

    @property
    def is_partner(self) -> bool:
        return self.partner_id is not None

    def scope_allows(self, obj: str, act: str) -> bool:
        base = obj.split(".", 1)[0]
        return bool({"*", f"{base}:*", f"{base}:{act}"} & self.scopes)
