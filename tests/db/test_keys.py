"""Duplicate keys: the same company written differently folds to one key."""

from __future__ import annotations

import pytest

from db.keys import company_key, customer_keys, email_domain_key, phone_key, tax_key


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Acme Co., Ltd.", "ACME co ltd"),
        ("Acme Co., Ltd.", "ＡＣＭＥ　Ｃｏ．，Ｌｔｄ．"),
        ("上海华为技术有限公司", "上海华为技术股份有限公司"),
        ("上海华为技术有限公司", "上海 华为 技术"),
        ("Siemens AG", "siemens"),
        ("Foo-Bar Inc.", "foo bar incorporated"),
        ("阿里巴巴（中国）有限公司", "阿里巴巴(中国)"),
    ],
)
def test_same_company(a: str, b: str) -> None:
    assert company_key(a) == company_key(b)


@pytest.mark.parametrize(
    ("a", "b"), [("Acme", "Acmeco"), ("Group", "Groupe"), ("Ltd Partners", "Partners")]
)
def test_different_companies(a: str, b: str) -> None:
    assert company_key(a) != company_key(b)


def test_a_suffix_alone_is_still_a_name() -> None:
    assert company_key("Ltd") == "ltd"


def test_group_words_are_part_of_the_name() -> None:
    assert company_key("东方医药集团") != company_key("东方医药有限公司")
    assert company_key("东方医药集团有限公司") == company_key("东方医药集团")
    assert company_key("Acme Group Co., Ltd.") == "acmegroup" != company_key("Acme Inc.")


def test_phones_follow_the_default_region() -> None:
    assert phone_key("(415) 555-0100", region="US") == phone_key("+1 415 555 0100")


@pytest.mark.parametrize(
    "phone",
    [
        "+86 138-0013-8000",
        "13800138000",
        "0086 138 0013 8000",
        "(+86)13800138000",
        "１３８ ００１３ ８０００",
    ],
)
def test_mobile_numbers(phone: str) -> None:
    assert phone_key(phone) == "+8613800138000"


def test_landlines_with_and_without_trunk_and_country_code() -> None:
    assert phone_key("021 6123 4567") == phone_key("+86 (21) 61234567") == "+862161234567"


def test_tax_ids_and_domains() -> None:
    assert tax_key("9144 0300-xy") == tax_key("91440300XY")
    assert email_domain_key("Boss@Quasar.COM ") == "quasar.com"
    assert email_domain_key("someone@gmail.com") is None
    assert email_domain_key("broken") is None


def test_customer_keys_skip_what_is_too_short_to_mean_anything() -> None:
    keys = customer_keys(name="Acme", phones=["123"], emails=["x@qq.com"])
    assert keys == {("name", "acme")}
