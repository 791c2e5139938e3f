"""Property: whatever document anyone sends, nothing leaks.

Documents are generated from the committed schema (hypothesis-graphql: every root query and
mutation, nested paths and returned objects, random arguments) and sent through the real
app by every demo role and by partner tokens with random scopes. Each answer is checked
against a ground truth computed here from the raw tables (tests/schema/test_visibility.py's
reading of DESIGN.md's table, plus pending-transfer approvers), independently of authz/:

- no customer outside the caller's sight comes back, except as the minimal view (id and
  name only) of one that concerns them (their ownership history, their dispute);
- no masked field comes back non-null: sensitive fields where the role may not read them,
  and for partners no person at all (no User, Team, FollowUp or Dispute object);
- an id the caller may not see answers exactly as a missing one does;
- and no answer is a 5xx, INTERNAL, a traceback or SQL.

Documents are generated deterministically (derandomize), so CI sees the same run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import graphql
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries
from sqlalchemy import or_, select

from db.models import (
    Approval,
    Dispute,
    OwnershipEvent,
    Partner,
    TransferItem,
    TransferRequest,
    User,
)
from tests.conftest import DEMO_USERS, Api, db_id
from tests.schema.test_visibility import expected

SCHEMA = graphql.build_schema(Path(__file__).parents[2].joinpath("schema.graphql").read_text())
PARTNER_SCOPES = ["customer:read", "customer:*", "followup:read", "followup:*", "token:read"]
JUNK_IDS = ["abc", "1_2", "-1", "0", " 12", "99999999999999999999999", "2147483648", ""]
IDS = st.one_of(st.integers(1, 450).map(str), st.sampled_from(JUNK_IDS)).map(nodes.String)
TIMES = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(lambda t: t.isoformat()),
    st.sampled_from(["2026-06-01", "not a time", "9999-12-31T23:59:59"]),
).map(nodes.String)
# Mostly page sizes that answer something; now and then one that must be refused.
INTS = st.one_of(st.integers(1, 100), st.integers(1, 100), st.sampled_from([0, -1, 2**31])).map(
    nodes.Int
)
SCALARS = {"ID": IDS, "DateTime": TIMES, "Int": INTS}
# Half the documents read customers directly, where most fields are; the rest roam.
CUSTOMER_ROOTS = ["customer", "customers", "pool", "ownershipEvents", "disputes"]
# Random documents seldom reach the fields that matter with real rows behind them; these
# read pages of customers with a random choice of the guarded fields.
GUARDED_SELECTIONS = [
    "taxId",
    "dealValue",
    "contacts { name phone email }",
    "owner { email }",
    "createdBy { email }",
    "team { name members { email } }",
    "collaborators { user { email } }",
    "latestFollowUp { summary author { email } }",
    "followUps(first: 3) { edges { node { author { email } } } }",
    "openDisputes { evidence claimant { email } }",
    "ownershipHistory(first: 3) { edges { node { actor { email } } } }",
]
PAGES = st.builds(
    lambda root, fields: (
        "{ " + root + " { edges { node { id " + " ".join(sorted(fields)) + " } } } }"
    ),
    st.sampled_from(
        ["customers(first: 100)", "pool(first: 50)", 'customers(first: 100, after: "MTUw")']
    ),
    st.sets(st.sampled_from(GUARDED_SELECTIONS), min_size=1),
)
DOCUMENTS = st.one_of(
    PAGES,
    queries(SCHEMA, fields=CUSTOMER_ROOTS, custom_scalars=SCALARS),
    queries(SCHEMA, fields=CUSTOMER_ROOTS, custom_scalars=SCALARS),
    queries(SCHEMA, custom_scalars=SCALARS),
    mutations(SCHEMA, custom_scalars=SCALARS),
)
CALLERS = st.one_of(
    st.sampled_from(DEMO_USERS),
    st.sets(st.sampled_from(PARTNER_SCOPES), min_size=1).map(lambda s: tuple(sorted(s))),
)
LEAK_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# What no answer may contain.
TELLTALES = ("Traceback", "sqlalchemy", "SELECT ", "asyncpg", "aiosqlite", 'File "')
# Fields of a customer that tell something beyond its id and name.
VALUES = {"industry", "region", "size", "source", "owner", "team", "taxId", "dealValue"}
VALUES |= {"createdBy", "lastFollowUpAt", "nextFollowUpDue", "latestFollowUp"}
LISTS = {"tags", "collaborators", "contacts", "openDisputes"}
CONNECTIONS = {"followUps", "ownershipHistory"}
STAFF = {"owner": None, "createdBy": None, "team": None, "latestFollowUp": None}
STAFF_LISTS = {"collaborators", "openDisputes"}
PEOPLE = {"User", "Team", "FollowUp", "Dispute", "Collaborator", "CreditShare", "AuditEntry"}
CUSTOMER_ID = "leakId"


def instrument(document: str) -> str:
    """Ask for every object's `__typename`, and every possible customer's id, so the answer
    can be checked whatever the document selected."""
    ast = graphql.parse(document)
    info = graphql.TypeInfo(SCHEMA)
    customer = SCHEMA.get_type("Customer")
    typename = graphql.FieldNode(name=graphql.NameNode(value="__typename"))
    spy = graphql.InlineFragmentNode(
        type_condition=graphql.NamedTypeNode(name=graphql.NameNode(value="Customer")),
        selection_set=graphql.SelectionSetNode(
            selections=(
                graphql.FieldNode(
                    alias=graphql.NameNode(value=CUSTOMER_ID), name=graphql.NameNode(value="id")
                ),
            )
        ),
    )

    class Spy(graphql.Visitor):
        def leave_selection_set(self, node: graphql.SelectionSetNode, *_: Any) -> Any:
            parent = info.get_parent_type()
            extra: tuple[graphql.SelectionNode, ...] = (typename,)
            if parent is customer or (
                graphql.is_abstract_type(parent) and SCHEMA.is_sub_type(parent, customer)  # type: ignore[arg-type]
            ):
                extra += (spy,)
            return graphql.SelectionSetNode(selections=(*node.selections, *extra))

    return graphql.print_ast(graphql.visit(ast, graphql.TypeInfoVisitor(info, Spy())))


@dataclass
class Truth:
    """What the caller may see, from the raw tables, before or after a document ran."""

    visible: set[int]
    sensitive: set[int]
    concerning: set[int]
    partner: bool

    def __or__(self, other: Truth) -> Truth:
        return Truth(
            self.visible | other.visible,
            self.sensitive | other.sensitive,
            self.concerning | other.concerning,
            self.partner,
        )


async def truth(api: Api, caller: str | tuple[str, ...]) -> Truth:
    if isinstance(caller, tuple):
        partner = await partner_id(api)
        visible, sensitive = await expected(api, None, partner=partner)
        return Truth(visible, sensitive, set(), True)
    visible, sensitive = await expected(api, caller)
    me = await api.user_id(caller)
    async with api.services.db.read() as s:
        approving = set(
            (
                await s.execute(
                    select(TransferItem.customer_id)
                    .join(TransferRequest, TransferRequest.id == TransferItem.transfer_id)
                    .join(Approval, Approval.transfer_id == TransferItem.transfer_id)
                    .where(TransferRequest.status == "PENDING", Approval.approver_id == me)
                )
            ).scalars()
        )
        history = set(
            (
                await s.execute(
                    select(OwnershipEvent.customer_id).where(
                        or_(
                            OwnershipEvent.from_user_id == me,
                            OwnershipEvent.to_user_id == me,
                            OwnershipEvent.actor_id == me,
                        )
                    )
                )
            ).scalars()
        )
        parties = set(
            (
                await s.execute(
                    select(Dispute.customer_id).where(
                        or_(
                            Dispute.claimant_id == me,
                            Dispute.respondent_id == me,
                            Dispute.arbiter_id == me,
                        )
                    )
                )
            ).scalars()
        )
        role = await s.scalar(select(User.role).where(User.id == me))
    if role in ("REP", "SERVICE"):
        visible |= approving
    return Truth(visible, sensitive, history | parties, False)


async def partner_id(api: Api) -> int:
    async with api.services.db.read() as s:
        found = await s.scalar(select(Partner.id).where(Partner.name == "acme-channel"))
    assert found is not None
    return found


async def token_for(api: Api, caller: str | tuple[str, ...]) -> str:
    if isinstance(caller, tuple):
        return await api.token(partner="acme-channel", scopes=list(caller))
    return await api.token(caller)


def field_of(key: str) -> str:
    """A response key's field: hypothesis-graphql aliases `name_Type` under fragments."""
    return key if key.startswith("__") else key.split("_")[0]


