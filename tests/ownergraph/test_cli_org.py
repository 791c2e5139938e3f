"""`ownergraph user …`, `team …` and `import-users` on the seeded demo, both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from db.engine import open_database
from db.models import AuditEntry, Team, User
from ownergraph.cli import app

runner = CliRunner()

USERS_CSV = """name,email,role,team,capacity,lock_quota,regions,industries
Nina Park,nina@corp.test,MANAGER,North,,none,North,
Omar Diaz,omar@corp.test,REP,North,80,5,North;East,Retail|Energy
Pia Sun,pia@corp.test,service,,150,,,
"""


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWNERGRAPH_DATA_DIR", str(tmp_path))


def run(database_url: str, *args: str) -> Result:
    return runner.invoke(app, [*args, "--database-url", database_url])


def fetch(database_url: str, stmt: Any) -> list[Any]:
    async def go() -> list[Any]:
        db = open_database(database_url)
        try:
            async with db.read() as session:
                return list((await session.execute(stmt)).scalars())
        finally:
            await db.dispose()

    return asyncio.run(go())


def user(database_url: str, email: str) -> User | None:
    found = fetch(database_url, select(User).where(User.email == email))
    return found[0] if found else None


def test_teams_and_users_are_set_up_and_audited_as_the_operator(database_url: str) -> None:
    made = run(database_url, "team", "add", "North", "--parent", "Sales", "--manager", "director@demo.test")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "Created team" in made.stdout and "North" in made.stdout
    added = run(
        database_url, "user", "add", "--email", "nina@corp.test", "--name", "Nina Park",
        "--role", "MANAGER", "--team", "north", "--capacity", "10", "--lock-quota", "none",
        "--regions", "North, East",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    nina = user(database_url, "nina@corp.test")
    assert nina is not None
    assert (nina.role, nina.capacity, nina.lock_quota, nina.regions) == ("MANAGER", 10, None, ["North", "East"])  # fmt: skip
    [north] = fetch(database_url, select(Team).where(Team.name == "North"))
    assert nina.team_id == north.id

    moved = run(database_url, "user", "update", "alice@demo.test", "--team", "North", "--capacity", "90", "--lock-quota", "4")  # fmt: skip
    assert moved.exit_code == 0, moved.output
    alice = user(database_url, "alice@demo.test")
    assert alice is not None and (alice.team_id, alice.capacity, alice.lock_quota) == (north.id, 90, 4)  # fmt: skip

    listed = run(database_url, "user", "list", "--team", "North")
    assert listed.exit_code == 0, listed.output
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert lines[0][:5] == ["ID", "EMAIL", "NAME", "ROLE", "TEAM"]
    assert sorted(line[1] for line in lines[1:]) == ["alice@demo.test", "nina@corp.test"]
    assert {line[1]: line[6] for line in lines[1:]} == {
        "alice@demo.test": "4",
        "nina@corp.test": "-",
    }

    teams = run(database_url, "team", "list")
    assert teams.exit_code == 0, teams.output
    rows = {line.split("\t")[1]: line.split("\t") for line in teams.stdout.splitlines()[1:]}
    assert rows["North"][2:] == ["Sales", "director@demo.test", "2"]

    actions = [(e.action, e.actor_id, e.detail.get("by")) for e in fetch(database_url, select(AuditEntry).where(AuditEntry.action.in_(["team.create", "user.create", "user.update"])).order_by(AuditEntry.id))]  # fmt: skip
    assert actions == [
        ("team.create", None, "command line"),
        ("user.create", None, "command line"),
        ("user.update", None, "command line"),
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("user", "add", "--email", "alice@demo.test", "--name", "A", "--role", "REP"),
            "already in use",
        ),  # fmt: skip
        (("user", "add", "--email", "x@corp.test", "--name", "X", "--role", "BOSS"), "role"),
        (
            (
                "user",
                "add",
                "--email",
                "x@corp.test",
                "--name",
                "X",
                "--role",
                "REP",
                "--team",
                "Mars",
            ),
            "Mars",
        ),  # fmt: skip
        (("user", "update", "nobody@corp.test", "--capacity", "3"), "nobody@corp.test"),
        (("user", "update", "alice@demo.test", "--capacity", "lots"), "--capacity"),
        (("user", "update", "alice@demo.test", "--capacity", "-2"), "--capacity"),
        (("team", "add", "East"), "already exists"),
        (("team", "add", "Moon", "--parent", "Mars"), "Mars"),
    ],
)
def test_refusals_are_the_apis_and_change_nothing(
    database_url: str, args: tuple[str, ...], says: str
) -> None:
    result = run(database_url, *args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert says in result.stderr
    assert fetch(database_url, select(AuditEntry.id).where(AuditEntry.action.like("user.%"))) == []
    assert fetch(database_url, select(AuditEntry.id).where(AuditEntry.action.like("team.%"))) == []


def test_import_users_is_all_or_nothing(database_url: str, tmp_path: Path) -> None:
    assert run(database_url, "team", "add", "North").exit_code == 0
    before = len(fetch(database_url, select(User.id)))
    bad = tmp_path / "bad.csv"
    bad.write_text(
        USERS_CSV
        + "Quinn,omar@corp.test,REP,North,,,,\n"  # the same email as a row above
        + "Rae,rae@corp.test,REP,Atlantis,,,,\n"
        + "Sam,sam@corp.test,CEO,,,,,\n"
        + "Tia,tia@corp.test,REP,,-1,,,\n",
        encoding="utf-8",
    )
    refused = run(database_url, "import-users", str(bad))
    assert refused.exit_code == 1, refused.output
    out = refused.stdout
    assert "line 5: The email omar@corp.test is already in use." in out
    assert "line 6: No team named 'Atlantis' exists." in out
    assert "line 7: 'CEO' is not a user's role" in out
    assert "line 8: capacity is a whole number" in out
    assert "Nothing was imported: 4 of 7 rows need fixing first." in out
    assert len(fetch(database_url, select(User.id))) == before

    good = tmp_path / "good.csv"
    good.write_text(USERS_CSV, encoding="utf-8")
    dry = run(database_url, "import-users", str(good), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Would create 3 users." in dry.stdout
    assert len(fetch(database_url, select(User.id))) == before

    done = run(database_url, "import-users", str(good))
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "Created 3 users."
    omar = user(database_url, "omar@corp.test")
    assert omar is not None
    assert (omar.role, omar.capacity, omar.lock_quota) == ("REP", 80, 5)
    assert (omar.regions, omar.industries) == (["North", "East"], ["Retail", "Energy"])
    pia = user(database_url, "pia@corp.test")
    assert pia is not None and (pia.role, pia.team_id, pia.lock_quota) == ("SERVICE", None, None)
    assert len(fetch(database_url, select(AuditEntry.id).where(AuditEntry.action == "user.create"))) == 3  # fmt: skip

    again = run(database_url, "import-users", str(good))
    assert again.exit_code == 1 and "already in use" in again.stdout


def test_import_users_refuses_a_file_it_cannot_read(database_url: str, tmp_path: Path) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_text("name,email,role,salary\nA,a@corp.test,REP,1\n", encoding="utf-8")
    result = run(database_url, "import-users", str(odd))
    assert result.exit_code == 1 and "salary" in result.stderr
    missing = run(database_url, "import-users", str(tmp_path / "none.csv"))
    assert missing.exit_code == 1 and "Cannot read" in missing.stderr


def test_an_organisation_starts_from_an_empty_database(tmp_path: Path) -> None:
    """The README's sequence, on a database that was only migrated."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert runner.invoke(app, ["migrate", "--database-url", url]).exit_code == 0
    steps = [
        ("team", "add", "Sales"),
        ("user", "add", "--email", "ada@corp.example", "--name", "Ada Wu", "--role", "ADMIN"),
        ("team", "add", "East", "--parent", "Sales"),
        ("user", "add", "--email", "marcus@corp.example", "--name", "Marcus Lee",
         "--role", "MANAGER", "--team", "East"),
        ("team", "add", "North", "--parent", "Sales", "--manager", "marcus@corp.example"),
    ]  # fmt: skip
    for step in steps:
        result = run(url, *step)
        assert result.exit_code == 0, (step, result.output)
    teams = run(url, "team", "list").stdout.splitlines()[1:]
    assert [line.split("\t")[1:4] for line in teams] == [
        ["Sales", "-", "-"],
        ["East", "Sales", "-"],
        ["North", "Sales", "marcus@corp.example"],
    ]
    token = run(url, "token", "issue", "--user", "ada@corp.example")
    assert token.exit_code == 0, token.output
