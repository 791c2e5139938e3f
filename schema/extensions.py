"""Schema extensions: defenses, error formatting, masked-field report, read auditing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from kernel.settings import Settings
from resolvers.context import Context
from schema.cost import cost_rule
from schema.errors import format_error
from schema.ratelimit import charge_cost


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
    """Under an audited relation (AUDITOR), every sensitive read is written down.
    Subscriptions write theirs per delivered payload (subscriptions/resolvers.py)."""

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        ctx = self.execution_context.context
        if isinstance(ctx, Context):
            await ctx.flush_audits(self.execution_context.operation_name)


class CloseSession(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        yield
        ctx = self.execution_context.context
        if isinstance(ctx, Context):
            await ctx.close()


def extensions_for(
    settings: Settings,
) -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    # One rule class for the app's life, so validation results stay cacheable.
    cost = cost_rule(budget=settings.max_cost, page_cap=settings.max_page_size)
    # Factories, so each request gets fresh extension instances.
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        lambda: QueryDepthLimiter(max_depth=settings.max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        lambda: AddValidationRules([cost]),
        charge_cost(page_cap=settings.max_page_size),
        FormatErrors,
        ReportMaskedFields,
        AuditSensitiveReads,
        CloseSession,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return extensions
