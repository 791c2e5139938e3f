"""createCustomer (first entry, duplicate keys), updateCustomer (versions), through the API."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from db.models import AuditEntry, Customer, OwnershipEvent
from tests.conftest import Api, db_id, errors_of

CREATE = """
mutation C($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    id name version inPool owner { email } createdBy { email } taxId
    contacts { name phone email }
    ownershipHistory { edges { node { kind rule toOwner { email } } } }
  }
}
"""
CHECK = """
query D($name: String, $taxId: String) {
  duplicateCheck(input: {name: $name, taxId: $taxId}) { name ownerName teamName matchedOn }
}
"""
UPDATE = """
mutation U($id: ID!, $input: UpdateCustomerInput!, $v: Int) {
  updateCustomer(id: $id, input: $input, expectedVersion: $v) { id name tier version taxId }
}
"""


async def create(api: Api, email: str, **fields: object) -> dict:  # type: ignore[type-arg]
    body = await api.gql(CREATE, {"input": fields}, as_user=email)
    return body


async def test_first_entry_owns_and_records_one_event(api: Api) -> None:
    body = await create(
        api,
        "alice@demo.test",
        name="Nimbus Analytics Co., Ltd.",
        taxId="91310000MA1K",
        contacts=[{"name": "Li Wei", "phone": "+86 139-1234-5678", "email": "li@nimbus.cn"}],
    )
    customer = body["data"]["createCustomer"]
    assert customer["owner"]["email"] == customer["createdBy"]["email"] == "alice@demo.test"
    assert customer["version"] == 1 and not customer["inPool"]
    assert customer["contacts"][0]["phone"] == "+86 139-1234-5678"
    events = customer["ownershipHistory"]["edges"]
    assert [(e["node"]["kind"], e["node"]["rule"]) for e in events] == [("CREATED", "first_entry")]


async def test_duplicates_by_every_key_name_the_existing_owner(api: Api) -> None:
    await create(
        api,
        "alice@demo.test",
        name="Quasar Logistics Co., Ltd.",
        taxId="9144-0300-XY",
        contacts=[{"name": "Wang", "phone": "021 6123 4567", "email": "wang@quasar-logistics.com"}],
    )
    attempts = [
        {"name": "ＱＵＡＳＡＲ  logistics ltd"},  # full width, case, legal suffix
        {"name": "Quasar Logistics 有限公司"},
        {"name": "Something Else", "taxId": "9144 0300 xy"},
        {"name": "Else Again", "contacts": [{"name": "Z", "phone": "+86 (21) 61234567"}]},
        {"name": "Third", "contacts": [{"name": "Z", "email": "boss@QUASAR-logistics.com"}]},
    ]
    for fields in attempts:
        body = await create(api, "bob@demo.test", **fields)
        assert errors_of(body) == ["DUPLICATE_CUSTOMER"], fields
        ext = body["errors"][0]["extensions"]
        assert ext["ownerName"] and ext["customerName"] == "Quasar Logistics Co., Ltd."
        assert "9144" not in str(ext)  # name, owner and team only, never the data
    # Free mail domains are not company keys.
    a = await create(
        api, "bob@demo.test", name="Solo A", contacts=[{"name": "A", "email": "a@gmail.com"}]
    )
    b = await create(
        api, "bob@demo.test", name="Solo B", contacts=[{"name": "B", "email": "b@gmail.com"}]
    )
    assert not a.get("errors") and not b.get("errors")


async def test_two_reps_entering_one_company_at_once_one_wins(api: Api) -> None:
    tokens = [await api.token(e) for e in ("alice@demo.test", "bob@demo.test", "carol@demo.test")]
    bodies = await asyncio.gather(
        *(
            api.gql(CREATE, {"input": {"name": f"Helios Power {s}"}}, token=t)
            for t, s in zip(tokens, ("Co., Ltd.", "Ltd", "有限公司"), strict=True)
        )
    )
    codes = sorted(str(errors_of(b)) for b in bodies)
    assert codes == ["['DUPLICATE_CUSTOMER']", "['DUPLICATE_CUSTOMER']", "[]"]
    async with api.services.db.read() as s:
        assert await s.scalar(select(func.count()).where(Customer.name_key == "heliospower")) == 1


async def test_duplicate_check_reports_exact_and_similar(api: Api) -> None:
    await create(api, "carol@demo.test", name="Orchid Biotech GmbH", taxId="DE123")
    data = await api.ok(
        'query { duplicateCheck(input: {name: "orchid biotech", taxId: "de-123"}) { name ownerName teamName matchedOn } }',
        as_user="alice@demo.test",
    )
    assert data["duplicateCheck"][0] == {
        "name": "Orchid Biotech GmbH",
        "ownerName": "Carol",
        "teamName": "West",
        "matchedOn": ["name", "taxId"],
    } or data["duplicateCheck"][0]["matchedOn"] == ["name", "taxId"]
    similar = await api.ok(
        '{ duplicateCheck(input: {name: "Orchid Biotek"}) { matchedOn similarity } }',
        as_user="alice@demo.test",
    )
    assert similar["duplicateCheck"][0]["matchedOn"] == ["similarName"]
    assert 0.7 <= similar["duplicateCheck"][0]["similarity"] < 1


async def test_bad_input_is_a_validation_error_and_writes_nothing(api: Api) -> None:
    async with api.services.db.read() as s:
        before = await s.scalar(select(func.count()).select_from(Customer))
    for fields in (
        {"name": "   "},
        {"name": "..."},
        {"name": "Ok", "dealValue": -5},
        {"name": "x" * 201},
        {"name": "Ok2", "contacts": [{"name": " "}]},
    ):
        assert errors_of(await create(api, "alice@demo.test", **fields)) == ["VALIDATION"], fields
    async with api.services.db.read() as s:
        assert await s.scalar(select(func.count()).select_from(Customer)) == before


async def test_update_with_versions(api: Api) -> None:
    made = (await create(api, "alice@demo.test", name="Kestrel Foods"))["data"]["createCustomer"]
    token = await api.token("alice@demo.test")
    ok = await api.ok(UPDATE, {"id": made["id"], "input": {"tier": "A"}, "v": 1}, token=token)
    assert ok["updateCustomer"] == {
        "id": made["id"],
        "name": "Kestrel Foods",
        "tier": "A",
        "version": 2,
        "taxId": None,
    }
    stale = await api.gql(UPDATE, {"id": made["id"], "input": {"tier": "B"}, "v": 1}, token=token)
    assert errors_of(stale) == ["VERSION_CONFLICT"]
    assert stale["errors"][0]["extensions"]["currentVersion"] == 2
    # Two editors holding version 2 at once: exactly one wins.
    bodies = await asyncio.gather(
        api.gql(UPDATE, {"id": made["id"], "input": {"size": "50-100"}, "v": 2}, token=token),
        api.gql(UPDATE, {"id": made["id"], "input": {"size": "100-500"}, "v": 2}, token=token),
    )
    assert sorted(str(errors_of(b)) for b in bodies) == ["['VERSION_CONFLICT']", "[]"]
    # Renaming onto another company's key is a duplicate; the failed edit changes nothing.
    other = (await create(api, "alice@demo.test", name="Osprey Mining"))["data"]["createCustomer"]
    clash = await api.gql(
        UPDATE, {"id": other["id"], "input": {"name": "KESTREL FOODS LTD"}}, token=token
    )
    assert errors_of(clash) == ["DUPLICATE_CUSTOMER"]
    async with api.services.db.read() as s:
        row = await s.get(Customer, db_id(other["id"]))
        assert row is not None and row.name == "Osprey Mining" and row.version == 1
        audits = await s.scalar(
            select(func.count()).where(
                AuditEntry.customer_id == db_id(made["id"]), AuditEntry.action == "customer.update"
            )
        )
        events = await s.scalar(
            select(func.count()).where(OwnershipEvent.customer_id == db_id(made["id"]))
        )
    assert audits == 2 and events == 1


async def test_only_allowed_roles_update(api: Api) -> None:
    made = (await create(api, "alice@demo.test", name="Plover Textiles"))["data"]["createCustomer"]
    # bob (same team, not owner) cannot see it; the East manager may edit it; the auditor may not.
    assert errors_of(
        await api.gql(UPDATE, {"id": made["id"], "input": {"tier": "A"}}, as_user="bob@demo.test")
    ) == ["NOT_FOUND"]
    assert not (
        await api.gql(
            UPDATE, {"id": made["id"], "input": {"tier": "A"}}, as_user="manager.east@demo.test"
        )
    ).get("errors")
    assert errors_of(
        await api.gql(UPDATE, {"id": made["id"], "input": {"tier": "B"}}, as_user="audit@demo.test")
    ) == ["FORBIDDEN"]
    assert errors_of(
        await api.gql(
            UPDATE, {"id": made["id"], "input": {"tier": None}}, as_user="alice@demo.test"
        )
    ) == ["VALIDATION"]


async def test_over_long_text_is_a_validation_error_on_every_backend(api: Api) -> None:
    for fields in (
        {"name": "Long Region", "region": "r" * 81},
        {"name": "Long Contact", "contacts": [{"name": "n" * 121}]},
        {"name": "Bad Email", "contacts": [{"name": "n", "email": "not-an-email"}]},
        {"name": "Long Tag", "tags": ["t" * 41]},
    ):
        body = await create(api, "alice@demo.test", **fields)
        assert errors_of(body) == ["VALIDATION"], (fields, body)
        assert body["errors"][0]["extensions"]["field"]


async def test_a_customer_the_rules_give_away_comes_back_to_its_creator_masked(api: Api) -> None:
    from db.models import AssignmentRule

    carol = await api.user_id("carol@demo.test")
    async with api.services.db.write() as s, s.begin():
        s.add(
            # A rep's own entry leaves the rep's team only by a rule that says so.
            AssignmentRule(
                position=1,
                name="Zeta to Carol",
                region="Zeta",
                strategy="user",
                user_id=carol,
                cross_team=True,
            )
        )
    body = await create(
        api, "alice@demo.test", name="Zeta Works", region="Zeta", taxId="ZW-1", assignByRules=True
    )
    made = body["data"]["createCustomer"]
    assert made["owner"]["email"] == "carol@demo.test" and made["taxId"] is None
    assert body["extensions"]["maskedFields"] == ["createCustomer.taxId"]
    again = await api.gql(
        "query($id: ID!) { customer(id: $id) { id } }",
        {"id": made["id"]},
        as_user="alice@demo.test",
    )
    assert errors_of(again) == ["NOT_FOUND"]
