"""Schema extensions: defenses, error formatting, masked-field report, read auditing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from db.models import AuditEntry
from ownergraph.settings import Settings
from resolvers.context import Context
from schema.errors import format_error


class FormatErrors(MaskErrors):
    """Every error passes through schema.errors.format_error (codes, no internals)."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return format_error(error)


class ReportMaskedFields(SchemaExtension):
    """Masked fields come back null; `extensions.maskedFields` says which and where."""

    def get_results(self) -> dict[str, Any]:
        ctx = self.execution_context.context
        if isinstance(ctx, Context) and ctx.masked:
            return {"maskedFields": list(ctx.masked)}
        return {}


class AuditSensitiveReads(SchemaExtension):
    """Under an audited relation (AUDITOR), every sensitive read is written down."""

    async def on_execute(self) -> AsyncIterator[None]:  # type: ignore[override]
        yield
        ctx = self.execution_context.context
        if not isinstance(ctx, Context) or not ctx.audited or ctx.principal is None:
            return
        customer_ids, ctx.audited = sorted(ctx.audited), set()
        async with ctx.services.db.write() as session, session.begin():
            session.add_all(
                AuditEntry(
                    at=ctx.now(),
                    actor_id=ctx.principal.user_id,
                    partner_id=ctx.principal.partner_id,
                    action="customer.read_sensitive",
                    customer_id=customer_id,
                    detail={"operation": self.execution_context.operation_name},
                )
                for customer_id in customer_ids
            )


class CloseSession(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        yield
        ctx = self.execution_context.context
        if isinstance(ctx, Context):
            await ctx.close()


def extensions_for(
    settings: Settings,
) -> list[Callable[[], SchemaExtension] | SchemaExtension | type]:
    # Factories, so each request gets fresh extension instances.
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        lambda: QueryDepthLimiter(max_depth=settings.max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        FormatErrors,
        ReportMaskedFields,
        AuditSensitiveReads,
        CloseSession,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return extensions
