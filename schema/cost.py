"""Query cost: how many objects a query could make the server build, before it runs.

Depth, alias and token limits do not stop `customers(first: 100) { followUps(first: 100)
{ customer { followUps(first: 100) ... } } }`. This estimate multiplies, along each path,
the `first` of every paged field (its literal or default value; a variable counts as the
page limit, so the estimate holds whatever is sent, and validation stays cacheable) and a
nominal size for plain lists, and refuses the query above a budget with
QUERY_TOO_COMPLEX.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeInfo,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_operation_ast,
    is_list_type,
    is_non_null_type,
)

# A plain list (contacts, collaborators, members, ...) counts as this many objects.
LIST_SIZE = 10


def _first(node: FieldNode, field: GraphQLField, cap: int) -> int | None:
    """The page size a paged field asks for, or None when it is not paged."""
    arg = field.args.get("first")
    if arg is None:
        return None
    value: Any = arg.default_value
    for given in node.arguments or ():
        if given.name.value != "first":
            continue
        if isinstance(given.value, IntValueNode):
            value = int(given.value.value)
        elif isinstance(given.value, VariableNode):
            value = cap
    return max(0, min(int(value or 0), cap))


def _is_list(field: GraphQLField) -> bool:
    kind = field.type.of_type if is_non_null_type(field.type) else field.type
    return is_list_type(kind)


def cost_rule(*, budget: int, page_cap: int) -> type[ValidationRule]:
    """A validation rule refusing operations that could cost more than `budget`."""

    class QueryCost(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            root = {
                "query": self.context.schema.query_type,
                "mutation": self.context.schema.mutation_type,
                "subscription": self.context.schema.subscription_type,
            }[node.operation.value]
            if root is None:
                return
            cost = _cost(self.context, node.selection_set, root, 1, page_cap, set())
            if cost > budget:
                self.report_error(
                    GraphQLError(
                        f"This query could build about {cost:,} objects; the limit is "
                        f"{budget:,}. Ask for smaller pages or fewer nested lists.",
                        node,
                        extensions={"code": "QUERY_TOO_COMPLEX", "cost": cost, "limit": budget},
                    )
                )

    return QueryCost


def _cost(
    context: ValidationContext,
    selection: SelectionSetNode | None,
    parent: GraphQLObjectType,
    multiplier: int,
    cap: int,
    seen: set[str],
) -> int:
    total = 0
    for item in selection.selections if selection else ():
        if isinstance(item, FieldNode):
            field = parent.fields.get(item.name.value)
            if field is None:
                continue  # unknown fields are another rule's business
            size = _first(item, field, cap)
            if size is None:
                # A connection's edges were counted by its `first` already.
                paged_edges = item.name.value == "edges"
                size = LIST_SIZE if _is_list(field) and not paged_edges else 1
            count = multiplier * size
            total += count
            child = get_named_type(field.type)
            if item.selection_set and isinstance(child, GraphQLObjectType):
                total += _cost(context, item.selection_set, child, count, cap, seen)
        elif isinstance(item, InlineFragmentNode):
            total += _cost(context, item.selection_set, parent, multiplier, cap, seen)
        elif isinstance(item, FragmentSpreadNode):
            name = item.name.value
            fragment = context.get_fragment(name)
            if fragment is None or name in seen:
                continue  # cycles are reported by NoFragmentCycles
            total += _cost(context, fragment.selection_set, parent, multiplier, cap, seen | {name})
    return total


def operation_cost(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, page_cap: int
) -> int:
    """The estimate for one operation of a validated document (what rate limits charge)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    context = ValidationContext(schema, document, TypeInfo(schema), lambda _: None)
    return _cost(context, operation.selection_set, root, 1, page_cap, set())
