"""Importing customers from CSV (`ownergraph import-customers`).

Reading the file and mapping each row to `create_customer` arguments is pure. Running the
import sends every row through `resolvers.customers.create_customer` with the assignment
rules, one transaction per row, so a bad or duplicate row is reported and skipped.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from db.enums import EventKind, Stage, Tier
from db.keys import customer_keys
from db.models import OwnershipEvent, User
from kernel.errors import DomainError, DuplicateCustomer, Validation
from kernel.messages import N_
from resolvers import validation
from resolvers.context import Context
from resolvers.customers import create_customer, duplicate_check

CUSTOMER_COLUMNS = (
    "name", "industry", "region", "size", "tier", "stage", "source", "tags", "tax_id",
    "deal_value",
)  # fmt: skip
CONTACT_COLUMNS = ("contact_name", "contact_title", "contact_phone", "contact_email")
COLUMNS = (*CUSTOMER_COLUMNS, *CONTACT_COLUMNS, "contact_decision_maker")
DEFAULT_SOURCE = "import"
TRUE = {"yes", "true", "1"}
FALSE = {"no", "false", "0", ""}
TAG_SEPARATORS = re.compile(r"[;|]")
HEADER_SEPARATORS = re.compile(r"[\s\-]+")
THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d*)?$")
POOL = "pool"


class ImportFileError(Exception):
    """The file as a whole cannot be imported: unreadable, not CSV, unknown columns."""


@dataclass(frozen=True)
class Row:
    """One data row: what to pass to `create_customer`, or why it cannot be."""

    line: int
    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def keys(self) -> set[tuple[str, str]]:
        """The duplicate keys `create_customer` will check, computed the same way."""
        return customer_keys(
            name=self.fields.get("name"),
            tax_id=self.fields.get("tax_id"),
            phones=[c["phone"] for c in self.contacts if c.get("phone")],
            emails=[c["email"] for c in self.contacts if c.get("email")],
        )


def read_rows(path: Path) -> list[Row]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"{path} is not UTF-8 text (byte {exc.start + 1}); save it as CSV UTF-8."
        ) from exc
    return parse_rows(text)


def column_name(header: str) -> str:
    """`Contact Name`, `contact-name` and `CONTACT_NAME` all name `contact_name`."""
    return HEADER_SEPARATORS.sub("_", header.strip()).casefold()


def parse_rows(text: str) -> list[Row]:
    """Every non-blank data row of a CSV text with a header row, in file order."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise ImportFileError("The file is empty: it needs a header row naming the columns.")
        columns = _columns(header)
        records: list[tuple[int, list[str]]] = []
        line = reader.line_num + 1
        for cells in reader:
            records.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ImportFileError(f"Line {reader.line_num}: not valid CSV ({exc}).") from exc
    rows = []
    for line, cells in records:
        if not any(cell.strip() for cell in cells):
            continue
        stray = [i + 1 for i, cell in enumerate(cells) if cell.strip() and not _named(columns, i)]
        if stray:
            where = ", ".join(map(str, stray))
            rows.append(Row(line, "", error=f"Values in unnamed column(s) {where}."))
            continue
        rows.append(map_row(line, {c: v for c, v in zip(columns, cells, strict=False) if c}))
    return rows


def _named(columns: list[str], index: int) -> bool:
    return index < len(columns) and bool(columns[index])


def _columns(header: list[str]) -> list[str]:
    """Column names in order; "" for unnamed columns, which must stay empty."""
    columns = [column_name(h) for h in header]
    unknown = sorted({c for c in columns if c and c not in COLUMNS})
    if unknown:
        raise ImportFileError(
            f"Unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
            f"Known columns: {', '.join(COLUMNS)}."
        )
    repeated = sorted(c for c, n in Counter(c for c in columns if c).items() if n > 1)
    if repeated:
        raise ImportFileError(f"Column given more than once: {', '.join(repeated)}.")
    if "name" not in columns:
        raise ImportFileError("The file has no `name` column; every customer needs a name.")
    return columns


