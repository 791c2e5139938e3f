"""disputeUpdated(since): disputes replay by cursor like the other subscriptions, then
continue live, each change once across a reconnect."""

from __future__ import annotations

from typing import Any

from schema.pagination import encode_cursor
from tests.conftest import Api
from tests.subscriptions.test_live import OPEN_DISPUTE, connect, create, listening, told

DISPUTES = """
subscription Disputes($since: String, $customerId: ID) {
  disputeUpdated(since: $since, customerId: $customerId) { id cursor status }
}
"""


async def dispute(api: Api, owner: str = "alice@demo.test") -> str:
    """A dispute bob opens on a new customer of `owner`; its global id."""
    customer = await create(api, owner, "replayed")
    await told(api, "bob@demo.test", customer)
    opened = await api.ok(OPEN_DISPUTE, {"customerId": customer}, as_user="bob@demo.test")
    return str(opened["openDispute"]["id"])


async def subscribed(api: Api, live: Any, variables: dict[str, Any]) -> str:
    listeners = api.services.bus.subscriber_count("disputes")
    op = await live.subscribe(DISPUTES, variables)
    await listening(api.services.bus, "disputes", listeners)
    return op


async def test_a_reconnect_with_the_last_cursor_misses_nothing_and_repeats_nothing(
    api: Api,
) -> None:
    token = await api.token("alice@demo.test")
    async with connect(api.app, token) as live:
        op = await subscribed(api, live, {})
        first = await dispute(api)
        got = (await live.next(op))["disputeUpdated"]
    assert got["id"] == first and got["cursor"]

    # Disconnected: two more disputes open, one about carol's customer (alice cannot see it).
    missed = [await dispute(api), await dispute(api, "carol@demo.test"), await dispute(api)]
    async with connect(api.app, token) as live:
        op = await subscribed(api, live, {"since": got["cursor"]})
        replayed = [(await live.next(op))["disputeUpdated"] for _ in range(2)]
        assert [d["id"] for d in replayed] == [missed[0], missed[2]]
        # Then live, after the replay: the next one, not a repeat.
        after = await dispute(api)
        assert (await live.next(op))["disputeUpdated"]["id"] == after
        last = replayed[-1]["cursor"]

    async with connect(api.app, token) as live:
        op = await subscribed(api, live, {"since": last})
        assert (await live.next(op))["disputeUpdated"]["id"] == after
        newest = await dispute(api)
        assert (await live.next(op))["disputeUpdated"]["id"] == newest


async def test_without_since_only_what_changes_from_now_on(api: Api) -> None:
    before = await dispute(api)
    async with connect(api.app, await api.token("alice@demo.test")) as live:
        op = await subscribed(api, live, {})
        now = await dispute(api)
        got = (await live.next(op))["disputeUpdated"]
    assert got["id"] == now != before


async def test_replay_from_the_start_keeps_to_what_the_caller_may_see(api: Api) -> None:
    west = await dispute(api, "carol@demo.test")
    east = await dispute(api)
    async with connect(api.app, await api.token("carol@demo.test")) as live:
        op = await subscribed(api, live, {"since": encode_cursor(0)})
        seen = []
        while west not in seen:
            seen.append((await live.next(op))["disputeUpdated"]["id"])
    assert east not in seen and len(seen) == len(set(seen))
