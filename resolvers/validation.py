"""Input checks shared by every way data comes in (API, import).

Text widths come from the tables themselves, so a long value is a VALIDATION error naming
the field on every backend, never a database error. Lists a caller writes have caps (from
settings), so no customer carries 20,000 contacts into every page that shows it."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from sqlmodel import SQLModel

from db.keys import company_key, email_domain_key, phone_key, tax_key
from db.models import Contact, Customer, CustomerKey
from kernel.errors import Validation
from kernel.messages import N_

TAG_LENGTH = 40
T = TypeVar("T")
# No encoding stores a lone surrogate; PostgreSQL refuses NUL in text.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class ListCaps(Protocol):
    """The caps a caller's lists are held to (kernel.settings.Settings has them)."""

    max_contacts: int
    max_tags: int


def text_problem(value: str, limit: int) -> str | None:
    """Why `value` cannot be taken as text from a caller, or None."""
    if len(value) > limit:
        return N_("A text value is at most {limit:,} characters.", limit=limit)
    if found := _UNSTORABLE.search(value):
        if found.group() == "\x00":
            return N_("A text value contains a NUL character at position {at}.", at=found.start())
        return N_("A text value contains an unpaired surrogate at position {at}.", at=found.start())
    return None


def within(items: Sequence[T], cap: int, field: str) -> Sequence[T]:
    """A list a caller writes, refused whole when it is longer than its cap."""
    if len(items) > cap:
        raise Validation(
            N_(
                "`{field}` takes at most {cap:,} items; {items:,} were given.",
                field=field,
                cap=cap,
                items=len(items),
            ),
            field=field,
            limit=cap,
        )
    return items


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def check_widths(model: type[SQLModel], values: dict[str, Any], prefix: str = "") -> None:
    columns = model.__table__.c  # type: ignore[attr-defined]
    for key, value in values.items():
        column = columns.get(key)
        limit = getattr(column.type, "length", None) if column is not None else None
        if not isinstance(value, str):
            continue
        field = prefix + camel(key)
        if limit and len(value) > limit:
            raise Validation(
                N_("`{field}` is at most {limit} characters.", field=field, limit=limit),
                field=field,
            )
        if problem := text_problem(value, limit or len(value)):
            raise Validation(N_("`{field}`: {problem}", field=field, problem=problem), field=field)


# Folding (NFKC) can make a key far longer than what it came from ("ﷺ" gives 18
# characters); a key must fit its column on every backend.
KEY_LENGTH: int = CustomerKey.__table__.c.value.type.length  # type: ignore[attr-defined]


def _fits_key(key: str | None, field: str) -> None:
    if key and len(key) > KEY_LENGTH:
        raise Validation(
            N_(
                "`{field}` is too long once folded for duplicate checks ({key} characters; at "
                "most {KEY_LENGTH}).",
                field=field,
                key=len(key),
                KEY_LENGTH=KEY_LENGTH,
            ),
            field=field,
        )


def company_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or not company_key(name):
        raise Validation(N_("A customer needs a company name."), field="name")
    _fits_key(company_key(name), "name")
    return name


def room_for(count: int, cap: int, field: str) -> None:
    """One more item for a stored list that holds `count` of at most `cap`."""
    if count >= cap:
        raise Validation(
            N_("`{field}` holds at most {cap:,} items; remove one first.", field=field, cap=cap),
            field=field,
            limit=cap,
        )


def customer_fields(fields: dict[str, Any], caps: ListCaps | None = None) -> dict[str, Any]:
    """Checked customer fields (any subset: creation or an edit); lists held to `caps`
    when given (the use cases give them; the CSV reader checks the rest early)."""
    if "name" in fields:
        fields = {**fields, "name": company_name(fields["name"])}
    check_widths(Customer, fields)
    if fields.get("tax_id"):
        _fits_key(tax_key(fields["tax_id"]), "taxId")
    value = fields.get("deal_value")
    if value is not None and (not math.isfinite(value) or value < 0):
        raise Validation(N_("The deal value must be a number of zero or more."), field="dealValue")
    tags = fields.get("tags") or []
    if caps is not None:
        within(tags, caps.max_tags, "tags")
    for tag in tags:
        if not tag.strip() or len(tag) > TAG_LENGTH or text_problem(tag, TAG_LENGTH):
            raise Validation(
                N_("Tags are 1 to {TAG_LENGTH} characters.", TAG_LENGTH=TAG_LENGTH), field="tags"
            )
    return fields


def contacts(items: list[dict[str, Any]], caps: ListCaps | None = None) -> list[dict[str, Any]]:
    if caps is not None:
        within(items, caps.max_contacts, "contacts")
    for contact in items:
        if not (contact.get("name") or "").strip():
            raise Validation(N_("Every contact needs a name."), field="contacts")
        email = contact.get("email")
        if email and "@" not in email:
            raise Validation(
                N_("{email!r} is not an email address.", email=email), field="contacts.email"
            )
        if email:
            _fits_key(email_domain_key(email), "contacts.email")
        if phone := contact.get("phone"):
            _fits_key(phone_key(phone), "contacts.phone")
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
            raise Validation(N_("Give a {field}.", field=field), field=field)
        return None
    if len(value) > limit:
        raise Validation(
            N_("The {field} is longer than {limit} characters.", field=field, limit=limit),
            field=field,
        )
    if problem := text_problem(value, limit):
        raise Validation(N_("The {field}: {problem}", field=field, problem=problem), field=field)
    return value


# As wide as a customer's name: a longer search could match nothing, and a pattern of
# ~50k characters is more than SQLite's LIKE accepts.
SEARCH_LENGTH = 200


def search_term(value: str | None, field: str) -> str | None:
    if value is not None and len(value) > SEARCH_LENGTH:
        raise Validation(
            N_(
                "`{field}` is at most {SEARCH_LENGTH} characters.",
                field=field,
                SEARCH_LENGTH=SEARCH_LENGTH,
            ),
            field=field,
        )
    return value


def reason(value: str | None) -> str:
    return text(value, "reason") or ""
