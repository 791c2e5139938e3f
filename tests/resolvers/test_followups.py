"""logFollowUp: who may log, and what it resets."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import Api, errors_of

CREATE = (
    "mutation($n: String!) { createCustomer(input: {name: $n, tier: A}) { id nextFollowUpDue } }"
)
LOG = """
mutation L($input: LogFollowUpInput!) {
  logFollowUp(input: $input) {
    id at channel summary author { email }
    customer {
      lastFollowUpAt nextFollowUpDue latestFollowUp { summary }
      followUps { edges { node { summary } } }
    }
  }
}
"""


async def test_logging_sets_last_and_next_and_lists_newest_first(api: Api) -> None:
    token = await api.token("alice@demo.test")
    cid = (await api.ok(CREATE, {"n": "Falcon Optics"}, token=token))["createCustomer"]["id"]
    now = api.services.clock.now()
    first = await api.ok(
        LOG, {"input": {"customerId": cid, "channel": "CALL", "summary": "intro"}}, token=token
    )
    customer = first["logFollowUp"]["customer"]
    assert customer["lastFollowUpAt"] == now.isoformat()
    assert customer["nextFollowUpDue"] == (now + timedelta(days=30)).isoformat()  # tier A cadence
    nxt = now + timedelta(days=7)
    second = await api.ok(
        LOG,
        {
            "input": {
                "customerId": cid,
                "channel": "VISIT",
                "summary": "demo",
                "nextFollowUpAt": nxt.isoformat(),
            }
        },
        token=token,
    )
    customer = second["logFollowUp"]["customer"]
    assert customer["nextFollowUpDue"] == nxt.isoformat()
    assert customer["latestFollowUp"]["summary"] == "demo"
    assert [e["node"]["summary"] for e in customer["followUps"]["edges"]] == ["demo", "intro"]


async def test_who_may_log(api: Api) -> None:
    cid = (await api.ok(CREATE, {"n": "Heron Paper"}, as_user="alice@demo.test"))["createCustomer"][
        "id"
    ]
    payload = {"input": {"customerId": cid, "channel": "EMAIL", "summary": "x"}}
    assert not (await api.gql(LOG, payload, as_user="manager.east@demo.test")).get("errors")
    assert errors_of(await api.gql(LOG, payload, as_user="bob@demo.test")) == ["NOT_FOUND"]
    assert errors_of(await api.gql(LOG, payload, as_user="carol@demo.test")) == ["NOT_FOUND"]
    assert errors_of(await api.gql(LOG, payload, as_user="audit@demo.test")) == ["FORBIDDEN"]


async def test_bad_follow_ups_are_rejected(api: Api) -> None:
    token = await api.token("alice@demo.test")
    cid = (await api.ok(CREATE, {"n": "Ibis Glass"}, token=token))["createCustomer"]["id"]
    now = api.services.clock.now()
    for extra in (
        {"summary": "  "},
        {"at": (now + timedelta(days=1)).isoformat()},
        {"nextFollowUpAt": (now - timedelta(days=1)).isoformat()},
    ):
        payload = {"input": {"customerId": cid, "channel": "CALL", "summary": "s", **extra}}
        assert errors_of(await api.gql(LOG, payload, token=token)) == ["VALIDATION"], extra
