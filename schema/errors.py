"""The one place that turns exceptions into GraphQL errors.

Domain errors keep their message, in the caller's language (kernel/messages.py), and
carry `extensions.code`; anything unexpected is logged server-side and reaches the client
as INTERNAL with a plain sentence, never a trace or SQL.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError

from kernel.errors import DomainError
from kernel.messages import N_, render

log = logging.getLogger("ownergraph")

INTERNAL_MESSAGE = N_("Something went wrong on our side. It has been logged; please try again.")


class FormattedError(GraphQLError):
    """An error format_error made: formatting it again changes nothing."""


def format_error(error: GraphQLError) -> GraphQLError:
    if isinstance(error, FormattedError):
        return error
    original = error.original_error
    if isinstance(original, DomainError):
        extensions = {"code": original.code, **original.extensions}
        return _with(error, render(original.message, original.code), extensions)
    if original is None:
        # Syntax and validation errors from graphql-core: the client's query is wrong.
        code = _code_for(error)
        return _with(error, render(error.message, code), {**(error.extensions or {}), "code": code})
    if isinstance(original, GraphQLError) or (
        error.path is None and isinstance(original, ValueError | TypeError)
    ):
        # graphql-core refusing a value the client sent ("x" for Int!, null for a non-null
        # argument), wrapped once more on its way out; the message is about that value.
        return _with(error, render(error.message, "VALIDATION"), {"code": "VALIDATION"})
    log.error("unexpected error at %s", error.path, exc_info=original)
    return _with(error, render(INTERNAL_MESSAGE, "INTERNAL"), {"code": "INTERNAL"})


_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)


def error_body(message: str, code: str) -> dict[str, Any]:
    """The body of an answer refused before GraphQL ran (a malformed request, a download)."""
    return {"errors": [{"message": render(message, code), "extensions": {"code": code}}]}


def without_suggestions(error: GraphQLError) -> GraphQLError:
    """graphql-core's "Did you mean 'name'?" maps a schema whose introspection is off."""
    error.message = _SUGGESTION.sub("", error.message)
    return error


def code_of(error: GraphQLError) -> str:
    """The `extensions.code` format_error gives `error` (without logging anything)."""
    original = error.original_error
    if isinstance(original, DomainError):
        return original.code
    return _code_for(error) if original is None else "INTERNAL"


def _with(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return FormattedError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


# graphql-core and strawberry's limiters report these as plain validation errors.
_TOO_COMPLEX = (
    "exceeds maximum operation depth",
    "aliases found. Allowed",
    "Document contains more than",
)


def _code_for(error: GraphQLError) -> str:
    # The token limit speaks through the parser: checked before the syntax error class.
    if any(marker in error.message for marker in _TOO_COMPLEX):
        return "QUERY_TOO_COMPLEX"
    if isinstance(error, GraphQLSyntaxError):
        return "GRAPHQL_PARSE_FAILED"
    return (error.extensions or {}).get("code") or "GRAPHQL_VALIDATION_FAILED"
