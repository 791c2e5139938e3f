"""`ownergraph import-customers`: parsing CSV rows, then creating them through the
assignment rules on a real seeded database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from typer.testing import CliRunner, Result

from db.engine import Database, open_database
from db.enums import EventKind
from db.models import AssignmentRule, Contact, Customer, OwnershipEvent, Team, User
from ownergraph.cli import app
from ownergraph.importer import ImportFileError, parse_rows, read_rows

runner = CliRunner()

HEADER = (
    "Name,Industry,REGION,tier,Stage,Tags,Tax-ID,Deal Value,"
    "Contact Name,contact-email,Contact_Phone,Contact Decision Maker"
)
ROWS = [
    "Importco Alpha Ltd.,Software,East,a,new,vip; fair|vip,91-310-000,1200.5,"
    "Ann Lee,ann@alpha-import.test,+86 21 5555 0101,yes",
    "Importco Beta,Retail,east,,,,,,,,,",
    "Importco Gamma,Energy,West,B,,,,,Gus Ho,,,no",
    "Importco Delta,Retail,East,D,,,,,,,,",
    ",Retail,East,,,,,,,,,",
    "",
    "IMPORTCO ALPHA,,East,,,,,,,,,",
    "Importco Epsilon,,East,,,,,,,,,maybe",
]


def write_csv(path: Path, lines: list[str], *, bom: bool = True) -> Path:
    path.write_bytes(("\ufeff" if bom else "").encode() + "\r\n".join(lines).encode() + b"\r\n")
    return path


def test_rows_map_columns_tags_contacts_and_errors(tmp_path: Path) -> None:
    rows = read_rows(write_csv(tmp_path / "in.csv", [HEADER, *ROWS]))
    assert [r.line for r in rows] == [2, 3, 4, 5, 6, 8, 9]  # line 7 is blank
    alpha, beta, gamma, delta, blank, again, epsilon = rows
    assert alpha.error is None
    assert alpha.fields == {
        "name": "Importco Alpha Ltd.",
        "industry": "Software",
        "region": "East",
        "size": None,
        "tier": "A",
        "stage": "NEW",
        "source": "import",
        "tags": ["vip", "fair"],
        "tax_id": "91-310-000",
        "deal_value": 1200.5,
    }
    assert alpha.contacts == [
        {
            "name": "Ann Lee",
            "title": None,
            "phone": "+86 21 5555 0101",
            "email": "ann@alpha-import.test",
            "is_decision_maker": True,
        }
    ]
    assert (beta.fields["tier"], beta.fields["stage"], beta.fields["tags"]) == ("C", "LEAD", [])
    assert beta.contacts == []
    assert gamma.contacts[0]["name"] == "Gus Ho" and not gamma.contacts[0]["is_decision_maker"]
    assert delta.error == "Tier must be A, B or C, not 'D'."
    assert blank.error == "A customer needs a company name."
    assert again.error is None and again.keys() & alpha.keys()
    assert epsilon.error and "contact_decision_maker" in epsilon.error


def test_quoted_line_breaks_stray_cells_and_contacts_without_a_name() -> None:
    text = (
        'name,tags,contact_phone\n"Multi\nLine Co",a,\nNext Co,,123456,extra\nLast Co,,555 0101\n'
    )
    multi, stray, nameless = parse_rows(text)
    assert (multi.line, multi.fields["name"]) == (2, "Multi\nLine Co")
    assert (stray.line, stray.error) == (4, "Values in unnamed column(s) 4.")
    assert nameless.line == 5 and "Every contact needs a name" in (nameless.error or "")


def test_deal_values() -> None:
    text = 'name,deal_value\nA,"1,234.50"\nB,"1.234,50"\nC,-3\nD,nan\nE,\n'
    values = [r.fields.get("deal_value") if r.error is None else r.error for r in parse_rows(text)]
    assert values == [
        1234.5,
        "deal_value must be a number, not '1.234,50'.",
        "The deal value cannot be negative.",
        "deal_value must be a number, not 'nan'.",
        None,
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Name,Owner,colour\nX,a,b\n", "Unknown columns: colour, owner."),
        ("region\nEast\n", "no `name` column"),
        ("name,Name\nX,Y\n", "more than once: name"),
        ("", "empty"),
    ],
)
def test_file_level_errors(text: str, message: str) -> None:
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_rows(text)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="Cannot read"):
        read_rows(tmp_path / "missing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name\nCafé Müller\n".encode("latin-1"))
    with pytest.raises(ImportFileError, match="not UTF-8"):
        read_rows(latin)


# Running the command against a seeded database.


@pytest.fixture
async def db(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Database]:
    monkeypatch.setenv("OWNERGRAPH_DATA_DIR", str(tmp_path))
    database = open_database(database_url)
    yield database
    await database.dispose()


async def invoke(*args: str) -> Result:
    return await asyncio.to_thread(runner.invoke, app, list(args))


async def add_rule(
    db: Database, *, name: str, region: str, team: str, cross_team: bool = False
) -> None:
    async with db.write() as session, session.begin():
        team_id = await session.scalar(select(Team.id).where(Team.name == team))
        session.add(
            AssignmentRule(
                position=0,
                name=name,
                region=region,
                strategy="round_robin",
                team_id=team_id,
                cross_team=cross_team,
            )
        )


def quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


async def seeded_customer(db: Database) -> tuple[str, str]:
    """A seeded customer with an owner: its name and its owner's name."""
    async with db.read() as session:
        row = (
            await session.execute(
                select(Customer.name, User.name)
                .join(User, User.id == Customer.owner_id)
                .order_by(Customer.id)
                .limit(1)
            )
        ).one()
    return row[0], row[1]


