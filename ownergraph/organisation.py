"""Setting up the organisation from the command line: users and teams by name and email,
and `import-users FILE.csv`. Everything goes through resolvers/organisation.py as the
operator, so the checks and the audit entries are the API's.

The CSV import is all-or-nothing: every row is checked (against the database and the rows
above it) in one transaction, every problem is reported with its line number, and only a
file without problems is written. A first set-up is then fixed and run again, never left
half loaded.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.errors import DomainError, Validation
from kernel.messages import N_
from resolvers import directory, organisation
from resolvers.context import Context
from resolvers.organisation import add_user, team_id_named, user_id_by_email

USER_COLUMNS = (
    "name", "email", "role", "team", "capacity", "lock_quota", "regions", "industries",
)  # fmt: skip
# Lists in one option or cell: "East,North", "East; North" or "East|North".
LIST_SEPARATORS = re.compile(r"[,;|]")
HEADER_SEPARATORS = re.compile(r"[\s\-]+")
# Written for a count that is not set: no capacity limit, or may not lock.
NONE = "none"


class UsersFileError(Exception):
    """The file as a whole cannot be read: not UTF-8, not CSV, wrong columns."""


class ImportRefused(Exception):
    """Raised inside the import's transaction to roll it back."""


def split_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [t.strip() for t in LIST_SEPARATORS.split(text) if t.strip()]


def parse_count(text: str | None, flag: str) -> int | None:
    """A count from the command line or a cell: digits, or `none`/empty for no value."""
    value = (text or "").strip()
    if not value or value.casefold() == NONE:
        return None
    if not value.isdecimal():
        raise Validation(
            N_(
                "{flag} is a whole number of 0 or more, or {NONE!r}; not {value!r}.",
                flag=flag,
                NONE=NONE,
                value=value,
            ),
            field=flag,
        )
    return int(value)


async def user_fields(
    ctx: Context, options: Mapping[str, str | None], *, cli: bool = True
) -> dict[str, Any]:
    """The options given (None: not given) as resolver fields; `team` by name, `none` or
    empty for no team. Problems name the option (`cli`) or else the CSV column."""
    fields: dict[str, Any] = {}
    for key, value in options.items():
        if value is None:
            continue
        if key == "team":
            named = value.strip().casefold() not in ("", NONE)
            fields["team_id"] = await team_id_named(ctx, value) if named else None
        elif key in ("capacity", "lock_quota"):
            fields[key] = parse_count(value, "--" + key.replace("_", "-") if cli else key)
        elif key in ("regions", "industries"):
            fields[key] = split_list(value)
        else:
            fields[key] = value
    return fields


async def create_user(ctx: Context, options: dict[str, str | None]) -> str:
    user = await organisation.create_user(ctx, await user_fields(ctx, options))
    return f"Created user {user.id} {user.email}."


async def update_user(ctx: Context, email: str, options: dict[str, str | None]) -> str:
    user_id = await user_id_by_email(ctx, email)
    user = await organisation.update_user(ctx, user_id, await user_fields(ctx, options))
    return f"Updated user {user.id} {user.email}."


async def create_team(
    ctx: Context, name: str, parent: str | None, manager_email: str | None
) -> str:
    fields: dict[str, Any] = {"name": name, "parent_id": await team_id_named(ctx, parent)}
    if manager_email:
        fields["manager_id"] = await user_id_by_email(ctx, manager_email)
    team = await organisation.create_team(ctx, fields)
    return f"Created team {team.id} {team.name}."


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(value) or "-"
    return str(value)


async def user_table(ctx: Context, team: str | None) -> list[tuple[str, ...]]:
    team_id = await team_id_named(ctx, team) if team else None
    users = await directory.list_users(ctx, team_id)
    names = {t.id: t.name for t in await directory.list_teams(ctx)}
    header = ("ID", "EMAIL", "NAME", "ROLE", "TEAM", "CAPACITY", "LOCK_QUOTA", "REGIONS",
              "INDUSTRIES", "ACTIVE")  # fmt: skip
    return [header] + [
        tuple(
            _cell(v)
            for v in (
                u.id,
                u.email,
                u.name,
                u.role,
                names.get(u.team_id),
                u.capacity,
                u.lock_quota,
                u.regions,
                u.industries,
                "yes" if u.active else "no",
            )  # fmt: skip
        )
        for u in users
    ]


