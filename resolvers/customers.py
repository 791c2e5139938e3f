"""Customers: list, read, create (first entry + duplicate check), update, duplicate check."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, literal, select, true, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from authz.relations import DUPLICATE_NOTICE
from db.customers import CustomerFilter, ScopedRow, customers_by_ids
from db.enums import EventKind, KeyKind, Role, Stage
from db.events import record_event
from db.keys import company_key, customer_keys
from db.models import Contact, Customer, CustomerKey, Team, User
from kernel.errors import DuplicateCustomer, Validation, VersionConflict
from kernel.messages import N_
from resolvers import validation
from resolvers.access import audit, customer_for, get_customer
from resolvers.context import Context
from resolvers.ids import parse_optional_id

SENSITIVE_FIELDS = {"tax_id", "deal_value"}
EDITABLE = {
    "name",
    "industry",
    "region",
    "size",
    "tier",
    "stage",
    "source",
    "tags",
    "tax_id",
    "deal_value",
}
ROLES_USING_RULES = {Role.ADMIN, Role.DIRECTOR, Role.MANAGER, Role.PARTNER}


def customer_filter(
    ctx: Context, raw: dict[str, Any] | None, *, in_pool: bool | None = None
) -> CustomerFilter:
    raw = dict(raw or {})
    now = ctx.now()
    overdue = raw.pop("overdue", None)
    locked = raw.pop("locked", None)
    raw.pop("recycle_due_before", None)  # needs the pools: resolvers/pools.due_before
    search = validation.search_term(raw.pop("search", None), "search")
    return CustomerFilter(
        owner_id=parse_optional_id(raw.get("owner_id"), "user"),
        team_id=parse_optional_id(raw.get("team_id"), "team"),
        region=raw.get("region"),
        industry=raw.get("industry"),
        tier=raw.get("tier"),
        stage=raw.get("stage"),
        in_pool=in_pool if in_pool is not None else raw.get("in_pool"),
        overdue_at=now if overdue is True else None,
        not_overdue_at=now if overdue is False else None,
        search=company_key(search) if search and search.strip() else None,
        pool_id=parse_optional_id(raw.get("pool_id"), "pool"),
        locked=(bool(locked), now) if locked is not None else None,
    )


async def find_duplicates(
    session: AsyncSession, keys: set[tuple[str, str]]
) -> dict[int, list[str]]:
    """Customers holding any of these exact keys, with the keys each matched on."""
    if not keys:
        return {}
    rows = await session.execute(
        select(CustomerKey).where(
            tuple_(col(CustomerKey.kind), col(CustomerKey.value)).in_(sorted(keys))
        )
    )
    matches: dict[int, list[str]] = {}
    for key in rows.scalars():
        matches.setdefault(key.customer_id, []).append(key.kind)
    return matches


async def _held_keys(session: AsyncSession, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    rows = await session.execute(
        select(col(CustomerKey.kind), col(CustomerKey.value)).where(
            tuple_(col(CustomerKey.kind), col(CustomerKey.value)).in_(sorted(keys))
        )
    )
    return {(kind, value) for kind, value in rows}


async def _duplicate_error(
    session: AsyncSession,
    matches: dict[int, list[str]],
    *,
    partner: bool = False,
    confirmable: bool = False,
) -> DuplicateCustomer:
    if partner:
        # A partner learns the fact and nothing else: no id, name, owner, team or key,
        # or createCustomer would tell it about customers it may not see.
        return DuplicateCustomer(N_("This customer already exists."))
    customer_id, matched_on = next(iter(sorted(matches.items())))
    row = (
        await session.execute(
            select(col(Customer.name), col(User.name), col(Team.name))
            .outerjoin(User, col(User.id) == col(Customer.owner_id))
            .outerjoin(Team, col(Team.id) == col(Customer.team_id))
            .where(col(Customer.id) == customer_id)
        )
    ).one()
    name, owner, team = row
    # The same advice openDispute gives: a pool customer is claimed, an owned one disputed.
    if owner:
        refused = N_(
            "This customer already exists as '{name}', owned by {owner}: you may open a "
            "dispute instead.",
            name=name,
            owner=owner,
        )
    else:
        refused = N_(
            "This customer already exists as '{name}', in the public pool: claim it instead.",
            name=name,
        )
    return DuplicateCustomer(
        refused,
        customerId=str(customer_id),
        customerName=name,
        ownerName=owner,
        teamName=team,
        matchedOn=sorted(matched_on),
        # Only warning keys matched: createCustomer(confirmDuplicate: true) goes ahead.
        confirmable=confirmable,
    )


def next_due(
    ctx: Context, tier: str, since: datetime, explicit: datetime | None = None
) -> datetime:
    """When the next follow-up falls due: as asked, or by the tier's cadence."""
    return explicit or since + timedelta(days=ctx.settings.cadence_days[str(tier)])


