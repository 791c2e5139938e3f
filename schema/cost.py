"""Query cost: how many objects a query could make the server build, before it runs.

Depth, alias and token limits do not stop `customers(first: 100) { followUps(first: 100)
{ customer { followUps(first: 100) ... } } }`. This estimate multiplies, along each path,
the `first` of every paged field (its literal or default value; a variable counts as the
page limit, so the estimate holds whatever is sent, and validation stays cacheable) and
the cap of every plain list (what a caller may write into it, e.g. 50 contacts), and
refuses the query above a budget with QUERY_TOO_COMPLEX.

The cost of a selection is linear in its multiplier, so each fragment's cost is computed
once (per parent type) and multiplied where it is spread: the estimate takes time linear
in the document, however its fragments nest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    get_named_type,
    is_list_type,
    is_non_null_type,
)

from kernel.settings import Settings
from resolvers.reminders import MAX_REMINDERS
from resolvers.rules import MAX_RULES
from resolvers.tokens import MAX_SCOPES
from resolvers.transfers import MAX_LISTED_REQUESTS

# A plain list no caller writes and no resolver bounds (a team's members, the teams, the
# evidence lines) counts as this many objects.
LIST_SIZE = 10


class ListCaps(Protocol):
    max_contacts: int
    max_tags: int
    max_collaborators: int
    max_transfer_customers: int


def list_sizes(caps: ListCaps) -> dict[str, int]:
    """`Type.field` → the most items that list can hold."""
    return {
        "Customer.tags": caps.max_tags,
        "Customer.contacts": caps.max_contacts,
        "Customer.collaborators": caps.max_collaborators,
        "Dispute.creditSplit": caps.max_collaborators + 1,
        "TransferRequest.customers": caps.max_transfer_customers,
        "Query.transferRequests": MAX_LISTED_REQUESTS,
        "Query.myReminders": MAX_REMINDERS,
        "Query.assignmentRules": MAX_RULES,
        "Mutation.setAssignmentRules": MAX_RULES,
        "ApiToken.scopes": MAX_SCOPES,
        "IssuedToken.scopes": MAX_SCOPES,
    }


DEFAULT_SIZES = list_sizes(Settings.model_construct())


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    page_cap: int,
    sizes: Mapping[str, int] = DEFAULT_SIZES,
) -> int:
    """The cost of the operation `operation_name` would run (the only one when None), or
    0 when there is no such operation (execution reports that)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [
        op
        for op in operations
        if operation_name is None or (op.name and op.name.value == operation_name)
    ]
    if len(chosen) != 1:
        return 0
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return _Estimate(schema, fragments, page_cap, sizes).of_operation(chosen[0])


def cost_rule(*, budget: int, page_cap: int, caps: ListCaps | None = None) -> type[ValidationRule]:
    """A validation rule refusing operations that could cost more than `budget`."""
    sizes = list_sizes(caps) if caps is not None else DEFAULT_SIZES

    class QueryCost(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            fragments = {
                d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)
            }
            estimate = _Estimate(self.context.schema, fragments, page_cap, sizes)
            for operation in node.definitions:
                if not isinstance(operation, OperationDefinitionNode):
                    continue
                cost = estimate.of_operation(operation)
                if cost > budget:
                    self.report_error(
                        GraphQLError(
                            f"This query could build about {cost:,} objects; the limit is "
                            f"{budget:,}. Ask for smaller pages or fewer nested lists.",
                            operation,
                            extensions={"code": "QUERY_TOO_COMPLEX", "cost": cost, "limit": budget},
                        )
                    )

    return QueryCost


class _Estimate:
    """Unit costs (multiplier 1), memoised per fragment and parent type."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        page_cap: int,
        sizes: Mapping[str, int],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.page_cap = page_cap
        self.sizes = sizes
        self.memo: dict[tuple[str, str], int] = {}
        self.open: set[str] = set()

    def of_operation(self, node: OperationDefinitionNode) -> int:
        root = {
            "query": self.schema.query_type,
            "mutation": self.schema.mutation_type,
            "subscription": self.schema.subscription_type,
        }[node.operation.value]
        return 0 if root is None else self.of_set(node.selection_set, root)

    def of_set(self, selection: SelectionSetNode | None, parent: GraphQLObjectType) -> int:
        total = 0
        for item in selection.selections if selection else ():
            if isinstance(item, FieldNode):
                field = parent.fields.get(item.name.value)
                if field is None:
                    continue  # unknown fields are another rule's business
                size = self.size(item, field, parent)
                child = get_named_type(field.type)
                inner = 0
                if item.selection_set and isinstance(child, GraphQLObjectType):
                    inner = self.of_set(item.selection_set, child)
                total += size * (1 + inner)
            elif isinstance(item, InlineFragmentNode):
                total += self.of_set(item.selection_set, self.typed(item, parent))
            elif isinstance(item, FragmentSpreadNode):
                total += self.of_fragment(item.name.value, parent)
        return total

    def of_fragment(self, name: str, parent: GraphQLObjectType) -> int:
        key = (name, parent.name)
        if key in self.memo:
            return self.memo[key]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.open:
            return 0  # cycles are reported by NoFragmentCycles
        self.open.add(name)
        self.memo[key] = self.of_set(fragment.selection_set, self.typed(fragment, parent))
        self.open.discard(name)
        return self.memo[key]

    def typed(
        self, node: InlineFragmentNode | FragmentDefinitionNode, parent: GraphQLObjectType
    ) -> GraphQLObjectType:
        condition = node.type_condition
        named = self.schema.get_type(condition.name.value) if condition else None
        return named if isinstance(named, GraphQLObjectType) else parent

    def size(self, node: FieldNode, field: GraphQLField, parent: GraphQLObjectType) -> int:
        paged = _first(node, field, self.page_cap)
        if paged is not None:
            return paged
        if not _is_list(field) or node.name.value == "edges":
            return 1  # a connection's edges were counted by its `first` already
        return self.sizes.get(f"{parent.name}.{node.name.value}", LIST_SIZE)


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