def empty(value: Any) -> bool:
    return value is None or value == [] or (isinstance(value, dict) and value.get("edges") == [])


def check(data: Any, known: Truth, where: str = "", customer: int | None = None) -> None:
    """Walk an answer: every object against what the caller may see."""
    if isinstance(data, list):
        for i, item in enumerate(data):
            check(item, known, f"{where}.{i}", customer)
        return
    if not isinstance(data, dict):
        return
    kind = data.get("__typename")
    values = {field_of(k): v for k, v in data.items()}
    if known.partner:
        assert kind not in PEOPLE, f"a partner was shown a {kind} at {where}"
    if kind == "Customer":
        ident = db_id(data[CUSTOMER_ID])
        customer = ident
        if ident not in known.visible:
            assert ident in known.concerning, f"customer {ident} leaked at {where}"
            for name, value in values.items():
                if name in VALUES | LISTS | CONNECTIONS:
                    assert empty(value), f"minimal view of {ident} shows {name} at {where}"
        if ident not in known.sensitive:
            for name in ("taxId", "dealValue"):
                assert values.get(name) is None, f"{name} of {ident} unmasked at {where}"
        if known.partner:
            for name, value in values.items():
                if name in STAFF or name in STAFF_LISTS or name == "followUps":
                    assert empty(value), f"{name} of {ident} shown to a partner at {where}"
    if kind == "Contact" and customer is not None and customer not in known.sensitive:
        for name in ("phone", "email"):
            assert values.get(name) is None, f"{name} of {customer}'s contact at {where}"
    for key, value in data.items():
        check(value, known, f"{where}.{key}", customer)


