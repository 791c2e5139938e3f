"""Execution with plain leaves read inline.

Most fields of a page are plain attributes of scalar or enum type (schema/plain.py). For
those, graphql-core would still build a resolve info and a path, call strawberry's
default resolver and complete the value through the general machinery: ~4 µs a field, 600
fields a dashboard page. Here a leaf whose strawberry field is a basic field (no resolver,
no extension, no permission) is read with `getattr` and serialized on the spot; anything
else, and any value that would be an error (null for a non-null field, a value the scalar
refuses), takes graphql-core's own path, so answers and errors are exactly its own.

graphql-core's executor keeps its own bound methods (`async_helpers`), so every executor
is a reference cycle that only the collector frees; and a subscription's per-event
copies share one memo of collected subfields, which grows with every event. Here the
helpers hold the executor weakly and each event gets its own memo, so an executor and
what it collected go when the last reference does.
"""

from __future__ import annotations

import weakref
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)
from graphql.execution.executor import Path
from graphql.pyutils import Undefined
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

Leaf = tuple[str, Any, bool]  # python attribute, serialize, nullable
_leaves: dict[GraphQLObjectType, dict[str, Leaf]] = {}


def _leaf(field: GraphQLField) -> Leaf | None:
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None or not getattr(definition, "is_basic_field", False):
        return None
    if not getattr(field.resolve, "_is_default", False):
        return None
    nullable = not isinstance(field.type, GraphQLNonNull)
    inner = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not isinstance(inner, GraphQLScalarType | GraphQLEnumType):
        return None
    return definition.python_name, inner.serialize, nullable


def leaves(parent_type: GraphQLObjectType) -> dict[str, Leaf]:
    found = _leaves.get(parent_type)
    if found is None:
        found = {}
        for name, field in parent_type.fields.items():
            leaf = _leaf(field)
            if leaf is not None:
                found[name] = leaf
        _leaves[parent_type] = found
    return found


def _weak_helpers(executor: Any) -> GraphQLResolveInfoHelpers:
    ref = weakref.ref(executor)

    def gather(values: Any) -> Any:
        return ref().gather_async_work(values)  # type: ignore[union-attr]

    def track(values: Any) -> None:
        ref().track_async_work(values)  # type: ignore[union-attr]

    return GraphQLResolveInfoHelpers(gather=gather, track=track)


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _weak_helpers(self)

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        executor.async_helpers = _weak_helpers(executor)
        return executor

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        *args: Any,
    ) -> Any:
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            # An extension wraps every resolver: let it see every field.
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, *args)
        plain = leaves(parent_type)
        if not plain:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, *args)
        inline: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for response_name, details in grouped_field_set.items():
            leaf = plain.get(details[0].node.name.value)
            if leaf is not None:
                value = getattr(source_value, leaf[0], Undefined)
                if value is None and leaf[2]:
                    inline[response_name] = None
                    continue
                if value is not None and value is not Undefined:
                    try:
                        serialized = leaf[1](value)
                    except Exception:
                        serialized = None
                    if serialized is not None and serialized is not Undefined:
                        inline[response_name] = serialized
                        continue
            rest[response_name] = details
        if not rest:
            return self._in_order(grouped_field_set, inline, {})
        others = super().execute_fields(parent_type, source_value, path, rest, *args)
        if self.is_awaitable(others):

            async def merged() -> dict[str, Any]:
                return self._in_order(grouped_field_set, inline, await others)

            return merged()
        return self._in_order(grouped_field_set, inline, others)  # type: ignore[arg-type]

    @staticmethod
    def _in_order(
        grouped_field_set: Any, inline: dict[str, Any], others: dict[str, Any]
    ) -> dict[str, Any]:
        """The response keeps the order of the selection."""
        if not others:
            return inline
        return {
            k: inline[k] if k in inline else others[k]
            for k in grouped_field_set
            if k in inline or k in others
        }