async def _write_keys(session: AsyncSession, customer_id: int, keys: set[tuple[str, str]]) -> None:
    session.add_all(CustomerKey(kind=k, value=v, customer_id=customer_id) for k, v in keys)
    await session.flush()


async def create_customer(
    ctx: Context,
    *,
    contacts: list[dict[str, Any]] | None = None,
    assign_by_rules: bool | None = False,
    confirm_duplicate: bool | None = False,
    **fields: Any,
) -> ScopedRow:
    """First entry: the creating rep owns it, unless it already exists (DUPLICATE_CUSTOMER).
    A match only on key kinds set to "warn" may be confirmed (`confirm_duplicate`): the
    customer is created without those keys, and its CREATED event names the match.
    Managers, admins, partners and `assignByRules` go through the assignment rules."""
    from resolvers.assignment import choose_owner
    from resolvers.duplicates import blocking

    plan = ctx.plan
    plan.require("customer", "create")
    principal = plan.principal
    fields = {k: v for k, v in fields.items() if k in EDITABLE and v is not None}
    fields = validation.customer_fields({"name": None, **fields}, ctx.settings)
    contacts = validation.contacts(contacts or [], ctx.settings)
    keys = customer_keys(
        name=fields["name"],
        tax_id=fields.get("tax_id"),
        phones=[c["phone"] for c in contacts if c.get("phone")],
        emails=[c["email"] for c in contacts if c.get("email")],
        region=ctx.settings.phone_region,
    )
    now = ctx.now()
    confirmed: dict[int, list[str]] = {}
    fields["tier"] = tier = str(fields.get("tier") or "C")
    fields["stage"] = str(fields.get("stage") or Stage.LEAD)
    try:
        async with ctx.transaction() as session:
            if matches := await find_duplicates(session, keys):
                if blocking(matches, ctx.settings) or not confirm_duplicate:
                    raise await _duplicate_error(
                        session,
                        matches,
                        partner=principal.is_partner,
                        confirmable=not blocking(matches, ctx.settings),
                    )
                confirmed = matches
            customer = Customer(
                **fields,
                name_key=company_key(fields["name"]),
                created_by_id=principal.user_id,
                created_at=now,
                updated_at=now,
                recycle_clock_at=now,
                next_follow_up_due=next_due(ctx, tier, now),
                referred_by_partner_id=principal.partner_id,
            )
            session.add(customer)
            await session.flush()
            assert customer.id is not None
            # A confirmed duplicate's keys stay with the customer that holds them.
            held = await _held_keys(session, keys) if confirmed else set()
            taken = {kind for kind, _ in held}
            await _write_keys(session, customer.id, keys - held)
            session.add_all(
                Contact(customer_id=customer.id, **{k: v for k, v in c.items() if v is not None})
                for c in contacts
            )
            if assign_by_rules or principal.role in ROLES_USING_RULES:
                # A rep's own entry stays in the rep's team unless a rule says otherwise.
                own = principal.role == Role.REP and principal.team_id is not None
                within = principal.team_id if own else None
                owner, rule = await choose_owner(ctx, session, customer, within_team=within)
            else:
                owner = await session.get(User, principal.user_id)
                rule = "first_entry"
            pools = await ctx.pools(session)
            if owner is not None:
                customer.owner_id = owner.id
                customer.team_id = owner.team_id
                customer.owned_since = now
                days = pools.of_team(owner.team_id).rules.protection_days
                customer.protected_until = now + timedelta(days=days) if days else None
            else:
                customer.pooled_at = now
                customer.pool_id = pools.default_id
                customer.pool_entered_at = now
            await record_event(
                session,
                customer_id=customer.id,
                kind=EventKind.CREATED,
                at=now,
                to_user_id=customer.owner_id,
                actor_id=principal.user_id,
                team_id=customer.team_id,
                rule=rule,
                reason="partner referral" if principal.partner_id else None,
                pool_id=customer.pool_id,
                details={
                    "confirmed_duplicate": {
                        "customer_ids": sorted(confirmed),
                        "matched_on": sorted(taken),
                    }
                }
                if confirmed
                else None,
            )
            await session.flush()
    except IntegrityError:
        # Another request entered the same company between our check and our insert.
        async with ctx.services.db.read() as session:
            matches = await find_duplicates(session, keys)
            raced = (
                await _duplicate_error(session, matches, partner=principal.is_partner)
                if matches
                else None
            )
        if raced is None:
            raise
        await _note_duplicate(ctx, raced)
        raise raced from None
    except DuplicateCustomer as duplicate:
        await _note_duplicate(ctx, duplicate)
        raise
    scoped = await ctx.loaders.customer_by_id.load(customer.id)
    if scoped is None:
        # The rules gave it to someone the creator may not see. The creator still gets
        # back what they typed in, with no relation to it: sensitive fields masked.
        found = await customers_by_ids(
            await ctx.session(), [customer.id], scope=true(), mask=literal(0)
        )
        scoped = found[customer.id]
    return scoped


