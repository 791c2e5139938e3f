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

A subscription event is executed once for every subscriber who sees it the same way: the
same payload (an object with a `share_key()`), the same plan (authz: rows, masks,
relations, the caller's own id), the same language and the same document with the same
variables below the subscription field. A thousand dashboards following the same feed
cost one execution per (event, plan, document), not a thousand; each subscriber still
gets its own `maskedFields` and its own audit entries. A result with errors is never
shared (each subscriber then runs its own), nor one older than `SHARE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    VariableNode,
)
from graphql.execution.executor import Path
from graphql.pyutils import Undefined
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

from kernel.messages import current_locale
from resolvers.context import Context
from subscriptions.feed import plan_key

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


# How long an event's result is shared, and how many results a process keeps.
SHARE_SECONDS = 2.0
SHARE_ENTRIES = 4096

Outcome = tuple[ExecutionResult, tuple[str, ...], frozenset[int]] | None


@dataclass(eq=False)
class Shared:
    """One event's execution for one (plan, language, document): its result with the
    masked paths and audited customers it produced, or None when it is not shareable."""

    at: float
    done: asyncio.Future[Outcome]


class SharedResults:
    """Per app (Services.shared_results): event ids are a database's, not global."""

    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, Shared] = OrderedDict()

    def get(self, key: Hashable, now: float) -> Shared | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry.at > SHARE_SECONDS:
            del self._entries[key]
            return None
        return entry

    def start(self, key: Hashable, now: float) -> Shared:
        entry = self._entries[key] = Shared(now, asyncio.get_running_loop().create_future())
        while len(self._entries) > SHARE_ENTRIES:
            self._entries.popitem(last=False)
        return entry

    def forget(self, key: Hashable, entry: Shared) -> None:
        if self._entries.get(key) is entry:
            del self._entries[key]


def _variables_in(node: Any, found: set[str]) -> None:
    """Every variable a node uses (a plain walk: graphql-core's visitors are cycles)."""
    if isinstance(node, VariableNode):
        found.add(node.name.value)
        return
    if isinstance(node, tuple | list):
        for item in node:
            _variables_in(item, found)
        return
    for key in getattr(node, "keys", ()):
        if key != "loc":
            _variables_in(getattr(node, key, None), found)


def _event_variables(executor: Any) -> tuple[str, ...]:
    """The variables a document uses below its subscription field (its own arguments,
    such as `since`, pick the stream, not what an event looks like)."""
    found: set[str] = set()
    for selection in executor.operation.selection_set.selections:
        if isinstance(selection, FieldNode):
            _variables_in((selection.directives, selection.selection_set), found)
        else:
            _variables_in(selection, found)
    for fragment in executor.fragments.values():
        _variables_in(fragment.selection_set, found)
    return tuple(sorted(found))


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    # Set on a subscription event's executor whose result may be shared.
    _share: Hashable | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _weak_helpers(self)

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        executor.async_helpers = _weak_helpers(executor)
        executor._share = self._share_key(payload)  # type: ignore[attr-defined]
        return executor

    def _share_key(self, payload: Any) -> Hashable | None:
        share = getattr(payload, "share_key", None)
        ctx = self.context_value
        if share is None or not isinstance(ctx, Context) or ctx._plan is None:
            return None
        shared = share()
        if shared is None:
            return None
        document = self.__dict__.get("_document")
        if document is None:
            loc = self.operation.loc
            body = loc.source.body if loc is not None else None
            if body is None:
                return None
            document = self._document = (body, self.operation.name, _event_variables(self))
        body, name, variables = document
        coerced = self.variable_values.coerced
        values = tuple(repr(coerced.get(v)) for v in variables)
        return (shared, plan_key(ctx.plan), current_locale.get(), body, name, values)

    def execute_operation(self, serially: bool | None = None) -> Any:
        if self._share is None:
            return super().execute_operation(serially)
        return self._shared(self._share, serially)

    async def _shared(self, key: Hashable, serially: bool | None) -> Any:
        ctx: Context = self.context_value
        results = ctx.services.shared_results
        if results is None:
            results = ctx.services.shared_results = SharedResults()
        now = time.monotonic()
        entry = results.get(key, now)
        if entry is not None:
            outcome = await asyncio.shield(entry.done)
            if outcome is not None:
                result, masked, audited = outcome
                ctx.masked.extend(masked)
                ctx.audited |= audited
                return result
        entry = results.start(key, now)
        outcome = None
        try:
            result = super().execute_operation(serially)
            if self.is_awaitable(result):
                result = await result
            if isinstance(result, ExecutionResult) and not result.errors:
                outcome = (result, tuple(ctx.masked), frozenset(ctx.audited))
            return result
        finally:
            entry.done.set_result(outcome)
            if outcome is None:
                results.forget(key, entry)

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
