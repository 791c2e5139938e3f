"""Imports run one way: ownergraph/ (the composition root) on top, kernel/ at the bottom.

request → schema → resolvers → (authz, subscriptions) → db → kernel
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What each layer may import from the first-party packages (besides itself).
ALLOWED = {
    "kernel": set(),
    "db": {"kernel"},
    "authz": {"db", "kernel"},
    "subscriptions": {"authz", "db", "kernel"},
    "resolvers": {"authz", "db", "kernel", "subscriptions"},
    "schema": {"resolvers", "authz", "db", "kernel", "subscriptions"},
}
FIRST_PARTY = set(ALLOWED) | {"ownergraph"}
# Known to run the wrong way; listed so that no new one appears.
KNOWN: set[tuple[str, str]] = set()


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & FIRST_PARTY


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_run_downward(layer: str) -> None:
    wrong = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for name in imports(path) - ALLOWED[layer] - {layer}:
            if (rel, name) not in KNOWN:
                wrong.append(f"{rel} imports {name}")
    assert wrong == []
