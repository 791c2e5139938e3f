"""The README's example query for each role runs, as that role, without errors."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Api

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
ROW = re.compile(r"^\| (\w+)[^|]*?\(`([^`]+)`[^|]*\|.*\| `(\{.*\})`[^|]*\|$", re.M)


def examples() -> list[tuple[str, str, str]]:
    rows = []
    for role, who, query in ROW.findall(README):
        email = who if "@demo.test" in who else f"{who.rstrip('@')}@demo.test"
        rows.append((role, email, query))
    return rows


def test_every_role_has_an_example() -> None:
    assert [r for r, _, _ in examples()] == [
        "ADMIN",
        "DIRECTOR",
        "MANAGER",
        "REP",
        "SERVICE",
        "AUDITOR",
        "ARBITER",
        "PARTNER",
    ]


async def test_role_examples_run(api: Api) -> None:
    for role, who, query in examples():
        if role == "PARTNER":
            token = await api.token(partner="acme-channel", scopes=["customer:read"])
        else:
            token = await api.token(who.split(",")[0].strip())
        body = await api.gql(query, token=token)
        assert not body.get("errors"), (role, query, body["errors"])
        assert any(v for v in body["data"].values()), (role, body)


def test_every_setting_is_in_the_configuration_table() -> None:
    from kernel.settings import Settings

    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [
        f"OWNERGRAPH_{name.upper()}"
        for name in Settings.model_fields
        if f"OWNERGRAPH_{name.upper()}`" not in table and f"`_{name.upper()}`" not in table
    ]
    assert not missing, f"README's Configuration lacks {missing}"
