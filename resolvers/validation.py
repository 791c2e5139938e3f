"""Input checks shared by every way data comes in (API, import).

Text widths come from the tables themselves, so a long value is a VALIDATION error naming
the field on every backend, never a database error."""

from __future__ import annotations

import math
from typing import Any

from sqlmodel import SQLModel

from db.keys import company_key
from db.models import Contact, Customer
from kernel.errors import Validation

TAG_LENGTH = 40


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def check_widths(model: type[SQLModel], values: dict[str, Any], prefix: str = "") -> None:
    columns = model.__table__.c  # type: ignore[attr-defined]
    for key, value in values.items():
        column = columns.get(key)
        limit = getattr(column.type, "length", None) if column is not None else None
        if isinstance(value, str) and limit and len(value) > limit:
            field = prefix + camel(key)
            raise Validation(f"`{field}` is at most {limit} characters.", field=field)


def company_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or not company_key(name):
        raise Validation("A customer needs a company name.", field="name")
    return name


def customer_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Checked customer fields (any subset: creation or an edit)."""
    if "name" in fields:
        fields = {**fields, "name": company_name(fields["name"])}
    check_widths(Customer, fields)
    value = fields.get("deal_value")
    if value is not None and (not math.isfinite(value) or value < 0):
        raise Validation("The deal value must be a number of zero or more.", field="dealValue")
    for tag in fields.get("tags") or []:
        if not tag.strip() or len(tag) > TAG_LENGTH:
            raise Validation(f"Tags are 1 to {TAG_LENGTH} characters.", field="tags")
    return fields


def contacts(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for contact in items:
        if not (contact.get("name") or "").strip():
            raise Validation("Every contact needs a name.", field="contacts")
        email = contact.get("email")
        if email and "@" not in email:
            raise Validation(f"{email!r} is not an email address.", field="contacts.email")
        check_widths(Contact, contact, prefix="contacts.")
    return items


FREE_TEXT = 2000


def text(
    value: str | None, field: str, *, required: bool = True, limit: int = FREE_TEXT
) -> str | None:
    """A reason, note or comment: trimmed, present when required, within `limit`."""
    value = (value or "").strip() or None
    if value is None:
        if required:
            raise Validation(f"Give a {field}.", field=field)
        return None
    if len(value) > limit:
        raise Validation(f"The {field} is longer than {limit} characters.", field=field)
    return value


def reason(value: str | None) -> str:
    return text(value, "reason") or ""
