"""Every text a client reads, in its language: one catalogue per locale (gettext, through
Babel), one function that renders a message.

A message is written in English where it is raised, marked with `N_` for `pybabel
extract`, with its values as named parameters: `N_("{name} is deactivated.", name=...)`.
It stays a `str` (its English rendering), so code that only passes it on is unchanged; it
is rendered in the reader's language where it leaves the server (schema/errors.py, the
reminder texts). A text with no translation in the reader's language falls back to the
translation of its error code, with the English detail after it: a new error needs one
catalogue entry, for its code.

The catalogues are `kernel/locale/<locale>/LC_MESSAGES/ownergraph.po`, extracted from the
code (`make messages`), and `codes.po` beside it, written by hand: one entry per error code
(msgid the code). A `.mo` older than its `.po`, or missing, is compiled in memory at first
use (`make messages` compiles them too).
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from string import Formatter
from typing import Any

LOCALES = ("zh_CN", "en")
SOURCE_LOCALE = "en"
DOMAIN = "ownergraph"
# Hand-written: what each error code means, and how a fallback joins it to its detail.
CODES_DOMAIN = "codes"
FALLBACK = "{summary} ({detail})"
LOCALE_DIR = Path(__file__).with_name("locale")

# The locale of the request being served (set from Accept-Language at the edge).
current_locale: ContextVar[str] = ContextVar("ownergraph_locale", default="zh_CN")


class Message(str):
    """An English text that knows its template and parameters, for rendering in another
    language later."""

    template: str
    params: Mapping[str, Any]

    def __new__(cls, template: str, params: Mapping[str, Any]) -> Message:
        text = _fill(template, params, lambda value: str(value))
        made = super().__new__(cls, text)
        made.template = template
        made.params = dict(params)
        return made


def N_(template: str, **params: Any) -> Message:  # noqa: N802 - gettext's own name
    """Mark `template` for the catalogue; fill in `params` when rendered."""
    return Message(template, params)


def normalize(tag: str | None) -> str | None:
    """`zh-CN`, `zh_cn`, `zh-Hans`, `zh` -> `zh_CN`; `en-GB` -> `en`; others -> None."""
    if not tag:
        return None
    parts = tag.strip().replace("_", "-").lower().split("-")
    if parts[0] == "zh":
        return "zh_CN"
    if parts[0] == "en":
        return "en"
    return None


def negotiate(accept_language: str | None, default: str) -> str:
    """The best of LOCALES for an Accept-Language header (RFC 9110 q-values), else
    `default`."""
    chosen = normalize(default) or "zh_CN"
    best = 0.0
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, rest = item.partition(";")
        quality = 1.0
        for param in rest.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        locale = normalize(tag)
        # Earlier entries win ties, as the header lists preferences in order.
        score = quality - position * 1e-6
        if locale is not None and quality > 0 and score > best:
            chosen, best = locale, score
    return chosen


@contextmanager
def speaking(locale: str) -> Iterator[None]:
    token = current_locale.set(locale)
    try:
        yield
    finally:
        current_locale.reset(token)


# Codes whose message is a protocol's own word that clients match exactly (Apollo's and
# urql's persisted queries look for "PersistedQueryNotFound"): never translated.
VERBATIM_CODES = frozenset({"PERSISTED_QUERY_NOT_FOUND"})


def render(text: str, code: str | None = None, locale: str | None = None) -> str:
    """`text` in `locale` (the current request's by default). An untranslated text is
    the translation of `code` with the English detail after it."""
    if code in VERBATIM_CODES:
        return str(text)
    locale = locale or current_locale.get()
    translated = _translate(text, locale)
    if translated is not None:
        return translated
    if code is None:
        return str(text)
    summary = code_text(code, locale)
    joined = _catalogue(locale, CODES_DOMAIN).gettext(FALLBACK)
    return joined.format(summary=summary, detail=str(text))


def code_text(code: str, locale: str | None = None) -> str:
    """What an error code means, in `locale` (the code itself when no catalogue knows)."""
    locale = locale or current_locale.get()
    found = _catalogue(locale, CODES_DOMAIN).gettext(code)
    if found == code:
        found = _catalogue(SOURCE_LOCALE, CODES_DOMAIN).gettext(code)
    return found


def _translate(text: str, locale: str) -> str | None:
    """`text` in `locale`, or None when the catalogue has no translation of it."""
    template = text.template if isinstance(text, Message) else str(text)
    found: str | None
    if locale == SOURCE_LOCALE:
        found = _gettext(locale, template)
    else:
        found = _gettext(locale, template) if template else None
        if found is None or found == template:
            return None
    if not isinstance(text, Message):
        return found
    return _fill(found, text.params, lambda value: _value(value, locale))


def _value(value: Any, locale: str) -> str:
    if isinstance(value, Message):
        return _translate(value, locale) or str(value)
    return str(value)


def _fill(template: str, params: Mapping[str, Any], show: Any) -> str:
    """str.format with `params`, where nested messages are rendered by `show`; a
    conversion (!r) or a format spec applies to the raw value."""
    out: list[str] = []
    for literal, field, spec, conversion in Formatter().parse(template):
        out.append(literal)
        if field is None:
            continue
        value = params.get(field, "{" + field + "}")
        if conversion == "r":
            shown = repr(str(value) if isinstance(value, Message) else value)
            out.append(format(shown, spec or ""))
        elif spec:
            out.append(format(value, spec))
        else:
            out.append(show(value))
    return "".join(out)


def _gettext(locale: str, template: str) -> str:
    return _catalogue(locale).gettext(template)


@lru_cache
def _catalogue(locale: str, domain: str = DOMAIN) -> gettext.NullTranslations:
    po = LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fp:
            return gettext.GNUTranslations(fp)
    if not po.exists():
        return gettext.NullTranslations()
    return gettext.GNUTranslations(io.BytesIO(compile_po(po)))


def compile_po(po: Path) -> bytes:
    """The .mo bytes of a .po file (what `pybabel compile` writes)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as fp:
        catalog = read_po(fp)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()
