from __future__ import annotations

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
