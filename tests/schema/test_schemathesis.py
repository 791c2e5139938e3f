"""schemathesis against the GraphQL endpoint: documents for every root field of the
committed schema (schemathesis's GraphQL support, its own scalar strategies), sent
through the real app as an ADMIN (who may reach every resolver), a REP and a partner. No
answer may be a 5xx, an INTERNAL error, a traceback or SQL.

schemathesis's own runner calls the app through a synchronous client on another event
loop, which the app's async database connections cannot cross; so its strategies drive
the test and the request goes through the suite's `api` client."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api
from tests.schema.test_leaks import send

SCHEMA = schemathesis.graphql.from_path(str(Path(__file__).parents[2].joinpath("schema.graphql")))
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CASES = st.one_of(*[operation.as_strategy() for operation in OPERATIONS])
CALLERS = st.sampled_from(["admin@demo.test", "bob@demo.test", None])


def test_every_root_field_is_covered() -> None:
    labels = {operation.label for operation in OPERATIONS}
    assert {"Query.customers", "Mutation.createCustomer", "Mutation.openDispute"} <= labels
    assert len(labels) >= 35


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=CASES, caller=CALLERS)
async def test_no_answer_is_a_crash_a_trace_or_sql(
    api: Api, case: object, caller: str | None
) -> None:
    if caller is None:
        token = await api.token(partner="acme-channel", scopes=["customer:*", "followup:read"])
    else:
        token = await api.token(caller)
    await send(api, str(case.body), token)  # type: ignore[attr-defined]
