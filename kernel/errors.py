"""Expected domain errors. Every layer raises these; `schema/errors.py` alone formats them.

Each carries a stable `code` that clients read from `extensions.code`.
"""

from __future__ import annotations

from typing import Any

from kernel.messages import N_, Message


class DomainError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class NotFound(DomainError):
    code = "NOT_FOUND"

    def __init__(self, what: str = "customer", ident: object | None = None) -> None:
        thing = THINGS.get(what, what)
        if ident is None:
            super().__init__(N_("No {what} exists.", what=thing))
        else:
            super().__init__(N_("No {what} {ident} exists.", what=thing, ident=ident))


# What a NOT_FOUND names, so that its message reads in the caller's language.
THINGS: dict[str, Message] = {
    "customer": N_("customer"),
    "user": N_("user"),
    "user with email": N_("user with email"),
    "team": N_("team"),
    "partner": N_("partner"),
    "token": N_("token"),
    "reminder": N_("reminder"),
    "collaborator": N_("collaborator"),
    "dispute": N_("dispute"),
    "transfer": N_("transfer"),
    "transfer request": N_("transfer request"),
    "export": N_("export"),
    "export request": N_("export request"),
    "follow-up": N_("follow-up"),
    "event": N_("event"),
    "pool": N_("pool"),
}


class Validation(DomainError):
    code = "VALIDATION"


class DuplicateCustomer(DomainError):
    code = "DUPLICATE_CUSTOMER"


class ClaimLimitReached(DomainError):
    code = "CLAIM_LIMIT_REACHED"


class CooldownActive(DomainError):
    code = "COOLDOWN_ACTIVE"


class VersionConflict(DomainError):
    code = "VERSION_CONFLICT"


class Conflict(DomainError):
    """The state changed under the caller (claimed already, transfer pending, ...)."""

    code = "CONFLICT"


class ExportNotReady(DomainError):
    """An export used before it may be (still waiting for approval). GET /exports/{id}.csv
    does not raise it: there a pending export answers 404 like a missing one."""

    code = "EXPORT_NOT_READY"


class RateLimited(DomainError):
    code = "RATE_LIMITED"


class QueryTooComplex(DomainError):
    code = "QUERY_TOO_COMPLEX"


class PoolEmbargo(DomainError):
    """A customer new to its pool may be claimed only by the pool's admins for a while
    (`extensions.until`)."""

    code = "POOL_EMBARGO"


class LockLimitReached(DomainError):
    code = "LOCK_LIMIT_REACHED"


class CustomerLocked(DomainError):
    """The owner locked the customer: it stays where it is until unlocked."""

    code = "CUSTOMER_LOCKED"


class BadRequest(DomainError):
    """The request itself is malformed (HTTP 400), before any GraphQL document is read."""

    code = "BAD_REQUEST"


class PersistedQueryNotFound(DomainError):
    """A hash the server does not know: send it again with the query to register it.
    The message is the one Apollo's clients (web, iOS, Kotlin) look for."""

    code = "PERSISTED_QUERY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class PersistedQueryNotInList(DomainError):
    """Under OWNERGRAPH_PERSISTED_ONLY, an operation that is not on the allow-list."""

    code = "PERSISTED_QUERY_NOT_IN_LIST"
