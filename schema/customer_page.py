"""Customers built in bulk from the selection.

A connection resolver reads its selection once (schema/selection.py), fetches the page as
Core rows with only the columns selected, then each selected relation for the whole page in
one statement (owners, creators and collaborators' users together), and builds plain
objects. The plan's masks are applied and the audit noted while building, once per row;
masked paths are written from the resolver's own path, the edge index and the response
key. Single customers (by id, a mutation's result, `FollowUp.customer`) are built by the
same code, their relations fetched through DataLoaders so siblings still batch.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import strawberry
from strawberry.types import Info
from strawberry.utils.str_converters import to_camel_case

from authz.fields import GUARDED, SENSITIVE
from db.customers import CustomerFilter, ScopedRow, count_customers
from db.enums import Role
from db.pools import HIDEABLE, Pools, due_times, pool_masks
from db.rows import (
    CUSTOMER,
    collaborators_of,
    contacts_of,
    latest_follow_ups,
    open_disputes_of,
    page_rows,
    teams_by_ids,
    users_by_ids,
)
from kernel.errors import NotFound
from resolvers.context import Context
from resolvers.ids import global_id, parse_id
from schema.customer import Collaborator, Contact, Customer, CustomerConnection, CustomerEdge
from schema.dispute import Dispute
from schema.followup import FollowUp
from schema.masking import path_of
from schema.pagination import PageInfo, encode_cursor
from schema.selection import Shape
from schema.user import Team, User

Ctx = Info[Context, None]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _plain_columns() -> dict[str, str]:
    """GraphQL name -> column, for every plain field of Customer named like a column (a
    column added to both the table and the type needs nothing here)."""
    columns = set(CUSTOMER.c.keys())
    return {
        to_camel_case(f.python_name): f.python_name
        for f in Customer.__strawberry_definition__.fields  # type: ignore[attr-defined]
        if f.base_resolver is None and f.python_name in columns
    }


# Scalar fields read straight from a column of the same name.
SCALARS = _plain_columns()
COLUMN_OF = SCALARS | {
    "databaseId": "id",
    "inPool": "owner_id",
    "owner": "owner_id",
    "team": "team_id",
    "createdBy": "created_by_id",
    "pool": "pool_id",
    "locked": "locked_until",
}
# Columns read always: the pool decides which fields are hidden (db/pools.HIDEABLE).
ALWAYS = {"pool_id"}
# Fields that read a second column beside COLUMN_OF's.
ALSO = {"locked": "locked_at"}
# Fields that need nothing but the id (relations fetched separately, or resolvers).
BY_ID = {"collaborators", "contacts", "latestFollowUp", "openDisputes", "followUps"}
BY_ID |= {"ownershipHistory", "__typename", "recycleDueAt"}
CAMEL = {_snake(f): f for f in [*COLUMN_OF, *BY_ID]}
# Reported by their own resolver, which has the path at hand.
SELF_REPORTED = {"follow_ups"}
# Plain fields that are lists: withheld, they come back empty (their type is non-null).
LIST_SCALARS = {"tags"}
SENSITIVE_SCALARS = {a for a, o in GUARDED["customer"].items() if o == SENSITIVE}
CONTACT_GUARDED = tuple(GUARDED["contact"])


@dataclass
class Recipe:
    """What to read and build for one selection, worked out once per resolver."""

    shape: Shape
    scalars: list[tuple[str, str]]  # (attribute, column)
    columns: set[str]
    relations: set[str]
    contact_fields: set[str]
    sensitive: bool  # does it select a sensitive value (for the audit)?

    @classmethod
    def of(cls, shape: Shape) -> Recipe:
        names = set(shape.fields)
        if names - set(COLUMN_OF) - BY_ID:
            # A field this module does not know (its resolver reads `self.row`): all columns.
            columns = {c.key for c in CUSTOMER.c}
        else:
            columns = {COLUMN_OF[n] for n in names if n in COLUMN_OF} | ALWAYS
            columns |= {ALSO[n] for n in names if n in ALSO}
        contact_fields = set(shape.sub("contacts").fields) if "contacts" in names else set()
        scalars = [(SCALARS[n], SCALARS[n]) for n in names if n in SCALARS]
        return cls(
            shape=shape,
            scalars=scalars,
            columns=columns,
            relations=names & {"owner", "team", "createdBy", "inPool", "pool", "locked", *BY_ID},
            contact_fields=contact_fields,
            sensitive=bool({_snake(n) for n in names} & SENSITIVE_SCALARS)
            or bool(contact_fields & {"phone", "email"}),
        )


@dataclass
class Related:
    """The page's relations, by id."""

    users: dict[int, Any] = field(default_factory=dict)
    teams: dict[int, Any] = field(default_factory=dict)
    collaborators: dict[int, list[Any]] = field(default_factory=dict)
    contacts: dict[int, list[Any]] = field(default_factory=dict)
    latest: dict[int, Any] = field(default_factory=dict)
    disputes: dict[int, list[Any]] = field(default_factory=dict)
    due: dict[int, Any] = field(default_factory=dict)
    pools: Pools | None = None