def map_row(line: int, values: dict[str, str]) -> Row:
    """A row of cells by column name → `create_customer` fields and contacts."""
    values = {c: v.strip() for c, v in values.items()}
    try:
        fields, contacts = _fields(values), _contacts(values)
    except Validation as exc:
        return Row(line, values.get("name", ""), error=exc.message)
    return Row(line, fields["name"], fields, contacts)


def _fields(values: dict[str, str]) -> dict[str, Any]:
    name = values.get("name", "")
    tier = (values.get("tier") or Tier.C).upper()
    if tier not in Tier.__members__:
        raise Validation(
            N_("Tier must be A, B or C, not {tier!r}.", tier=values["tier"]), field="tier"
        )
    stage = (values.get("stage") or Stage.LEAD).upper()
    if stage not in Stage.__members__:
        known = ", ".join(Stage)
        raise Validation(
            N_("Stage must be one of {known}, not {stage!r}.", known=known, stage=values["stage"]),
            field="stage",
        )
    fields: dict[str, Any] = {
        "name": name,
        "tier": Tier(tier),
        "stage": Stage(stage),
        "source": values.get("source") or DEFAULT_SOURCE,
        "tags": _tags(values.get("tags", "")),
        "deal_value": _deal_value(values.get("deal_value", "")),
    }
    for column in ("industry", "region", "size", "tax_id"):
        fields[column] = values.get(column) or None
    return validation.customer_fields(fields)


def _tags(text: str) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in TAG_SEPARATORS.split(text) if t.strip()))


def _deal_value(text: str) -> float | None:
    if not text:
        return None
    try:
        # Commas only as thousands separators: "1,234.50", never a decimal comma.
        value = float(text.replace(",", "") if THOUSANDS.match(text) else text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise Validation(
            N_("deal_value must be a number, not {text!r}.", text=text), field="deal_value"
        )
    if value < 0:
        raise Validation(N_("The deal value cannot be negative."), field="deal_value")
    return value


def _contacts(values: dict[str, str]) -> list[dict[str, Any]]:
    flag = values.get("contact_decision_maker", "").casefold()
    if flag not in TRUE | FALSE:
        raise Validation(
            N_(
                "contact_decision_maker must be yes/no, true/false or 1/0, not "
                "{contact_decision_maker!r}.",
                contact_decision_maker=values["contact_decision_maker"],
            ),
            field="contact_decision_maker",
        )
    contact = {c.removeprefix("contact_"): values.get(c) or None for c in CONTACT_COLUMNS}
    decision_maker = flag in TRUE
    if not any(contact.values()) and not decision_maker:
        return []
    return validation.contacts([{**contact, "is_decision_maker": decision_maker}])


@dataclass(frozen=True)
class Duplicate:
    line: int
    name: str
    existing_name: str
    owner_name: str | None = None  # None: in the public pool
    earlier_line: int | None = None  # the same company earlier in this file
    written: bool = True  # False: the earlier row was not written (a dry run)

    def describe(self) -> str:
        text = f"line {self.line}: {self.name}: "
        if not self.written:
            return text + f"same company as line {self.earlier_line} ('{self.existing_name}')"
        owner = f"owned by {self.owner_name}" if self.owner_name else "in the public pool"
        text += f"exists as '{self.existing_name}', {owner}"
        if self.earlier_line is not None:
            text += f" (created from line {self.earlier_line} of this file)"
        return text


@dataclass
class ImportReport:
    dry_run: bool
    created: list[int] = field(default_factory=list)  # customer ids; line numbers if dry run
    duplicates: list[Duplicate] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)
    owners: Counter[str] = field(default_factory=Counter)  # "Name <email>" or POOL
    rules: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        """The summary printed on stdout."""
        n = len(self.created)
        out = [f"{'Would create' if self.dry_run else 'Created'} {n} customer{'s' * (n != 1)}."]
        for owner, count in sorted(self.owners.items(), key=lambda o: (o[0] == POOL, o[0])):
            out.append(f"  {'public pool' if owner == POOL else owner}: {count}")
        if self.rules:
            rules = ", ".join(f"{rule} {count}" for rule, count in sorted(self.rules.items()))
            out.append(f"  rules applied: {rules}")
        out.append(f"Duplicates {len(self.duplicates)}.")
        out.extend(f"  {d.describe()}" for d in self.duplicates)
        out.append(f"Invalid {len(self.invalid)}.")
        out.extend(f"  line {line}: {message}" for line, message in self.invalid)
        if self.dry_run:
            out.append("Dry run: nothing was written.")
        return out


