"""Duplicate keys: the exact forms under which two customers are the same company.

Company names fold case, full-width characters, whitespace, punctuation and legal
suffixes (有限公司, Co., Ltd., GmbH, ...). Group words (集团, Group, Holdings) are part of
the name: 东方医药集团 and 东方医药有限公司 are different companies. Phones are E.164 numbers
(`phonenumbers`, parsed in a default region); emails give their domain unless it is a
public mail service. Changing how a key is computed needs a migration that recomputes the
stored keys (0012 does it for this version: `KEYS_VERSION`).
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

from db.enums import KeyKind

DEFAULT_REGION = "CN"

# Longest first, so "股份有限公司" is removed before "有限公司".
_LEGAL_SUFFIXES = sorted(
    {
        "股份有限公司",
        "有限责任公司",
        "有限公司",
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


def phone_key(phone: str, region: str = DEFAULT_REGION) -> str:
    """E.164 (+8613800138000) when `phonenumbers` can read it as a possible number in
    `region` (written with +, 00 or the trunk 0 alike); else the digits alone."""
    text = unicodedata.normalize("NFKC", phone)
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return re.sub(r"\D", "", text)


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
    region: str = DEFAULT_REGION,
) -> set[tuple[str, str]]:
    """Every exact key of one customer, as (kind, value) pairs."""
    keys: set[tuple[str, str]] = set()
    if name and (key := company_key(name)):
        keys.add((KeyKind.NAME, key))
    if tax_id and (key := tax_key(tax_id)):
        keys.add((KeyKind.TAX_ID, key))
    for phone in phones or []:
        if len((key := phone_key(phone, region)).lstrip("+")) >= 6:
            keys.add((KeyKind.PHONE, key))
    for email in emails or []:
        if domain := email_domain_key(email):
            keys.add((KeyKind.EMAIL_DOMAIN, domain))
    return keys
