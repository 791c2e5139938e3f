"""Relay global object identification: the `Node` interface, and `node`/`nodes`."""

from __future__ import annotations

import strawberry

from schema.plain import attr


@strawberry.interface(description="An object with an opaque global id, unique across types.")
class Node:
    id: strawberry.ID = attr("Opaque global id; `node(id:)` finds the object by it.")
