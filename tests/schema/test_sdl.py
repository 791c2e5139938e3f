"""The committed schema.graphql (for frontend code generation) matches the code, and the
code holds everything the public contract names."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from schema.root import schema

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_TOOL = ROOT.parent / "shared" / "tools" / "check_contract.py"


def test_committed_sdl_is_current() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == schema.as_str() + "\n", (
        "schema.graphql is stale: run `.venv/bin/ownergraph export-schema > schema.graphql`"
    )


@pytest.mark.skipif(not CONTRACT_TOOL.exists(), reason="../shared is not beside this checkout")
def test_schema_holds_the_whole_contract() -> None:
    sys.path.insert(0, str(CONTRACT_TOOL.parent))
    try:
        import check_contract
    finally:
        sys.path.pop(0)
    assert check_contract.missing(schema.as_str()) == []
