from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ownergraph.cli import app

runner = CliRunner()


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OWNERGRAPH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("OWNERGRAPH_JWT_SECRET", raising=False)
    return f"sqlite:///{tmp_path / 'x.db'}"


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_migrate_seed_and_issue_tokens(database_url: str, tmp_path: Path) -> None:
    result = run("migrate", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    result = run("seed", "--demo", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert "loaded" in result.stdout
    result = run("seed", "--demo", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert "already present" in result.stdout

    result = run("token", "issue", "--user", "alice@demo.test", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert len(token.split(".")) == 3 and "\n" not in token
    assert (tmp_path / "jwt-secret").exists()

    result = run(
        "token", "issue", "--partner", "acme-channel", "--scopes", "customer:read",
        "--ttl", "12h", "--database-url", database_url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().split(".")) == 3

    result = run("token", "issue", "--user", "nobody@x", "--database-url", database_url)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "nobody@x" in result.stderr


def test_token_issue_rejects_bad_arguments(database_url: str) -> None:
    assert run("token", "issue", "--database-url", database_url).exit_code == 1
    assert run("token", "issue", "--partner", "acme-channel").exit_code == 1  # no scopes
    bad_ttl = run("token", "issue", "--user", "alice@demo.test", "--ttl", "soon")
    assert bad_ttl.exit_code == 2
    assert run("seed", "--database-url", database_url).exit_code == 1  # no --demo


def _audit(database_url: str, action: str) -> list[dict[str, object]]:
    """The audit entries with this action, oldest first, straight from the database."""
    import json
    import sqlite3

    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT actor_id, detail FROM audit_entry WHERE action = ? ORDER BY id", (action,)
        ).fetchall()
    return [{"actor_id": actor, **json.loads(detail)} for actor, detail in rows]


def test_cli_tokens_carry_an_id_are_listed_revoked_and_audited(database_url: str) -> None:
    assert run("migrate", "--database-url", database_url).exit_code == 0
    assert run("seed", "--demo", "--database-url", database_url).exit_code == 0

    issued = run("token", "issue", "--user", "bob@demo.test", "--database-url", database_url)
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    assert len(token.split(".")) == 3 and "\n" not in token  # stdout: the JWT alone
    match = re.search(r"Token id (\d+)", issued.stderr)
    assert match, issued.stderr
    token_id = int(match[1])
    assert _audit(database_url, "token.issue") == [
        {"actor_id": None, "by": "command line", "token_id": token_id, "scopes": ["*"]}
    ]

    listed = run("token", "list", "--database-url", database_url)
    assert listed.exit_code == 0, listed.output
    header, *lines = listed.stdout.strip().splitlines()
    assert header.split("\t")[0] == "ID"
    mine = [line.split("\t") for line in lines if line.split("\t")[0] == str(token_id)]
    assert mine and mine[0][1] == "bob@demo.test" and mine[0][2] == "*"
    assert mine[0][6] == "-"

    revoked = run("token", "revoke", str(token_id), "--database-url", database_url)
    assert revoked.exit_code == 0, revoked.output
    assert _audit(database_url, "token.revoke") == [
        {"actor_id": None, "by": "command line", "token_id": token_id}
    ]
    active = run("token", "list", "--database-url", database_url)
    assert str(token_id) not in [line.split("\t")[0] for line in active.stdout.splitlines()]
    everything = run("token", "list", "--all", "--database-url", database_url)
    row = next(
        line.split("\t")
        for line in everything.stdout.splitlines()
        if line.split("\t")[0] == str(token_id)
    )
    assert row[6] != "-"

    missing = run("token", "revoke", "31415926", "--database-url", database_url)
    assert missing.exit_code == 1 and "31415926" in missing.stderr
    bad = run("token", "issue", "--user", "bob@demo.test", "--scopes", "all of it",
              "--database-url", database_url)  # fmt: skip
    assert bad.exit_code == 1 and bad.stdout == ""
