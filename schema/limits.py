"""Checks a document must pass before any validation rule walks it, and checks on the
values a caller sends (literals and variables alike).

`query { me { ...F20 } }`, each `F(i)` spreading `F(i-1)` twice, is 800 bytes that expand
to a million fields: every rule that walks the expanded tree (depth, aliases, cost) takes
seconds. `expanded_size` counts the expansion in time linear in the document, each
fragment's size computed once, so such a document is refused before those rules see it.

String values are checked once for all fields: no lone surrogate (no encoding can store
it), no NUL (PostgreSQL refuses it), no more than `max_string_length` characters; a list
holds at most `max_list_length` items. Each field's own limits (resolvers/validation.py)
then apply to what is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationRule,
)

from resolvers.validation import text_problem


@dataclass
class Expansion:
    """The largest expanded size among the document's operations and fragments, and how
    many selection nodes were looked at to find it (the work done)."""

    size: int
    visited: int


def expanded_size(document: DocumentNode) -> Expansion:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    sizes: dict[str, int] = {}
    open_: set[str] = set()
    visited = 0

    def of_set(selection_set: SelectionSetNode | None) -> int:
        nonlocal visited
        total = 0
        for item in selection_set.selections if selection_set else ():
            visited += 1
            if isinstance(item, FieldNode):
                total += 1 + of_set(item.selection_set)
            elif isinstance(item, InlineFragmentNode):
                total += of_set(item.selection_set)
            elif isinstance(item, FragmentSpreadNode):
                total += of_fragment(item.name.value)
        return total

    def of_fragment(name: str) -> int:
        if name in sizes:
            return sizes[name]
        fragment = fragments.get(name)
        if fragment is None or name in open_:
            return 0  # unknown fragments and cycles are other rules' business
        open_.add(name)
        sizes[name] = of_set(fragment.selection_set)
        open_.discard(name)
        return sizes[name]

    largest = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            largest = max(largest, of_set(definition.selection_set))
        elif isinstance(definition, FragmentDefinitionNode):
            largest = max(largest, of_fragment(definition.name.value))
    return Expansion(largest, visited)


def too_large(expansion: Expansion, limit: int) -> GraphQLError:
    return GraphQLError(
        f"This document asks for {expansion.size:,} fields once its fragments are expanded; "
        f"the limit is {limit:,}.",
        extensions={"code": "QUERY_TOO_COMPLEX", "selections": expansion.size, "limit": limit},
    )


def value_rule(*, max_string: int, max_list: int) -> type[ValidationRule]:
    """A validation rule applying the value checks to the document's literals."""

    class SaneLiterals(ValidationRule):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            if problem := text_problem(node.value, max_string):
                self.report_error(_invalid(problem, node))

        def enter_list_value(self, node: ListValueNode, *_: Any) -> None:
            if len(node.values) > max_list:
                self.report_error(_invalid(_list_problem(max_list), node))

    return SaneLiterals


def variable_errors(variables: Any, *, max_string: int, max_list: int) -> list[GraphQLError]:
    """The value checks over variables as sent (any JSON), without recursion."""
    stack: list[tuple[str, Any]] = [
        (f"${name}", value) for name, value in (variables or {}).items()
    ]
    while stack:
        where, value = stack.pop()
        problem = None
        if isinstance(value, str):
            problem = text_problem(value, max_string)
        elif isinstance(value, list):
            if len(value) > max_list:
                problem = _list_problem(max_list)
            else:
                stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, dict):
            stack.extend((f"{where}.{k}", v) for k, v in value.items())
            stack.extend((f"{where} (a key)", k) for k in value)
        if problem:
            return [_invalid(f"{where}: {problem}", None, variable=where)]
    return []


def _list_problem(limit: int) -> str:
    return f"A list takes at most {limit:,} items."


def _invalid(message: str, node: Any, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": "VALIDATION", **extensions})
