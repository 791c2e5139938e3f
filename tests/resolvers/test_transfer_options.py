"""cancelTransfer, and transfers that keep the previous owner on as a collaborator, through
the API on both backends."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from db.models import AuditEntry, Customer, OwnershipEvent, Reminder
from tests.conftest import Api, errors_of

REQUEST = """
mutation R($input: RequestTransferInput!) {
  requestTransfer(input: $input) { id status }
}
"""
CANCEL = """
mutation C($id: ID!) {
  cancelTransfer(id: $id) { id status customers { id } }
}
"""
DECIDE = """
mutation D($id: ID!) { decideTransfer(id: $id, approve: true) { id status } }
"""


async def request(api: Api, as_user: str, ids: list[int], to: str, **extra: Any) -> str:
    variables = {
        "input": {
            "customerIds": [str(i) for i in ids],
            "toUserId": str(await api.user_id(to)),
            "kind": "REASSIGNMENT",
            "reason": "Bob covers this account now.",
            **extra,
        }
    }
    return str((await api.ok(REQUEST, variables, as_user=as_user))["requestTransfer"]["id"])


async def approval_reminders(api: Api, tid: str) -> list[str]:
    async with api.services.db.read() as s:
        stmt = select(Reminder.status).where(
            Reminder.kind == "TRANSFER_APPROVAL", Reminder.ref_id == int(tid)
        )
        return sorted((await s.execute(stmt)).scalars())


async def test_the_requester_cancels_a_pending_request(api: Api) -> None:
    ids = await api.owned("alice@demo.test", 2)
    tid = await request(api, "alice@demo.test", ids, "bob@demo.test")
    assert await approval_reminders(api, tid) == ["PENDING", "PENDING"]

    # Bob, a party, sees it but may not cancel it; Carol (West) cannot see it at all.
    assert errors_of(await api.gql(CANCEL, {"id": tid}, as_user="bob@demo.test")) == ["FORBIDDEN"]
    assert errors_of(await api.gql(CANCEL, {"id": tid}, as_user="carol@demo.test")) == ["NOT_FOUND"]
    assert errors_of(await api.gql(CANCEL, {"id": "9999999"}, as_user="alice@demo.test")) == [
        "NOT_FOUND"
    ]

    cancelled = (await api.ok(CANCEL, {"id": tid}, as_user="alice@demo.test"))["cancelTransfer"]
    assert cancelled["status"] == "CANCELLED"
    assert sorted(int(c["id"]) for c in cancelled["customers"]) == ids
    assert await approval_reminders(api, tid) == ["CANCELLED", "CANCELLED"]
    async with api.services.db.read() as s:
        marks = set(
            (
                await s.execute(select(Customer.pending_transfer_id).where(Customer.id.in_(ids)))
            ).scalars()
        )
        audited = await s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "transfer.cancel")
        )
        moved = await s.scalar(
            select(func.count())
            .select_from(OwnershipEvent)
            .where(OwnershipEvent.customer_id.in_(ids), OwnershipEvent.kind == "TRANSFERRED")
        )
    assert marks == {None} and audited == 1 and moved == 0

    # No longer pending: a second cancel and a late approval conflict; the customers are free.
    assert errors_of(await api.gql(CANCEL, {"id": tid}, as_user="alice@demo.test")) == ["CONFLICT"]
    assert errors_of(await api.gql(DECIDE, {"id": tid}, as_user="bob@demo.test")) == ["CONFLICT"]
    await request(api, "alice@demo.test", ids, "bob@demo.test")


async def test_an_executed_request_cannot_be_cancelled(api: Api) -> None:
    ids = await api.owned("bob@demo.test")
    # The manager of both sides' team: it executes at once.
    tid = await request(api, "manager.east@demo.test", ids, "alice@demo.test")
    body = await api.gql(CANCEL, {"id": tid}, as_user="manager.east@demo.test")
    assert errors_of(body) == ["CONFLICT"]
