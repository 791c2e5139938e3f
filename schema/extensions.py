"""Schema extensions: defenses, error formatting, masked-field report, read auditing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    specified_rules,
)
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaskErrors, MaxTokensLimiter, ParserCache, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.schema import validate_document

from kernel.settings import Settings
from resolvers.context import Context
from schema.cost import cost_rule
from schema.errors import format_error, without_suggestions
from schema.limits import expanded_size, too_large, value_rule, variable_errors
from schema.ratelimit import charge_cost


class FormatErrors(MaskErrors):
    """Every error passes through schema.errors.format_error (codes, no internals)."""

    def __init__(self, hide_suggestions: bool = False) -> None:
        super().__init__()
        self.hide_suggestions = hide_suggestions

    def _process_result(self, result: object) -> None:
        # Without strawberry's runtime Protocol check: a live result with no errors (the
        # usual one) costs an attribute read, not a walk of the Protocol's members.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        formatted = format_error(error)
        return without_suggestions(formatted) if self.hide_suggestions else formatted


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
    Subscriptions write theirs per delivered payload (resolvers/live.py)."""

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


_SPECIFIED = frozenset(specified_rules)


class Validator:
    """Validation for one schema, its rules built once: the expansion check first (linear
    in the document, so a fragment bomb never reaches the rules that walk the expanded
    tree), then graphql-core's rules and ours, cached per document. Called per request, it
    makes the extension that runs it; `runs` and `visited` count the work actually done."""

    def __init__(self, settings: Settings, maxsize: int = 256) -> None:
        self.max_selections = settings.max_selections
        self.max_string = settings.max_string_length
        self.max_list = settings.max_list_length
        ours: list[type[ASTValidationRule]] = [
            depth_rule(settings.max_depth, None),
            aliases_rule(settings.max_aliases),
            cost_rule(budget=settings.max_cost, page_cap=settings.max_page_size, caps=settings),
            value_rule(max_string=self.max_string, max_list=self.max_list),
        ]
        if not settings.introspection_enabled:
            ours.append(NoSchemaIntrospectionCustomRule)
        self.rules = (*specified_rules, *ours)
        self.runs = 0
        self.visited = 0
        self.errors_for = lru_cache(maxsize=maxsize)(self._errors_for)

    def _errors_for(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        extra: tuple[type[ASTValidationRule], ...] = (),
    ) -> tuple[GraphQLError, ...]:
        expansion = expanded_size(document)
        self.visited += expansion.visited
        if expansion.size > self.max_selections:
            return (too_large(expansion, self.max_selections),)
        self.runs += 1
        return tuple(validate_document(schema, document, (*self.rules, *extra)))

    def __call__(self) -> SchemaExtension:
        return Validate(self)


class Validate(SchemaExtension):
    def __init__(self, validator: Validator) -> None:
        self.validator = validator

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        assert ec.graphql_document is not None
        # Rules other extensions added (AddValidationRules) run too, after ours.
        extra = tuple(r for r in ec.validation_rules if r not in _SPECIFIED)
        errors = list(self.validator.errors_for(ec.schema._schema, ec.graphql_document, extra))
        if not errors:
            errors = variable_errors(
                ec.variables, max_string=self.validator.max_string, max_list=self.validator.max_list
            )
        # Set, even empty: strawberry then skips its own (uncached) validation.
        ec.pre_execution_errors = errors
        yield


def extensions_for(
    settings: Settings,
) -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    # Factories, so each request gets fresh extension instances; the validator and its
    # rules live as long as the schema, so validation results stay cached.
    return [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: ParserCache(maxsize=256),
        Validator(settings),
        # After the validator, whose errors are in by then.
        RequireOperationName,
        lambda: FormatErrors(hide_suggestions=not settings.introspection_enabled),
        charge_cost(page_cap=settings.max_page_size),
        ReportMaskedFields,
        AuditSensitiveReads,
        CloseSession,
    ]
