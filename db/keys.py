"""Duplicate keys: the exact forms under which two customers are the same company.

Company names fold case, full-width characters, whitespace, punctuation and legal
suffixes (有限公司, Co., Ltd., GmbH, ...); phones keep digits only; emails give their
domain unless it is a public mail service.
"""

from __future__ import annotations

import re
import unicodedata

from db.enums import KeyKind

# Longest first, so "股份有限公司" is removed before "有限公司".
_LEGAL_SUFFIXES = sorted(
    {
        "股份有限公司",
        "有限责任公司",
        "有限公司",
        "集团公司",
        "集团",
        "公司",
        "分公司",
        "company limited",
        "co ltd",
        "co",
        "ltd",
        "limited",
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "llc",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "srl",
        "bv",
        "kk",
        "pte",
        "pty",
        "holdings",
        "group",
    },
    key=len,
    reverse=True,
)
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
_SPACES = re.compile(r"\s+")
FREE_MAIL = frozenset(
    {
        "gmail.com",
        "outlook.com",
        "hotmail.com",
        "yahoo.com",
        "icloud.com",
        "163.com",
        "126.com",
        "qq.com",
        "foxmail.com",
        "sina.com",
        "sohu.com",
        "aliyun.com",
        "proton.me",
        "protonmail.com",
        "live.com",
        "msn.com",
        "yeah.net",
    }
)


def fold(text: str) -> str:
    """Width, case and spacing folded; punctuation becomes a single space."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", _PUNCT.sub(" ", text)).strip()


def company_key(name: str) -> str:
    words = fold(name)
    changed = True
    while changed and words:
        changed = False
        for suffix in _LEGAL_SUFFIXES:
            if words.endswith(suffix) and len(words) > len(suffix):
                head = words[: -len(suffix)]
                # Latin suffixes must stand as whole words; CJK ones attach directly.
                if suffix.isascii() and not head.endswith(" "):
                    continue
                words = head.rstrip()
                changed = True
                break
    return words.replace(" ", "")


def phone_key(phone: str) -> str:
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone))
    # The same phone written with the international prefix (00), China's country code
    # (86) or the trunk 0: +86 21 6123 4567, 0086 21..., 021 6123 4567 are one number.
    if digits.startswith("00"):
        digits = digits[2:]
    if digits.startswith("86") and len(digits) >= 12:
        digits = digits[2:]
    return digits.lstrip("0") if len(digits) > 8 else digits


def tax_key(tax_id: str) -> str:
    return re.sub(r"[\W_]", "", unicodedata.normalize("NFKC", tax_id)).upper()


def email_domain_key(email: str) -> str | None:
    _, _, domain = unicodedata.normalize("NFKC", email).strip().casefold().rpartition("@")
    domain = domain.strip(". ")
    if not domain or "." not in domain or domain in FREE_MAIL:
        return None
    return domain


def customer_keys(
    *,
    name: str | None,
    tax_id: str | None = None,
    phones: list[str] | None = None,
    emails: list[str] | None = None,
) -> set[tuple[str, str]]:
    """Every exact key of one customer, as (kind, value) pairs."""
    keys: set[tuple[str, str]] = set()
    if name and (key := company_key(name)):
        keys.add((KeyKind.NAME, key))
    if tax_id and (key := tax_key(tax_id)):
        keys.add((KeyKind.TAX_ID, key))
    for phone in phones or []:
        if len(key := phone_key(phone)) >= 6:
            keys.add((KeyKind.PHONE, key))
    for email in emails or []:
        if domain := email_domain_key(email):
            keys.add((KeyKind.EMAIL_DOMAIN, domain))
    return keys
