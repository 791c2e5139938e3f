"""graphql-codegen (typescript + typescript-operations) types the README's example
operations from the exported schema, and `tsc --strict` accepts them: what a frontend
team's build does. `make test` installs the tools (web/codegen, pinned by its
package-lock.json); without Node it is skipped, except under CI=true."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_readme import README, examples

ROOT = Path(__file__).resolve().parents[2]
CODEGEN = ROOT / "web" / "codegen"
BIN = CODEGEN / "node_modules" / ".bin"
FENCED = re.compile(r"```graphql\n(.*?)```", re.S)
# An operation sent as JSON (curl -d, a WebSocket subscribe frame).
IN_JSON = re.compile(r'"query":\s*("(?:[^"\\]|\\.)*")')
OPERATION = re.compile(r"^\s*(query|mutation|subscription)?\s*(?=[{(])")


def readme_operations() -> list[str]:
    found = [query for _, _, query in examples()]
    found += FENCED.findall(README)
    found += [json.loads(text) for text in IN_JSON.findall(README)]
    return found


def named(operations: list[str]) -> dict[str, str]:
    """Each anonymous operation named Readme<n><Kind>, as codegen names its types."""
    out = {}
    for n, text in enumerate(operations, 1):
        match = OPERATION.match(text)
        assert match, f"not an anonymous operation: {text[:60]}"
        kind = match[1] or "query"
        out[f"Readme{n}{kind.title()}"] = OPERATION.sub(f"{kind} Readme{n} ", text, count=1)
    return out


def _tools() -> tuple[Path, Path]:
    missing = None
    if shutil.which("node") is None:
        missing = "Node.js is not installed"
    elif not (BIN / "graphql-codegen").exists():
        missing = f"{BIN} is missing (`make test` installs it)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs graphql-codegen: {missing}")
        pytest.skip(f"codegen skipped: {missing}")
    return BIN / "graphql-codegen", BIN / "tsc"


def test_the_readme_has_operations_of_every_kind() -> None:
    kinds = {
        name.removeprefix("Readme").lstrip("0123456789") for name in named(readme_operations())
    }
    assert kinds == {"Query", "Mutation", "Subscription"}
    assert len(readme_operations()) >= 12


def test_codegen_types_the_readme_operations_and_tsc_accepts_them(tmp_path: Path) -> None:
    codegen, tsc = _tools()
    documents = tmp_path / "operations"
    documents.mkdir()
    operations = named(readme_operations())
    for name, text in operations.items():
        (documents / f"{name}.graphql").write_text(text)
    types = tmp_path / "types.ts"
    config = {
        "schema": str(ROOT / "schema.graphql"),
        "documents": str(documents / "*.graphql"),
        "generates": {
            str(types): {
                "plugins": ["typescript", "typescript-operations"],
                # Every scalar mapped (none falls back to `any`).
                "config": {"strictScalars": True, "scalars": {"DateTime": "string"}},
            }
        },
    }
    (tmp_path / "codegen.json").write_text(json.dumps(config))
    run = subprocess.run(
        [str(codegen), "--config", str(tmp_path / "codegen.json")],
        cwd=CODEGEN,  # where the plugins are installed
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0 and types.exists(), run.stdout + run.stderr
    generated = types.read_text()
    for name in operations:
        assert f"export type {name} = " in generated, name
    # Types used as a client would: the answer's shape and the variables.
    usage = tmp_path / "usage.ts"
    usage.write_text(
        'import { Tier, type CustomerFilter, type Readme1Query } from "./types";\n'
        "export const pool = (a: Readme1Query): number => a.ownershipStats.poolSize;\n"
        "export const filter: CustomerFilter = { tier: Tier.A, overdue: true };\n"
    )
    check = subprocess.run(
        [str(tsc), "--strict", "--noEmit", str(types), str(usage)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