Fetch = Callable[[str, Sequence[int]], Awaitable[dict[int, Any]]]


async def _related(
    ctx: Context, recipe: Recipe, rows: Sequence[tuple[Any, int]], fetch: Fetch
) -> Related:
    """One fetch per selected relation, for the rows allowed to show it."""
    rel = recipe.relations
    masks = ctx.field_masks

    # Rows share few distinct relation bitmasks: ask the masks once per bitmask.
    by_bits: dict[int, list[Any]] = {}
    for r, bits in rows:
        by_bits.setdefault(bits, []).append(r)

    def ids(attr: str, column: str = "id") -> list[int]:
        found = {
            value
            for bits, group in by_bits.items()
            if attr not in masks.hidden("customer", bits)
            for r in group
            if (value := getattr(r, column)) is not None
        }
        return sorted(found)

    out = Related()
    if "collaborators" in rel:
        out.collaborators = await fetch("collaborators", ids("collaborators"))
    if "contacts" in rel:
        out.contacts = await fetch("contacts", ids("contacts"))
    if "latestFollowUp" in rel:
        out.latest = await fetch("latest", ids("latest_follow_up"))
    if "openDisputes" in rel:
        out.disputes = await fetch("disputes", ids("open_disputes"))
    people: set[int] = set()
    if "owner" in rel:
        people.update(ids("owner", "owner_id"))
    if "createdBy" in rel:
        people.update(ids("created_by", "created_by_id"))
    for collaborators in out.collaborators.values():
        people.update(c.user_id for c in collaborators)
    if people:
        out.users = await fetch("users", sorted(people))
    if "team" in rel:
        out.teams = await fetch("teams", ids("team", "team_id"))
    # Last: siblings built one by one (single customers) have batched the loaders above
    # by now; the pools are read once per request.
    if "pool" in rel or any(
        r.pool_id is not None and not hasattr(r, "pool_rules") for r, _ in rows
    ):
        out.pools = await ctx.pools()
    if "recycleDueAt" in rel:
        out.due = await fetch("due", ids("recycle_due_at", "id"))
    return out


def _direct(ctx: Context) -> Fetch:
    """For a page: the bulk statements themselves, no loader, no future per key."""
    functions: dict[str, Callable[[Any, Sequence[int]], Awaitable[dict[int, Any]]]] = {
        "users": users_by_ids,
        "teams": teams_by_ids,
        "collaborators": collaborators_of,
        "contacts": contacts_of,
        "latest": latest_follow_ups,
        "disputes": open_disputes_of,
    }

    async def fetch(name: str, ids: Sequence[int]) -> dict[int, Any]:
        if not ids:
            return {}
        if name == "due":
            return await due_times(await ctx.session(), await ctx.pools(), ids)
        found: dict[int, Any] = await functions[name](await ctx.session(), ids)
        return found

    return fetch


def _batched(ctx: Context) -> Fetch:
    """For single objects: the same statements behind DataLoaders, so siblings batch."""
    loaders = ctx.loaders
    by_name = {
        "users": loaders.user_by_id,
        "teams": loaders.team_by_id,
        "collaborators": loaders.collaborators_by_customer_id,
        "contacts": loaders.contacts_by_customer_id,
        "latest": loaders.latest_follow_up_by_customer_id,
        "disputes": loaders.open_disputes_by_customer_id,
        "due": loaders.recycle_due_by_customer_id,
    }

    async def fetch(name: str, ids: Sequence[int]) -> dict[int, Any]:
        if not ids:
            return {}
        values = await by_name[name].load_many(ids)
        return {k: v for k, v in zip(ids, values, strict=True) if v is not None}

    return fetch