async def _note_duplicate(ctx: Context, duplicate: DuplicateCustomer) -> None:
    """The caller was just told this customer exists: recorded (after the failed creation
    rolled back), and for a while it gives them a right to dispute it (authz relation
    `duplicate_notice`)."""
    if ctx.user_id is None:
        return
    async with ctx.services.db.write() as session, session.begin():
        audit(ctx, session, DUPLICATE_NOTICE, int(duplicate.extensions["customerId"]))


async def update_customer(
    ctx: Context, customer_id: object, changes: dict[str, Any], expected_version: int | None
) -> ScopedRow:
    """Edit fields. With `expectedVersion`, a stale edit fails with VERSION_CONFLICT."""
    changes = {k: v for k, v in changes.items() if k in EDITABLE}
    for required in ("tier", "stage"):
        if required in changes and changes[required] is None:
            raise Validation(N_("`{required}` cannot be null.", required=required), field=required)
    if "tags" in changes and changes["tags"] is None:
        changes["tags"] = []
    changes = validation.customer_fields(changes, ctx.settings)
    now = ctx.now()
    async with ctx.transaction() as session:
        scoped = await customer_for(ctx, session, customer_id, "update")
        current = scoped.customer
        assert current.id is not None
        if expected_version is not None and expected_version != current.version:
            raise VersionConflict(
                N_(
                    "The customer changed since version {expected_version}; it is at version "
                    "{version}. Reload and try again.",
                    expected_version=expected_version,
                    version=current.version,
                ),
                currentVersion=current.version,
            )
        values: dict[str, Any] = {
            k: (str(v) if k in ("tier", "stage") else v) for k, v in changes.items()
        }
        if "name" in values:
            values["name_key"] = company_key(values["name"])
        if "tier" in values and current.last_follow_up_at is None:
            values["next_follow_up_due"] = next_due(ctx, values["tier"], current.created_at)
        values.update(version=current.version + 1, updated_at=now)
        result = await session.execute(
            update(Customer)
            .where(col(Customer.id) == current.id, col(Customer.version) == current.version)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise VersionConflict(
                N_("The customer changed while you were editing it. Reload and try again.")
            )
        if "name" in changes or "tax_id" in changes:
            await _rekey(session, current.id, changes)
        audit(
            ctx,
            session,
            "customer.update",
            current.id,
            fields=sorted(changes),
            version=current.version + 1,
        )
        if changes.get("stage") == Stage.ACTIVE and current.stage != Stage.ACTIVE:
            from resolvers.lifecycle import on_became_active

            await on_became_active(ctx, session, current.id)
    return await get_customer(ctx, current.id)


async def _rekey(session: AsyncSession, customer_id: int, changes: dict[str, Any]) -> None:
    kinds = {"name": KeyKind.NAME, "tax_id": KeyKind.TAX_ID}
    new_keys = customer_keys(name=changes.get("name"), tax_id=changes.get("tax_id"))
    for field, kind in kinds.items():
        if field in changes:
            await session.execute(
                delete(CustomerKey).where(
                    col(CustomerKey.customer_id) == customer_id, col(CustomerKey.kind) == kind
                )
            )
    if matches := await find_duplicates(session, new_keys):
        raise await _duplicate_error(session, matches)
    await _write_keys(session, customer_id, new_keys)


async def duplicate_check(ctx: Context, **given: Any) -> list[dict[str, Any]]:
    """See resolvers/duplicates.py."""
    from resolvers.duplicates import duplicate_check as check

    return await check(ctx, **given)