async def send(api: Api, document: str, token: str) -> dict[str, Any]:
    response = await api.client.post(
        "/graphql", json={"query": document}, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code < 500, response.text
    for telltale in TELLTALES:
        assert telltale not in response.text, response.text
    body: dict[str, Any] = response.json()
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
    assert "INTERNAL" not in codes, body
    return body


@settings(LEAK_SETTINGS, max_examples=150)
@given(document=DOCUMENTS, caller=CALLERS)
async def test_no_document_shows_anyone_more_than_theirs(
    api: Api, document: str, caller: str | tuple[str, ...]
) -> None:
    before = await truth(api, caller)
    body = await send(api, instrument(document), await token_for(api, caller))
    known = before | await truth(api, caller)
    check(body.get("data"), known)


# The invisible-id property: root fields whose every id is a customer's.
BY_CUSTOMER_ID = {
    "query": ["customer", "ownershipEvents"],
    "mutation": [
        "updateCustomer",
        "logFollowUp",
        "openDispute",
        "assignCustomer",
        "releaseToPool",
        "claimCustomer",
        "addCollaborator",
        "removeCollaborator",
    ],
}
SENTINEL = "424242424"
SAME_ID = {"ID": st.just(nodes.String(SENTINEL)), "DateTime": TIMES, "Int": INTS}
ONE_ID_DOCUMENTS = st.one_of(
    queries(SCHEMA, fields=BY_CUSTOMER_ID["query"], custom_scalars=SAME_ID),
    mutations(SCHEMA, fields=BY_CUSTOMER_ID["mutation"], custom_scalars=SAME_ID),
).filter(lambda d: SENTINEL in d)


async def hidden_id(api: Api, caller: str | tuple[str, ...]) -> int | None:
    """A customer the caller may not see and that does not concern them at all."""
    everything, _ = await expected(api, "admin@demo.test")
    known = await truth(api, caller)
    candidates = everything - known.visible - known.concerning
    return max(candidates) if candidates else None


def shape(body: dict[str, Any], ident: str) -> Any:
    return body.get("data"), [
        (e["message"].replace(ident, "ID"), e.get("extensions"), e.get("path"))
        for e in body.get("errors") or []
    ]


@LEAK_SETTINGS
@given(document=ONE_ID_DOCUMENTS, caller=CALLERS)
async def test_an_invisible_id_answers_exactly_like_a_missing_one(
    api: Api, document: str, caller: str | tuple[str, ...]
) -> None:
    hidden = await hidden_id(api, caller)
    if hidden is None:  # ADMIN, AUDITOR: nothing is invisible
        return
    everything, _ = await expected(api, "admin@demo.test")
    missing = str(max(everything) + 100_000)
    token = await token_for(api, caller)
    a = await send(api, document.replace(SENTINEL, str(hidden)), token)
    b = await send(api, document.replace(SENTINEL, missing), token)
    assert shape(a, str(hidden)) == shape(b, missing)
