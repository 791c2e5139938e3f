"""The old owner's event: when a customer moves away from a subscriber, the event they
are entitled to arrives with a minimal view of the customer, never as an error."""

from __future__ import annotations

from tests.conftest import Api, db_id
from tests.subscriptions.test_live import TRANSFER, connect, create, last_event

MOVES = """
subscription Moves($since: String) {
  ownershipChanged(since: $since) {
    id cursor kind toOwner { email }
    customer {
      id name industry region size source tags owner { email } team { name } tier stage
      inPool collaborators { role } contacts { name } taxId dealValue createdBy { email }
      lastFollowUpAt nextFollowUpDue latestFollowUp { summary }
      followUps { edges { node { summary } } } ownershipHistory { edges { node { id } } }
      openDisputes { id }
    }
  }
}
"""
WITHHELD = {
    "industry": None,
    "region": None,
    "size": None,
    "source": None,
    "tags": [],
    "owner": None,
    "team": None,
    "collaborators": [],
    "contacts": [],
    "taxId": None,
    "dealValue": None,
    "createdBy": None,
    "lastFollowUpAt": None,
    "nextFollowUpDue": None,
    "latestFollowUp": None,
    "followUps": {"edges": []},
    "ownershipHistory": {"edges": []},
    "openDisputes": [],
}


async def test_the_old_owner_gets_the_transfer_with_a_minimal_customer(api: Api) -> None:
    customer = await create(api, "alice@demo.test", "moving away")
    _, cursor = await last_event(api, customer)
    bob = await api.user_id("bob@demo.test")
    async with connect(api.app, await api.token("alice@demo.test")) as live:
        op = await live.subscribe(MOVES, {"since": cursor})
        await api.ok(TRANSFER, {"ids": [customer], "to": bob}, as_user="manager.east@demo.test")
        message = await live.message(op)
        # Still hers: a customer she creates later arrives in full, after the transfer.
        mine = await create(api, "alice@demo.test", "still mine")
        after = await live.message(op)

    assert message["type"] == "next"
    payload = message["payload"]
    assert "errors" not in payload
    event = payload["data"]["ownershipChanged"]
    assert (event["kind"], event["toOwner"]) == ("TRANSFERRED", {"email": "bob@demo.test"})
    seen = event["customer"]
    assert db_id(seen["id"]) == int(customer)
    assert seen["name"].startswith("Live moving away")
    assert {k: seen[k] for k in WITHHELD} == WITHHELD
    # The non-null scalars keep their stored values (the contract allows no null).
    assert (seen["inPool"], seen["stage"]) == (False, "LEAD")
    assert sorted(payload["extensions"]["maskedFields"]) == sorted(
        f"ownershipChanged.customer.{k}" for k in WITHHELD
    )

    assert after["type"] == "next" and "errors" not in after["payload"]
    full = after["payload"]["data"]["ownershipChanged"]["customer"]
    assert db_id(full["id"]) == int(mine)
    assert full["owner"] == {"email": "alice@demo.test"}
    assert "maskedFields" not in (after["payload"].get("extensions") or {})