async def created(db: Database, name: str) -> tuple[str | None, str | None, str | None]:
    """Owner email, CREATED event rule and actor email of an imported customer."""
    actor = aliased(User)
    async with db.read() as session:
        row = (
            await session.execute(
                select(User.email, OwnershipEvent.rule, actor.email)
                .select_from(Customer)
                .join(OwnershipEvent, OwnershipEvent.customer_id == Customer.id)
                .outerjoin(User, User.id == Customer.owner_id)
                .outerjoin(actor, actor.id == OwnershipEvent.actor_id)
                .where(Customer.name == name, OwnershipEvent.kind == EventKind.CREATED)
            )
        ).one()
    return row[0], row[1], row[2]


async def counts(db: Database) -> tuple[int, int, int, list[int | None]]:
    async with db.read() as session:
        return (
            int(await session.scalar(select(func.count()).select_from(Customer)) or 0),
            int(await session.scalar(select(func.count()).select_from(OwnershipEvent)) or 0),
            int(await session.scalar(select(func.count()).select_from(Contact)) or 0),
            list((await session.execute(select(AssignmentRule.last_user_id))).scalars()),
        )


async def test_import_assigns_by_the_rules_and_skips_bad_rows(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    await add_rule(db, name="East round robin", region="East", team="East")
    existing, existing_owner = await seeded_customer(db)
    path = write_csv(tmp_path / "in.csv", [HEADER, *ROWS, f"{quoted(existing)},,East,,,,,,,,,"])
    before = await counts(db)

    result = await invoke("import-customers", str(path), "--as", "admin@demo.test",
                          "--database-url", database_url)  # fmt: skip

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Created 3 customers." in out
    assert "Alice Wang <alice@demo.test>: 1" in out and "Bob Li <bob@demo.test>: 1" in out
    assert "public pool: 1" in out
    assert "rules applied: East round robin 2, pool 1" in out
    assert "Duplicates 2." in out
    assert "line 8: IMPORTCO ALPHA: exists as 'Importco Alpha Ltd.', owned by " in out
    assert "(created from line 2 of this file)" in out
    assert f"line 10: {existing}: exists as '{existing}', owned by {existing_owner}" in out
    assert "Invalid 3." in out
    assert "line 5: Tier must be A, B or C, not 'D'." in out
    assert "line 6: A customer needs a company name." in out
    assert "line 9: contact_decision_maker" in out
    assert result.stderr == ""  # no progress bar: stderr is not a terminal

    alpha = await created(db, "Importco Alpha Ltd.")
    beta = await created(db, "Importco Beta")
    assert {alpha[0], beta[0]} == {"alice@demo.test", "bob@demo.test"}
    assert alpha[1:] == beta[1:] == ("East round robin", "admin@demo.test")
    assert await created(db, "Importco Gamma") == (None, "pool", "admin@demo.test")
    after = await counts(db)
    assert after[:3] == (before[0] + 3, before[1] + 3, before[2] + 2)
    async with db.read() as session:
        customer = (
            await session.execute(select(Customer).where(Customer.name == "Importco Alpha Ltd."))
        ).scalar_one()
        assert (customer.tier, customer.stage, customer.source) == ("A", "NEW", "import")
        assert customer.tags == ["vip", "fair"] and customer.deal_value == 1200.5
        contact = (
            await session.execute(select(Contact).where(Contact.customer_id == customer.id))
        ).scalar_one()
        assert (contact.name, contact.is_decision_maker) == ("Ann Lee", True)

    # Importing the same file again: everything valid is now a duplicate.
    again = await invoke("import-customers", str(path), "--as", "admin@demo.test",
                         "--database-url", database_url)  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "Created 0 customers." in again.stdout and "Duplicates 5." in again.stdout
    assert (await counts(db))[:3] == after[:3]


async def test_a_rep_importing_counts_customers_assigned_out_of_sight(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    # A rep's own entries leave the rep's team only by a rule that says so (crossTeam).
    await add_rule(db, name="West team", region="West", team="West", cross_team=True)
    path = write_csv(tmp_path / "in.csv", ["name,region", "Far West Co,West", "Own Pool Co,North"])

    result = await invoke("import-customers", str(path), "--as", "alice@demo.test",
                          "--database-url", database_url)  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Created 2 customers." in result.stdout
    assert "Carol Smith <carol@demo.test>: 1" in result.stdout
    assert "public pool: 1" in result.stdout
    assert await created(db, "Far West Co") == ("carol@demo.test", "West team", "alice@demo.test")
    assert await created(db, "Own Pool Co") == (None, "pool", "alice@demo.test")


async def test_dry_run_checks_everything_and_writes_nothing(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    await add_rule(db, name="East round robin", region="East", team="East")
    existing, existing_owner = await seeded_customer(db)
    path = write_csv(tmp_path / "in.csv", [HEADER, *ROWS, f"{quoted(existing)},,East,,,,,,,,,"])
    before = await counts(db)

    result = await invoke("import-customers", str(path), "--as", "admin@demo.test",
                          "--database-url", database_url, "--dry-run")  # fmt: skip

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Would create 3 customers." in out
    assert "line 8: IMPORTCO ALPHA: same company as line 2 ('Importco Alpha Ltd.')" in out
    assert f"line 10: {existing}: exists as '{existing}', owned by {existing_owner}" in out
    assert "Invalid 3." in out and "line 5: Tier must be A, B or C" in out
    assert out.rstrip().endswith("Dry run: nothing was written.")
    assert await counts(db) == before


async def test_exit_codes(db: Database, database_url: str, tmp_path: Path) -> None:
    before = await counts(db)
    unknown = write_csv(tmp_path / "unknown.csv", ["name,owner,Colour", "X Co,bob,red"])
    result = await invoke("import-customers", str(unknown), "--as", "admin@demo.test",
                          "--database-url", database_url)  # fmt: skip
    assert result.exit_code == 1
    assert "Unknown columns: colour, owner." in result.stderr and result.stdout == ""

    good = write_csv(tmp_path / "good.csv", ["name", "Exit Code Co"])
    missing = await invoke("import-customers", str(tmp_path / "nope.csv"), "--as",
                           "admin@demo.test", "--database-url", database_url)  # fmt: skip
    assert missing.exit_code == 1 and "Cannot read" in missing.stderr
    nobody = await invoke("import-customers", str(good), "--as", "nobody@demo.test",
                          "--database-url", database_url)  # fmt: skip
    assert nobody.exit_code == 1 and "nobody@demo.test" in nobody.stderr
    auditor = await invoke("import-customers", str(good), "--as", "audit@demo.test",
                           "--database-url", database_url)  # fmt: skip
    assert auditor.exit_code == 1 and "may not create customers" in auditor.stderr
    no_user = await invoke("import-customers", str(good), "--database-url", database_url)
    assert no_user.exit_code == 2
    no_file = await invoke("import-customers", "--as", "admin@demo.test")
    assert no_file.exit_code == 2
    assert await counts(db) == before


async def test_imported_lists_are_held_to_the_same_caps(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    tags = ";".join(f"t{i}" for i in range(51))
    path = write_csv(tmp_path / "in.csv", ["name,tags", f"Many Tags Co,{tags}", "Few Tags Co,a;b"])
    for dry_run in (["--dry-run"], []):
        result = await invoke("import-customers", str(path), "--as", "admin@demo.test",
                              "--database-url", database_url, *dry_run)  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "line 2: `tags` takes at most 50 items; 51 were given." in result.stdout
        assert "Invalid 1." in result.stdout
    async with db.read() as session:
        names = select(Customer.name).where(Customer.name.in_(["Many Tags Co", "Few Tags Co"]))
        assert list((await session.execute(names)).scalars()) == ["Few Tags Co"]