class Builder:
    """Builds the customers of one resolver call, sharing users and teams between rows."""

    def __init__(self, ctx: Context, recipe: Recipe, related: Related) -> None:
        self.ctx = ctx
        self.recipe = recipe
        self.related = related
        self.users: dict[int, User] = {}
        self.teams: dict[int, Team] = {}

    def user(self, ident: int | None) -> User | None:
        if ident is None:
            return None
        found = self.users.get(ident)
        if found is None:
            row = self.related.users.get(ident)
            if row is None:
                return None
            found = self.users[ident] = User(row=row)
        return found

    def team(self, ident: int | None) -> Team | None:
        if ident is None:
            return None
        found = self.teams.get(ident)
        if found is None:
            row = self.related.teams.get(ident)
            if row is None:
                return None
            found = self.teams[ident] = Team(row=row)
        return found

    def hidden(self, row: Any, relations: int) -> frozenset[str]:
        """The plan's masks, and the fields the customer's pool hides from the caller."""
        hidden = self.ctx.field_masks.hidden("customer", relations)
        pool_id = getattr(row, "pool_id", None)
        if pool_id is None:
            return hidden
        principal = self.ctx.plan.principal
        if principal.role == Role.ADMIN:
            return hidden
        if hasattr(row, "pool_rules"):  # read with the page (db/pools.pool_masks)
            fields = (row.pool_rules or {}).get("hidden_fields") or ()
            admin = row.pool_admin_id is not None
        else:
            pools = self.related.pools
            found = pools.by_id.get(pool_id) if pools is not None else None
            if found is None:
                return hidden
            fields, admin = found.rules.hidden_fields, principal.user_id in found.admin_ids
        if not fields or admin:
            return hidden
        return hidden | {HIDEABLE[f] for f in fields if f in HIDEABLE}

    def pool(self, ident: int | None) -> Any:
        pools = self.related.pools
        if ident is None or pools is None or ident not in pools.by_id:
            return None
        from schema.pools import Pool

        return Pool.of(pools.by_id[ident])

    def build(self, row: Any, relations: int) -> Customer:
        recipe, related, masks = self.recipe, self.related, self.ctx.field_masks
        hidden = self.hidden(row, relations)
        c = Customer(row=row, relations=relations)
        c.hidden = hidden
        for attr, column in recipe.scalars:
            if attr in hidden:
                setattr(c, attr, [] if attr in LIST_SCALARS else None)
            else:
                setattr(c, attr, getattr(row, column))
        c.id = strawberry.ID(global_id("Customer", row.id))
        c.database_id = row.id
        rel = recipe.relations
        if rel:
            ident = row.id
            if "inPool" in rel:
                c.in_pool = row.owner_id is None
            if "owner" in rel:
                c.owner = None if "owner" in hidden else self.user(row.owner_id)
            if "createdBy" in rel:
                c.created_by = None if "created_by" in hidden else self.user(row.created_by_id)
            if "team" in rel:
                c.team = None if "team" in hidden else self.team(row.team_id)
            if "pool" in rel:
                c.pool = None if "pool" in hidden else self.pool(row.pool_id)
            if "locked" in rel:
                until = row.locked_until
                c.locked = "locked" not in hidden and (
                    row.locked_at is not None and (until is None or until > self.ctx.now())
                )
            if "recycleDueAt" in rel:
                c.recycle_due_at = None if "recycle_due_at" in hidden else related.due.get(ident)
            if "collaborators" in rel and "collaborators" in hidden:
                c.collaborators = []
            elif "collaborators" in rel:
                c.collaborators = [
                    Collaborator(
                        user=u,
                        role=x.role,
                        credit_share=x.credit_share,
                        access=x.access,
                        expires_at=x.expires_at,
                    )
                    for x in related.collaborators.get(ident, ())
                    if (u := self.user(x.user_id)) is not None
                ]
            if "contacts" in rel:
                c.contacts = (
                    []
                    if "contacts" in hidden
                    else self._contacts(related.contacts.get(ident, ()), relations)
                )
            if "latestFollowUp" in rel:
                latest = None if "latest_follow_up" in hidden else related.latest.get(ident)
                c.latest_follow_up = FollowUp(row=latest) if latest is not None else None
            if "openDisputes" in rel:
                c.open_disputes = [Dispute(row=d) for d in related.disputes.get(ident, ())]
        if recipe.sensitive and masks.audited(relations):
            self._audit(c)
        return c

    def _contacts(self, rows: Sequence[Any], relations: int) -> list[Contact]:
        hidden = self.ctx.field_masks.hidden("contact", relations)
        contacts = []
        for r in rows:
            contact = Contact()
            contact.id = r.id
            contact.name = r.name
            contact.title = r.title
            contact.phone = None if "phone" in hidden else r.phone
            contact.email = None if "email" in hidden else r.email
            contact.is_decision_maker = r.is_decision_maker
            contacts.append(contact)
        return contacts

    def _audit(self, c: Customer) -> None:
        """Written down when a sensitive value the query selected comes back non-null."""
        values = [getattr(c, a, None) for a in SENSITIVE_SCALARS]
        read = self.recipe.contact_fields & {"phone", "email"}
        values += [getattr(x, a) for x in getattr(c, "contacts", ()) for a in read]
        if any(v is not None for v in values):
            self.ctx.audited.add(c.row.id)

    def report(self, prefix: str, shape: Shape, c: Customer) -> None:
        """Write down the masked paths of one occurrence of a built customer."""
        masks, masked = self.ctx.field_masks, self.ctx.masked
        for attr in c.hidden:
            if attr not in SELF_REPORTED:
                masked.extend(f"{prefix}.{k}" for k in shape.keys(CAMEL[attr]))
        hidden = masks.hidden("contact", c.relations)
        if hidden and "contacts" in shape:
            for key, sub in shape.each("contacts"):
                keys = [k for a in CONTACT_GUARDED if a in hidden for k in sub.keys(a)]
                for j in range(len(getattr(c, "contacts", ()))):
                    masked.extend(f"{prefix}.{key}.{j}.{k}" for k in keys)


