"""Execution with plain fields read inline.

Most fields of a page are plain attributes (schema/plain.py): scalars and enums, and the
objects and lists a page resolver built in bulk (schema/customer_page.py), such as edges,
nodes, owners, teams and collaborators. For those, graphql-core would still build a
resolve info and a path, call strawberry's default resolver and complete the value
through the general machinery: ~4 µs a field, ~900 fields a dashboard page. Here a field
whose strawberry field is a basic field (no resolver, no extension, no permission, no
arguments) is read with `getattr`; a leaf is serialized on the spot, an object's or a
list's items go straight to their own selections, with graphql-core's own error handling
(`handle_field_error`) at the same paths. Anything else, and any value that would be an
error (null for a non-null field, a value the scalar refuses, an object of the wrong
type), takes graphql-core's own path, so answers and errors are exactly its own.

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
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    VariableNode,
)
from graphql.execution.executor import Path
from graphql.pyutils import Undefined, gather_with_cancel
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE

from kernel.messages import current_locale
from resolvers.context import Context
from subscriptions.feed import plan_key


@dataclass(frozen=True, slots=True)
class Plain:
    """A field read straight off its object: a strawberry basic field (no resolver, no
    extension, no permission, no arguments) of a leaf, object or list type."""

    attr: str  # the Python attribute
    type: Any  # the field's GraphQL type, NonNull included
    nullable: bool
    serialize: Any = None  # a leaf (or a list of leaves): its serializer
    object_type: GraphQLObjectType | None = None  # an object, or a list of objects
    is_list: bool = False
    item_type: Any = None  # a list's item type, NonNull included
    item_nullable: bool = True


def _unwrap(type_: Any) -> tuple[Any, bool]:
    if isinstance(type_, GraphQLNonNull):
        return type_.of_type, False
    return type_, True


def _plain(field: GraphQLField) -> Plain | None:
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None or not getattr(definition, "is_basic_field", False):
        return None
    if not getattr(field.resolve, "_is_default", False) or field.args:
        return None
    inner, nullable = _unwrap(field.type)
    attr = definition.python_name
    if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
        return Plain(attr, field.type, nullable, serialize=inner.serialize)
    if isinstance(inner, GraphQLObjectType):
        return Plain(attr, field.type, nullable, object_type=inner)
    if isinstance(inner, GraphQLList):
        item, item_nullable = _unwrap(inner.of_type)
        common = {"is_list": True, "item_type": inner.of_type, "item_nullable": item_nullable}
        if isinstance(item, GraphQLScalarType | GraphQLEnumType):
            return Plain(attr, field.type, nullable, serialize=item.serialize, **common)
        if isinstance(item, GraphQLObjectType):
            return Plain(attr, field.type, nullable, object_type=item, **common)
    return None


_plain_fields: dict[GraphQLObjectType, dict[str, Plain]] = {}


def plain_fields(parent_type: GraphQLObjectType) -> dict[str, Plain]:
    found = _plain_fields.get(parent_type)
    if found is None:
        found = {}
        for name, field in parent_type.fields.items():
            plain = _plain(field)
            if plain is not None:
                found[name] = plain
        _plain_fields[parent_type] = found
    return found


_type_of: dict[tuple[GraphQLObjectType, type], bool] = {}


def _is_type_of(object_type: GraphQLObjectType, value: Any) -> bool:
    """`is_type_of` (strawberry's is an isinstance check), asked once per Python class
    unless the value was cast (`strawberry.cast`) to a type of its own."""
    check = object_type.is_type_of
    if check is None:
        return True
    if getattr(value, TYPE_CAST_ATTRIBUTE, None) is not None:
        return check(value, None) is True  # type: ignore[arg-type]
    key = (object_type, type(value))
    known = _type_of.get(key)
    if known is None:
        known = _type_of[key] = check(value, None) is True  # type: ignore[arg-type]
    return known


async def _all(awaitables: list[Any]) -> list[Any]:
    """As graphql-core does: one awaited directly, several concurrently."""
    if len(awaitables) == 1:
        return [await awaitables[0]]
    return await gather_with_cancel(*awaitables)


def _serialized(serialize: Any, value: Any) -> Any:
    """The leaf's output, or Undefined when graphql-core should say what is wrong."""
    if value is None or value is Undefined:
        return Undefined
    try:
        out = serialize(value)
    except Exception:
        return Undefined
    return Undefined if out is None else out


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
    data_json: str | None = None  # the result's data, serialized once (schema/live_frames)


class SharedResults:
    """Per app (Services.shared_results): event ids are a database's, not global."""

    @classmethod
    def of(cls, services: Any) -> SharedResults:
        """The app's, made on first use."""
        if services.shared_results is None:
            services.shared_results = cls()
        results: SharedResults = services.shared_results
        return results

    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, Shared] = OrderedDict()
        self._awaited: dict[Hashable, asyncio.Future[None]] = {}
        self.executed = 0  # events executed, and deliveries that reused one (for tests)
        self.reused = 0
        self.sent = 0  # deliveries written straight from a result (schema/live_frames)

    def get(self, key: Hashable, now: float) -> Shared | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry.at > SHARE_SECONDS:
            del self._entries[key]
            return None
        return entry

    def start(self, key: Hashable, now: float) -> Shared:
        entry = self._entries[key] = Shared(now, asyncio.get_running_loop().create_future())
        awaited = self._awaited.pop(key, None)
        if awaited is not None:

            def settle(_: Any) -> None:
                if not awaited.done():
                    awaited.set_result(None)

            entry.done.add_done_callback(settle)
        while len(self._entries) > SHARE_ENTRIES:
            self._entries.popitem(last=False)
        return entry

    def executed_future(self, key: Hashable) -> asyncio.Future[Any]:
        """Done once a result for `key` is known: at once when one is, else when the
        execution that starts next for it ends."""
        entry = self.get(key, time.monotonic())
        if entry is not None:
            return entry.done
        awaited = self._awaited.get(key)
        if awaited is None or awaited.done():
            if len(self._awaited) > SHARE_ENTRIES:  # keys no execution ever came for
                self._awaited.clear()
            awaited = self._awaited[key] = asyncio.get_running_loop().create_future()
        return awaited

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


