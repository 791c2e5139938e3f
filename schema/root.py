"""The assembled schema."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from kernel.settings import Settings, get_settings
from schema.audit import AuditQuery
from schema.datetimes import SCALAR_OVERRIDES
from schema.descriptions import describe
from schema.dispute_mutations import DisputeMutation
from schema.execution import ExecutionContext
from schema.export import ExportMutation, ExportQuery
from schema.extensions import extensions_for
from schema.live_frames import current_sink, current_stream
from schema.mutation import CustomerMutation
from schema.node_query import NodeQuery
from schema.organisation import OrganisationMutation
from schema.pool import PoolMutation, RulesQuery
from schema.pools import PoolQuery, PoolsMutation
from schema.query import CustomerQuery
from schema.subscription import Subscription
from schema.token import TokenQuery
from schema.transfer_mutations import TransferMutation

# One class per group of use cases, each in its own module.
Query = merge_types(
    "Query",
    (CustomerQuery, NodeQuery, RulesQuery, AuditQuery, TokenQuery, ExportQuery, PoolQuery),
)
Mutation = merge_types(
    "Mutation",
    (
        CustomerMutation,
        DisputeMutation,
        TransferMutation,
        PoolMutation,
        PoolsMutation,
        ExportMutation,
        OrganisationMutation,
    ),
)


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        """Expected errors are not news; schema/errors.py logs the unexpected ones."""

    async def _prepare_operation_async(self, context: Any, extensions_runner: Any) -> Any:
        # A streamed operation's context and extensions, for its direct live messages
        # (schema/live_frames.py). Each operation runs in its own task, so its own.
        if current_sink.get() is not None:
            current_stream.set((context, extensions_runner))
        return await super()._prepare_operation_async(context, extensions_runner)


def build_schema(
    settings: Settings,
    extra_extensions: Sequence[Callable[[], SchemaExtension]] = (),
    outer_extensions: Sequence[Callable[[], SchemaExtension]] = (),
) -> strawberry.Schema:
    """The composition root's own extensions: `extra_extensions` (metrics) after the
    schema's, `outer_extensions` (tracing) before, so they see every step whole."""
    built = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[*outer_extensions, *extensions_for(settings), *extra_extensions],
        # Plain leaves are read inline (schema/execution.py).
        execution_context_class=ExecutionContext,
        scalar_overrides=SCALAR_OVERRIDES,  # type: ignore[arg-type]
        # Suggestions would let a caller map the schema with introspection turned off.
        config=StrawberryConfig(disable_field_suggestions=not settings.introspection_enabled),
    )
    describe(built._schema, settings.max_page_size)
    return built


schema = build_schema(get_settings())
