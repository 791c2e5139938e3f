"""What a query selects on one object, read once from strawberry's `info.selected_fields`:
fragments flattened, `@skip`/`@include` applied, every occurrence kept with its response
key (an alias, or the field's name), so masked paths come out exactly as the client sees
them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection


def _included(directives: dict[str, dict[str, object]]) -> bool:
    if "skip" in directives and directives["skip"].get("if"):
        return False
    return not ("include" in directives and not directives["include"].get("if"))


def _flatten(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    for s in selections:
        if not _included(s.directives):
            continue
        if isinstance(s, SelectedField):
            yield s
        elif isinstance(s, FragmentSpread | InlineFragment):
            yield from _flatten(s.selections)


@dataclass
class Shape:
    """The fields selected on one object: GraphQL field name -> its occurrences."""

    fields: dict[str, list[SelectedField]] = field(default_factory=dict)

    @classmethod
    def of(cls, selections: Iterable[Selection]) -> Shape:
        shape = cls()
        for f in _flatten(selections):
            shape.fields.setdefault(f.name, []).append(f)
        return shape

    @classmethod
    def selected(cls, info: Info[Any, Any]) -> Shape:
        """What the resolver's field selects; a field asked for twice under one response
        key arrives as several nodes, merged here as graphql-core merges them. Read once
        per request and field (a list of 100 events asks for its customers' 100 times)."""
        memo: dict[tuple[int, ...], Shape] | None = getattr(info.context, "shapes", None)
        key = tuple(map(id, info._raw_info.field_nodes))
        found = memo.get(key) if memo is not None else None
        if found is None:
            found = cls.of(s for f in info.selected_fields for s in getattr(f, "selections", ()))
            if memo is not None:
                memo[key] = found
        return found

    @classmethod
    def merged(cls, shapes: Iterable[Shape]) -> Shape:
        shape = cls()
        for s in shapes:
            for name, found in s.fields.items():
                shape.fields.setdefault(name, []).extend(found)
        return shape

    def __contains__(self, name: str) -> bool:
        return name in self.fields

    def keys(self, name: str) -> list[str]:
        return [f.alias or f.name for f in self.fields.get(name, ())]

    def each(self, name: str) -> list[tuple[str, Shape]]:
        """Every occurrence of `name`: its response key and what it selects."""
        return [(f.alias or f.name, Shape.of(f.selections)) for f in self.fields.get(name, ())]

    def sub(self, name: str) -> Shape:
        """What all occurrences of `name` select, together (for fetching)."""
        return Shape.merged(s for _, s in self.each(name))