def _event_variables(operation: Any, fragments: dict[str, Any]) -> tuple[str, ...]:
    """The variables a document uses below its subscription field (its own arguments,
    such as `since`, pick the stream, not what an event looks like)."""
    found: set[str] = set()
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode):
            _variables_in((selection.directives, selection.selection_set), found)
        else:
            _variables_in(selection, found)
    for fragment in fragments.values():
        _variables_in(fragment.selection_set, found)
    return tuple(sorted(found))


Document = tuple[str, str | None, tuple[str, ...]] | None


def document_key(operation: Any, fragments: dict[str, Any]) -> Document:
    """A subscription document as far as its events' shape goes: its text, operation
    name and the variables below the subscription field (None: no text to compare)."""
    loc = operation.loc
    body = loc.source.body if loc is not None else None
    if body is None:
        return None
    name = operation.name.value if operation.name is not None else None
    return (body, name, _event_variables(operation, fragments))


def event_shape(ctx: Any, document: Document, coerced: dict[str, Any]) -> tuple[Any, ...] | None:
    """What, besides the event, decides a delivery's result: the plan (who, with which
    rights), the language, the document and the values of its event variables. The same
    for the per-event executor here and for the feed's direct sends (schema/live_frames)."""
    if document is None or not isinstance(ctx, Context) or ctx._plan is None:
        return None
    body, name, variables = document
    values = tuple(repr(coerced.get(v)) for v in variables)
    return (plan_key(ctx.plan), current_locale.get(), body, name, values)


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    # Set on a subscription event's executor whose result may be shared.
    _share: Hashable | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _weak_helpers(self)

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        executor._share = share = self._share_key(payload)  # type: ignore[attr-defined]
        if share is None:  # else made when it runs (most deliveries reuse a result)
            executor.async_helpers = _weak_helpers(executor)
        return executor

    def _share_key(self, payload: Any) -> Hashable | None:
        share = getattr(payload, "share_key", None)
        if share is None:
            return None
        document = self.__dict__.get("_document")
        if document is None:
            document = self._document = document_key(self.operation, self.fragments)
        shape = event_shape(self.context_value, document, self.variable_values.coerced)
        shared = share()
        if shape is None or shared is None:
            return None
        return (shared, *shape)

    def execute_operation(self, serially: bool | None = None) -> Any:
        if self._share is None:
            return super().execute_operation(serially)
        return self._shared(self._share, serially)

    async def _shared(self, key: Hashable, serially: bool | None) -> Any:
        ctx: Context = self.context_value
        results = SharedResults.of(ctx.services)
        now = time.monotonic()
        entry = results.get(key, now)
        if entry is not None:
            outcome = await asyncio.shield(entry.done)
            if outcome is not None:
                reused, masked, audited = outcome
                ctx.masked.extend(masked)
                ctx.audited |= audited
                results.reused += 1
                return reused
        entry = results.start(key, now)
        results.executed += 1
        self.async_helpers = _weak_helpers(self)
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
        plain = plain_fields(parent_type)
        if not plain:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, *args)
        inline: dict[str, Any] = {}
        pending: list[str] = []
        rest: dict[str, Any] = {}
        for response_name, details in grouped_field_set.items():
            spec = plain.get(details[0].node.name.value)
            if spec is not None:
                value = getattr(source_value, spec.attr, Undefined)
                if value is None and spec.nullable:
                    inline[response_name] = None
                    continue
                if spec.object_type is None and not spec.is_list:
                    done = _serialized(spec.serialize, value)
                    if done is not Undefined:
                        inline[response_name] = done
                        continue
                else:
                    done = self._complete_plain(
                        spec, value, details, Path(path, response_name, parent_type.name)
                    )
                    if done is not Undefined:
                        inline[response_name] = done
                        if self.is_awaitable(done):
                            pending.append(response_name)
                        continue
            rest[response_name] = details
        try:
            others = (
                super().execute_fields(parent_type, source_value, path, rest, *args) if rest else {}
            )
        except Exception:
            self._settle([inline[name] for name in pending])
            raise
        if not pending and not self.is_awaitable(others):
            return self._in_order(grouped_field_set, inline, others)  # type: ignore[arg-type]

        async def merged() -> dict[str, Any]:
            # All at once, as graphql-core would: loaders batch across siblings.
            waiting = [inline[name] for name in pending]
            if self.is_awaitable(others):
                *values, rest_done = await _all([*waiting, others])
            else:
                values, rest_done = await _all(waiting), others
            inline.update(zip(pending, values, strict=True))
            return self._in_order(grouped_field_set, inline, rest_done)

        return merged()

    def _settle(self, values: list[Any]) -> None:
        """Awaitables made before a sibling failed: settled, never left unawaited."""
        waiting = [v for v in values if self.is_awaitable(v)]
        if waiting:
            self.settle_in_background(waiting)

    def _complete_plain(self, spec: Plain, value: Any, details: Any, path: Path) -> Any:
        """An object or list read off its parent, completed as graphql-core's
        complete_value would (the same errors, the same nulls), without a resolve info,
        a resolver call or a completion dispatch per value. Undefined: let graphql-core
        do it (a null where one may not be, a value of the wrong type)."""
        if value is Undefined or value is None or self.is_awaitable(value):
            return Undefined
        object_type = spec.object_type
        if not spec.is_list:
            assert object_type is not None
            if not _is_type_of(object_type, value):
                return Undefined
            return self._object(object_type, spec.type, details, path, value)
        if not isinstance(value, list | tuple):
            return Undefined
        if not spec.item_nullable and any(item is None for item in value):
            return Undefined
        if object_type is None:
            out = [None if v is None else _serialized(spec.serialize, v) for v in value]
            return Undefined if any(v is Undefined for v in out) else out
        if not all(v is None or _is_type_of(object_type, v) for v in value):
            return Undefined
        items: list[Any] = []
        try:
            for i, item in enumerate(value):
                items.append(
                    None
                    if item is None
                    else self._object(
                        object_type, spec.item_type, details, Path(path, i, None), item
                    )
                )
        except Exception as raw:  # a non-null item failed: the list is null, or its parent
            self._settle(items)
            self.handle_field_error(raw, spec.type, details, path)
            return None
        waiting = [i for i, item in enumerate(items) if self.is_awaitable(item)]
        if not waiting:
            return items

        async def gathered() -> list[Any]:
            for i, done in zip(waiting, await _all([items[i] for i in waiting]), strict=True):
                items[i] = done
            return items

        return self._guarded(gathered(), spec.type, details, path)

    def _object(
        self, object_type: GraphQLObjectType, type_: Any, details: Any, path: Path, value: Any
    ) -> Any:
        try:
            done = self.collect_and_execute_subfields(object_type, details, path, value, None)
        except Exception as raw:
            self.handle_field_error(raw, type_, details, path)  # raises when non-null
            return None
        if self.is_awaitable(done):
            return self._guarded(done, type_, details, path)
        return done

    async def _guarded(self, awaitable: Any, type_: Any, details: Any, path: Path) -> Any:
        try:
            return await awaitable
        except Exception as raw:
            self.handle_field_error(raw, type_, details, path)
            return None

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