async def team_table(ctx: Context) -> list[tuple[str, ...]]:
    teams = await directory.list_teams(ctx)
    names = {t.id: t.name for t in teams}
    emails = {u.id: u.email for u in await directory.list_users(ctx)}
    members = Counter(u.team_id for u in await directory.list_users(ctx))
    header = ("ID", "NAME", "PARENT", "MANAGER", "MEMBERS")
    return [header] + [
        tuple(
            _cell(v)
            for v in (t.id, t.name, names.get(t.parent_id), emails.get(t.manager_id), members[t.id])
        )
        for t in teams
    ]


# The CSV import.


@dataclass(frozen=True)
class UserRow:
    line: int
    cells: dict[str, str]
    error: str | None = None


@dataclass
class UsersReport:
    dry_run: bool
    rows: int = 0
    created: list[str] = field(default_factory=list)  # emails
    invalid: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.invalid

    def lines(self) -> list[str]:
        out = [f"  line {line}: {message}" for line, message in self.invalid]
        n = len(self.created)
        if self.invalid:
            bad = len({line for line, _ in self.invalid})
            out.append(
                f"Nothing was imported: {bad} of {self.rows} row{'s' * (self.rows != 1)} "
                "need fixing first."
            )
        elif self.dry_run:
            out.append(f"Would create {n} user{'s' * (n != 1)}. Dry run: nothing was written.")
        else:
            out.append(f"Created {n} user{'s' * (n != 1)}.")
        return out


def read_users(path: Path) -> list[UserRow]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UsersFileError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except UnicodeDecodeError as exc:
        raise UsersFileError(f"{path} is not UTF-8 text; save it as CSV UTF-8.") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise UsersFileError(
                f"The file is empty: it needs the header {','.join(USER_COLUMNS)}."
            )
        columns = [HEADER_SEPARATORS.sub("_", h.strip()).casefold() for h in header]
        if unknown := sorted(set(columns) - set(USER_COLUMNS)):
            raise UsersFileError(
                f"Unknown column(s): {', '.join(unknown)}. Known: {', '.join(USER_COLUMNS)}."
            )
        if missing := [c for c in ("name", "email", "role") if c not in columns]:
            raise UsersFileError(f"The file has no {', '.join(missing)} column.")
        rows = []
        line = reader.line_num + 1
        for cells in reader:
            if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
                rows.append(UserRow(line, {}, f"{len(cells)} cells for {len(columns)} columns."))
            elif any(cell.strip() for cell in cells):
                rows.append(UserRow(line, dict(zip(columns, cells, strict=False))))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise UsersFileError(f"Line {reader.line_num}: not valid CSV ({exc}).") from exc
    return rows


async def import_users(ctx: Context, rows: list[UserRow], *, dry_run: bool = False) -> UsersReport:
    """Check every row, then create them all in one transaction, or none if any row has a
    problem (or on a dry run)."""
    ctx.plan.require("user", "create")
    report = UsersReport(dry_run, rows=len(rows))
    wanted: list[tuple[int, dict[str, Any]]] = []
    for row in rows:  # what needs only reading: team names
        try:
            if row.error:
                raise Validation(row.error)
            options = {c: row.cells.get(c, "").strip() for c in USER_COLUMNS}
            wanted.append((row.line, await user_fields(ctx, options, cli=False)))
        except DomainError as exc:
            report.invalid.append((row.line, exc.message))
    try:
        async with ctx.transaction() as session:
            for line, fields in wanted:
                try:
                    # Checked against the database and against the rows above it.
                    user = await add_user(ctx, session, fields)
                except DomainError as exc:
                    report.invalid.append((line, exc.message))
                    continue
                report.created.append(user.email)
            if report.invalid or dry_run:
                raise ImportRefused
    except ImportRefused:
        report.invalid.sort()
    return report