async def _build(
    info: Ctx, rows: Sequence[tuple[Any, int]], shape: Shape | Recipe, fetch: Fetch
) -> tuple[Builder, list[Customer]]:
    ctx = info.context
    recipe = shape if isinstance(shape, Recipe) else Recipe.of(shape)
    related = await _related(ctx, recipe, rows, fetch)
    builder = Builder(ctx, recipe, related)
    return builder, [builder.build(row, bits) for row, bits in rows]


async def customer_page(
    info: Ctx, filter: CustomerFilter, *, first: int, after_id: int | None
) -> CustomerConnection:
    """A page of the customers the caller may see, built from one read of the selection."""
    ctx = info.context
    plan = ctx.plan
    connection = Shape.selected(info)
    # Every (edges key, node key, node selection) the client asked for.
    nodes = [
        (edges_key, node_key, node)
        for edges_key, edges in connection.each("edges")
        for node_key, node in edges.each("node")
    ]
    recipe = Recipe.of(Shape.merged(node for _, _, node in nodes))
    scope = plan.customer_scope()
    session = await ctx.session()
    rows, more = await page_rows(
        session,
        columns=recipe.columns,
        scope=scope,
        mask=plan.relation_mask(),
        filter=filter,
        first=first,
        after_id=after_id,
        extra=plan.memo("pool_masks", lambda: pool_masks(plan.principal.user_id)),
        memo=plan.memo,
    )
    pairs = [(r, int(r.relations or 0)) for r in rows]
    builder, customers = await _build(info, pairs, recipe, _direct(ctx))
    base = path_of(info)
    for edges_key, node_key, node in nodes:
        for i, c in enumerate(customers):
            builder.report(f"{base}.{edges_key}.{i}.{node_key}", node, c)
    edges = []
    for c in customers:
        edge = CustomerEdge(node=c)
        edge.cursor = encode_cursor(c.row.id)
        edges.append(edge)
    result = CustomerConnection(
        edges=edges,
        page_info=PageInfo.of(edges, more, after_id),
    )
    if "totalCount" in connection:
        result.total_count = await count_customers(
            session, scope=scope, filter=filter, memo=plan.memo
        )
    return result


async def customer_of(info: Ctx, scoped: ScopedRow, path: str | None = None) -> Customer:
    """`path`: where masked fields are reported when not the resolver's own (`nodes`)."""
    shape = Shape.selected(info)
    builder, (customer,) = await _build(
        info, [(scoped.customer, scoped.relations)], shape, _batched(info.context)
    )
    builder.report(path or path_of(info), shape, customer)
    return customer


async def customer_by_id(
    info: Ctx, customer_id: object, *, known: tuple[Any] | None = None
) -> Customer:
    """A visible customer, or NOT_FOUND exactly as for an id that does not exist.
    `known`: (the row as already read for the caller's plan, or None,)."""
    if known is not None:
        (scoped,) = known
    else:
        scoped = await info.context.loaders.customer_by_id.load(parse_id(customer_id))
    if scoped is None:
        raise NotFound("customer", customer_id)
    return await customer_of(info, scoped)


async def customers_by_ids(info: Ctx, ids: Sequence[int]) -> list[Customer]:
    """The visible ones among `ids`, in order; invisible ones are simply absent."""
    found = await info.context.loaders.customer_by_id.load_many(list(ids))
    scoped = [s for s in found if s is not None]
    shape = Shape.selected(info)
    builder, customers = await _build(
        info, [(s.customer, s.relations) for s in scoped], shape, _batched(info.context)
    )
    base = path_of(info)
    for i, c in enumerate(customers):
        builder.report(f"{base}.{i}", shape, c)
    return customers
