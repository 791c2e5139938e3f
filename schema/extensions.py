"""Schema extensions: defenses, error formatting, masked-field report, read auditing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode
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


class FormatErrors(MaskErrors):
    """Every error passes through schema.errors.format_error (codes, no internals)."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return format_error(error)


class RequireOperationName(SchemaExtension):
    """A document with several operations must say which to run (the spec's request
    error); strawberry would otherwise run the first. Listed after ValidationCache, whose
    errors are in by then; strawberry reads them before this hook's exit would run."""

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        document = ec.graphql_document
        if document is not None and ec._provided_operation_name is None:
            operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
            if operations > 1:
                error = GraphQLError(
                    f"The document has {operations} operations: "
                    "name the one to run in `operationName`.",
                    extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
                )
                ec.pre_execution_errors = [*(ec.pre_execution_errors or []), error]
        yield


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
        RequireOperationName,
        FormatErrors,
        ReportMaskedFields,
        AuditSensitiveReads,
        CloseSession,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return extensions
