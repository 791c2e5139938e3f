"""A refusal says in plain words what the caller may not do."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Customer
from tests.conftest import Api, errors_of

STATS = "{ ownershipStats { poolSize } }"
AUDIT_LOG = "{ auditLog(first: 1) { totalCount } }"
ADD = """
mutation A($c: ID!, $u: ID!) {
  addCollaborator(customerId: $c, userId: $u, role: CLOSER, creditShare: 10) { id }
}
"""
FOLLOW_UP = """
mutation F($c: ID!) {
  logFollowUp(input: {customerId: $c, channel: CALL, summary: "hello"}) { id }
}
"""


async def refusal(api: Api, query: str, variables: dict[str, str] | None = None) -> str:
    body = await api.gql(query, variables, as_user="alice@demo.test")
    assert errors_of(body) == ["FORBIDDEN"], body
    return str(body["errors"][0]["message"])


async def test_refusals_read_as_plain_sentences(api: Api) -> None:
    async with api.services.db.read() as s:
        pooled = await s.scalar(select(Customer.id).where(Customer.owner_id.is_(None)).limit(1))
    bob = str(await api.user_id("bob@demo.test"))
    assert await refusal(api, STATS) == "You may not read ownership statistics."
    assert await refusal(api, AUDIT_LOG) == "You may not read the audit log."
    assert (
        await refusal(api, ADD, {"c": str(pooled), "u": bob})
        == "You may not change the collaborators of this customer."
    )
    assert (
        await refusal(api, FOLLOW_UP, {"c": str(pooled)})
        == "You may not log follow-ups on this customer."
    )