async def import_rows(
    ctx: Context,
    rows: Iterable[Row],
    *,
    dry_run: bool = False,
    on_row: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Create each row through `create_customer` with the assignment rules, one
    transaction each; with `dry_run`, only validate and look for duplicates."""
    ctx.plan.require("customer", "create")
    report = ImportReport(dry_run)
    seen: dict[tuple[str, str], Row] = {}  # keys of rows created (or that would be)
    for row in rows:
        try:
            if row.error:
                report.invalid.append((row.line, row.error))
            elif dry_run:
                await _check(ctx, row, seen, report)
            else:
                await _create(ctx, row, seen, report)
        finally:
            on_row()
    if not dry_run:
        await _count_outcomes(ctx, report)
    return report


def _earlier(row: Row, seen: dict[tuple[str, str], Row]) -> Row | None:
    return next((seen[k] for k in sorted(row.keys()) if k in seen), None)


async def _check(
    ctx: Context, row: Row, seen: dict[tuple[str, str], Row], report: ImportReport
) -> None:
    if earlier := _earlier(row, seen):
        report.duplicates.append(
            Duplicate(row.line, row.name, earlier.name, earlier_line=earlier.line, written=False)
        )
        return
    try:  # the caps create_customer would apply
        validation.customer_fields(row.fields, ctx.settings)
        validation.contacts(row.contacts, ctx.settings)
    except Validation as exc:
        report.invalid.append((row.line, exc.message))
        return
    contact = row.contacts[0] if row.contacts else {}
    found = await duplicate_check(
        ctx,
        name=row.fields["name"],
        tax_id=row.fields.get("tax_id"),
        phone=contact.get("phone"),
        email=contact.get("email"),
    )
    exact = [m for m in found if m["matched_on"] != ["similarName"]]
    if exact:
        report.duplicates.append(
            Duplicate(row.line, row.name, exact[0]["name"], exact[0]["owner_name"])
        )
        return
    seen.update(dict.fromkeys(row.keys(), row))
    report.created.append(row.line)


async def _create(
    ctx: Context, row: Row, seen: dict[tuple[str, str], Row], report: ImportReport
) -> None:
    try:
        scoped = await create_customer(
            ctx, contacts=row.contacts, assign_by_rules=True, **row.fields
        )
        customer_id = scoped.customer.id
    except DuplicateCustomer as exc:
        earlier = _earlier(row, seen)
        report.duplicates.append(
            Duplicate(
                row.line,
                row.name,
                exc.extensions.get("customerName") or "?",
                exc.extensions.get("ownerName"),
                earlier.line if earlier else None,
            )
        )
        return
    except DomainError as exc:
        report.invalid.append((row.line, exc.message))
        return
    except DBAPIError as exc:
        report.invalid.append((row.line, f"The database refused the row: {exc.orig}"))
        return
    seen.update(dict.fromkeys(row.keys(), row))
    assert customer_id is not None
    report.created.append(customer_id)


# Bound parameters per statement stay well below SQLite's and asyncpg's limits.
CHUNK = 1000


async def _count_outcomes(ctx: Context, report: ImportReport) -> None:
    """Owners and rules of the created customers, from their CREATED events."""
    async with ctx.services.db.read() as session:
        for start in range(0, len(report.created), CHUNK):
            ids = report.created[start : start + CHUNK]
            rows = await session.execute(
                select(col(User.name), col(User.email), col(OwnershipEvent.rule), func.count())
                .select_from(OwnershipEvent)
                .outerjoin(User, col(User.id) == col(OwnershipEvent.to_user_id))
                .where(
                    col(OwnershipEvent.customer_id).in_(ids),
                    col(OwnershipEvent.kind) == EventKind.CREATED,
                )
                .group_by(col(User.name), col(User.email), col(OwnershipEvent.rule))
            )
            for name, email, rule, n in rows:
                report.owners[f"{name} <{email}>" if email else POOL] += n
                report.rules[rule or POOL] += n
