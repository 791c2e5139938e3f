"""Transfer requests between owners, with their approvals (rule 4, 归属权转移).

A request names customers of one owner and a receiving user. The receiving user, the
giving user and the manager above each of them approve ("双方及主管共同确认"); the last
approval executes it, set-based (resolvers/portfolio.py). While a request is pending its
customers carry `pending_transfer_id`, so no customer is ever in two requests at once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from authz.plan import Plan
from db.customers import customers_by_ids
from db.enums import CollaboratorAccess, ReminderKind, ReminderStatus, Role, TransferStatus
from db.models import (
    Approval,
    Customer,
    Reminder,
    Team,
    TransferItem,
    TransferRequest,
    User,
)
from db.ownership import OPEN_REMINDERS, cancel_transfers
from kernel.errors import ClaimLimitReached, Conflict, Forbidden, NotFound, Validation
from kernel.messages import N_
from resolvers import validation
from resolvers.access import audit
from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.portfolio import Keep, check_owner, move_keeping

# The most requests one `transferRequests` answer lists.
MAX_LISTED_REQUESTS = 200


@dataclass(frozen=True)
class Transfer:
    request: TransferRequest
    customer_ids: list[int]
    approvals: list[Approval]


async def load_transfers(session: AsyncSession, requests: list[TransferRequest]) -> list[Transfer]:
    ids = [r.id for r in requests]
    items: dict[int, list[int]] = defaultdict(list)
    approvals: dict[int, list[Approval]] = defaultdict(list)
    if ids:
        for item in (
            await session.execute(
                select(TransferItem)
                .where(col(TransferItem.transfer_id).in_(ids))
                .order_by(col(TransferItem.customer_id))
            )
        ).scalars():
            items[item.transfer_id].append(item.customer_id)
        for approval in (
            await session.execute(
                select(Approval)
                .where(col(Approval.transfer_id).in_(ids))
                .order_by(col(Approval.id))
            )
        ).scalars():
            approvals[approval.transfer_id].append(approval)
    return [Transfer(r, items[r.id or 0], approvals[r.id or 0]) for r in requests]


def transfer_scope(plan: Plan) -> ColumnElement[bool]:
    """Requests the caller is party to (asked, gives, receives, approves), and for managers
    and directors those touching their teams; everything for ADMIN and AUDITOR."""
    uid = plan.principal.user_id
    if uid is None:
        raise Forbidden(N_("Partner tokens cannot see transfer requests."))
    teams = plan.team_ids_for("customer", "read")
    if teams is None:
        return true()
    approver = select(col(Approval.transfer_id)).where(col(Approval.approver_id) == uid)
    in_teams = select(col(User.id)).where(col(User.team_id).in_(sorted(teams)))
    return or_(
        col(TransferRequest.requested_by_id) == uid,
        col(TransferRequest.from_user_id) == uid,
        col(TransferRequest.to_user_id) == uid,
        col(TransferRequest.id).in_(approver),
        col(TransferRequest.from_user_id).in_(in_teams),
        col(TransferRequest.to_user_id).in_(in_teams),
    )


async def list_transfers(
    ctx: Context, status: str | None = None, ident: int | None = None
) -> list[Transfer]:
    stmt = select(TransferRequest).where(transfer_scope(ctx.plan))
    if ident is not None:  # one request, for `node(id:)`
        stmt = stmt.where(col(TransferRequest.id) == ident)
    if status is not None:
        stmt = stmt.where(col(TransferRequest.status) == str(status))
    session = await ctx.session()
    stmt = stmt.order_by(col(TransferRequest.id).desc()).limit(MAX_LISTED_REQUESTS)
    rows = list((await session.execute(stmt)).scalars())
    return await load_transfers(session, rows)


async def _reload(ctx: Context, transfer_id: int) -> Transfer:
    session = await ctx.session()
    request = await session.get(TransferRequest, transfer_id)
    assert request is not None
    return (await load_transfers(session, [request]))[0]


# Who approves.


def _chain(team_id: int | None, teams: dict[int, Team]) -> list[Team]:
    """A team and its ancestors, nearest first."""
    chain: list[Team] = []
    while team_id is not None and team_id in teams and len(chain) < len(teams):
        chain.append(teams[team_id])
        team_id = teams[team_id].parent_id
    return chain


def _manager_above(user: User, teams: dict[int, Team], active: set[int]) -> int | None:
    """The manager of the user's team; a user managing their own team (or whose manager
    has left) looks one level up."""
    for team in _chain(user.team_id, teams):
        if team.manager_id is not None and team.manager_id != user.id and team.manager_id in active:
            return team.manager_id
    return None


def _manages(user_id: int, team_id: int | None, teams: dict[int, Team]) -> bool:
    return any(t.manager_id == user_id for t in _chain(team_id, teams))


async def _approvers(
    session: AsyncSession, giver: User, receiver: User
) -> tuple[list[int], dict[int, Team]]:
    teams = {t.id: t for t in (await session.execute(select(Team))).scalars() if t.id}
    managers = {t.manager_id for t in teams.values() if t.manager_id is not None}
    active = {
        i
        for i in (
            await session.execute(
                select(col(User.id)).where(col(User.id).in_(managers), col(User.active))
            )
        ).scalars()
        if i is not None
    }
    wanted = [receiver.id, giver.id, _manager_above(giver, teams, active)]
    if receiver.team_id != giver.team_id:
        wanted.append(_manager_above(receiver, teams, active))
    return list(dict.fromkeys(i for i in wanted if i is not None)), teams


# Requesting.


def _clean_ids(customer_ids: list[object], cap: int) -> list[int]:
    # The cap holds for the list as sent, repeats included.
    if len(customer_ids) > cap:
        raise Validation(
            N_(
                "`customerIds` takes at most {cap} customers per request; for a whole "
                "portfolio use handOverPortfolio.",
                cap=cap,
            ),
            field="customerIds",
            limit=cap,
        )
    ids = list(dict.fromkeys(parse_id(i) for i in customer_ids))
    if not ids:
        raise Validation(N_("Name at least one customer to transfer."), field="customerIds")
    return ids


async def _giver_of(ctx: Context, session: AsyncSession, ids: list[int]) -> int:
    """The one owner of customers the caller may transfer, none already pending; locked."""
    plan = ctx.plan
    found = await customers_by_ids(
        session, ids, scope=plan.customer_scope(), mask=plan.relation_mask(), lock=True
    )
    for ident in ids:
        if ident not in found:
            raise NotFound("customer", ident)
        if not plan.allows("customer", "transfer", found[ident].relations):
            raise Forbidden(N_("You may not transfer customer {ident}.", ident=ident))
    customers = [found[i].customer for i in ids]
    owners = {c.owner_id for c in customers}
    if None in owners:
        raise Validation(
            N_("A customer in the pool has no owner to transfer from; claim or assign it."),
            field="customerIds",
        )
    if len(owners) > 1:
        raise Validation(
            N_("All customers of one request must have the same owner."), field="customerIds"
        )
    if busy := [c for c in customers if c.pending_transfer_id is not None]:
        raise Conflict(
            N_("{name} is already in a pending transfer request.", name=busy[0].name),
            customerId=str(busy[0].id),
            transferId=str(busy[0].pending_transfer_id),
        )
    owner = owners.pop()
    assert owner is not None  # a pooled customer was refused above
    return owner


async def request_transfer(
    ctx: Context,
    *,
    customer_ids: list[object],
    to_user_id: object,
    kind: str,
    reason: str,
    keep_previous_owner_as: str | None = None,
    keep_previous_owner_access: str = CollaboratorAccess.READ,
) -> Transfer:
    """Ask to move customers of one owner to another user. Executes at once when the
    requester is ADMIN or manages both sides' teams; otherwise waits for approvals.
    `keep_previous_owner_as` keeps the old owner on as a collaborator (resolvers/keeping.py)."""
    plan = ctx.plan
    plan.require("customer", "transfer")
    requester = plan.principal.user_id
    if requester is None:
        raise Forbidden(N_("Transfers are requested by people, not partner tokens."))
    ids = _clean_ids(customer_ids, ctx.settings.max_transfer_customers)
    reason = validation.reason(reason)
    now = ctx.now()
    async with ctx.transaction() as session:
        giver = await session.get(User, await _giver_of(ctx, session, ids))
        receiver = await session.get(User, parse_id(to_user_id, "user"))
        assert giver is not None
        if receiver is None:
            raise NotFound("user", to_user_id)
        if receiver.id == giver.id:
            raise Validation(
                N_("{name} already owns these customers.", name=giver.name), field="toUserId"
            )
        check_owner(receiver, N_("The receiving user"))
        approvers, teams = await _approvers(session, giver, receiver)
        immediate = plan.principal.role == Role.ADMIN or (
            _manages(requester, giver.team_id, teams)
            and _manages(requester, receiver.team_id, teams)
        )
        request = TransferRequest(
            from_user_id=giver.id,
            to_user_id=receiver.id,
            requested_by_id=requester,
            kind=str(kind),
            reason=reason,
            created_at=now,
            keep_previous_owner_as=(
                str(keep_previous_owner_as) if keep_previous_owner_as is not None else None
            ),
            keep_previous_owner_access=str(keep_previous_owner_access),
        )
        session.add(request)
        await session.flush()
        assert request.id is not None
        # The conditional UPDATE is what makes two concurrent requests safe: only one of
        # them can mark a customer whose mark is still empty.
        marked = await session.execute(
            update(Customer)
            .where(
                col(Customer.id).in_(ids),
                col(Customer.pending_transfer_id).is_(None),
                col(Customer.owner_id) == giver.id,
            )
            .values(pending_transfer_id=request.id)
            .execution_options(synchronize_session=False)
        )
        if marked.rowcount != len(ids):  # type: ignore[attr-defined]
            raise Conflict(N_("A customer of this request changed meanwhile; reload and retry."))
        await session.execute(
            insert(TransferItem), [{"transfer_id": request.id, "customer_id": i} for i in ids]
        )
        if immediate:
            # The requester holds the authority of every approver; one approval, theirs.
            approvers = [requester]
        for approver in approvers:
            mine = approver == requester
            session.add(
                Approval(
                    transfer_id=request.id,
                    approver_id=approver,
                    approved=True if mine else None,
                    decided_at=now if mine else None,
                )
            )
        await session.flush()
        audit(ctx, session, "transfer.request", ids[0] if len(ids) == 1 else None, id=request.id)
        if immediate:
            await _execute(ctx, session, request, len(ids))
        else:
            _remind(session, request, [a for a in approvers if a != requester], ids, giver)
    return await _reload(ctx, request.id)


def _remind(
    session: AsyncSession,
    request: TransferRequest,
    approvers: list[int],
    ids: list[int],
    giver: User,
) -> None:
    now = request.created_at
    what = f"customer {ids[0]}" if len(ids) == 1 else f"{len(ids)} customers"
    session.add_all(
        Reminder(
            user_id=approver,
            customer_id=ids[0] if len(ids) == 1 else None,
            kind=ReminderKind.TRANSFER_APPROVAL,
            due_at=now,
            message=f"Approve or reject the transfer of {what} from {giver.name}.",
            params={"customers": len(ids), "customer_id": ids[0], "giver": giver.name},
            ref_id=request.id,
            created_at=now,
        )
        for approver in approvers
    )


# Deciding and executing.


async def _execute(ctx: Context, session: AsyncSession, request: TransferRequest, n: int) -> None:
    """Move the request's customers; fails with CLAIM_LIMIT_REACHED if the receiving user
    would exceed their capacity, or CONFLICT if a customer changed owner meanwhile."""
    assert request.id is not None
    stmt = select(User).where(col(User.id) == request.to_user_id)
    if session.get_bind().dialect.name == "postgresql":
        # Capacity checks for one user queue up. NO KEY UPDATE, because foreign keys to
        # the user (events, audit rows) take KEY SHARE locks that FOR UPDATE would wait
        # for: two deciders would deadlock.
        stmt = stmt.with_for_update(key_share=True)
    receiver = (await session.execute(stmt)).scalar_one()
    check_owner(receiver, N_("The receiving user"))
    if receiver.capacity is not None:
        owned = await session.scalar(
            select(func.count()).select_from(Customer).where(col(Customer.owner_id) == receiver.id)
        )
        if int(owned or 0) + n > receiver.capacity:
            raise ClaimLimitReached(
                N_(
                    "{name} owns {owned} of at most {capacity} customers; {n} more would "
                    "exceed that.",
                    name=receiver.name,
                    owned=owned,
                    capacity=receiver.capacity,
                    n=n,
                ),
                capacity=receiver.capacity,
                owned=int(owned or 0),
            )
    still = await session.scalar(
        select(func.count())
        .select_from(Customer)
        .where(
            col(Customer.pending_transfer_id) == request.id,
            col(Customer.owner_id) == request.from_user_id,
        )
    )
    if still != n:
        raise Conflict(N_("A customer of this request changed owner meanwhile; reject it."))
    now = ctx.now()
    giver = await session.get(User, request.from_user_id)
    assert giver is not None
    await move_keeping(
        session,
        transfer_id=request.id,
        from_user=giver,
        to_user=receiver,
        keep=Keep(
            role=request.keep_previous_owner_as,
            access=request.keep_previous_owner_access,
            move_reminders=ctx.settings.transfer_reminders == "move",
        ),
        actor_id=ctx.plan.principal.user_id,
        rule="transfer",
        reason=request.reason,
        now=now,
    )
    await session.execute(
        update(TransferRequest)
        .where(col(TransferRequest.id) == request.id)
        .values(status=TransferStatus.APPROVED, decided_at=now)
    )


async def decide_transfer(
    ctx: Context, transfer_id: object, approve: bool, note: str | None = None
) -> Transfer:
    """An approver's decision. A rejection ends the request; the last approval executes it."""
    plan = ctx.plan
    uid = plan.principal.user_id
    ident = parse_id(transfer_id, "transfer request")
    note = validation.text(note, "note", required=False)
    now = ctx.now()
    async with ctx.transaction() as session:
        request = await _locked_request(session, plan, ident, transfer_id)
        slot = (
            await session.execute(
                select(Approval).where(
                    col(Approval.transfer_id) == ident, col(Approval.approver_id) == uid
                )
            )
        ).scalar_one_or_none()
        if slot is None or slot.approved is not None:
            raise Forbidden(N_("You have no undecided approval on this transfer request."))
        if request.status != TransferStatus.PENDING:
            raise Conflict(N_("This transfer request is already {status}.", status=request.status))
        await session.execute(
            update(Approval)
            .where(col(Approval.id) == slot.id)
            .values(approved=approve, note=note, decided_at=now)
        )
        await session.execute(
            update(Reminder)
            .where(
                col(Reminder.kind) == ReminderKind.TRANSFER_APPROVAL,
                col(Reminder.ref_id) == ident,
                col(Reminder.user_id) == uid,
                col(Reminder.status).in_(OPEN_REMINDERS),
            )
            .values(status=ReminderStatus.ACKNOWLEDGED)
        )
        audit(ctx, session, "transfer.decide", None, id=ident, approve=approve)
        if not approve:
            await cancel_transfers(session, col(TransferRequest.id) == ident, now)
            await session.execute(
                update(TransferRequest)
                .where(col(TransferRequest.id) == ident)
                .values(status=TransferStatus.REJECTED)
            )
        else:
            undecided = await session.scalar(
                select(func.count())
                .select_from(Approval)
                .where(col(Approval.transfer_id) == ident, col(Approval.approved).is_not(True))
            )
            if not undecided:
                n = await session.scalar(
                    select(func.count())
                    .select_from(TransferItem)
                    .where(col(TransferItem.transfer_id) == ident)
                )
                await _execute(ctx, session, request, int(n or 0))
    return await _reload(ctx, ident)


async def cancel_transfer(ctx: Context, transfer_id: object) -> Transfer:
    """The requester withdraws a pending request: its customers are free again and its
    approvers' reminders are cancelled. Anyone else who can see it is refused."""
    plan = ctx.plan
    uid = plan.principal.user_id
    ident = parse_id(transfer_id, "transfer request")
    async with ctx.transaction() as session:
        request = await _locked_request(session, plan, ident, transfer_id)
        if request.requested_by_id != uid:
            raise Forbidden(N_("Only the requester may cancel a transfer request."))
        if request.status != TransferStatus.PENDING:
            raise Conflict(N_("This transfer request is already {status}.", status=request.status))
        await cancel_transfers(session, col(TransferRequest.id) == ident, ctx.now())
        audit(ctx, session, "transfer.cancel", None, id=ident)
    return await _reload(ctx, ident)


async def _locked_request(
    session: AsyncSession, plan: Plan, ident: int, transfer_id: object
) -> TransferRequest:
    """The visible request, locked for a decision (PostgreSQL): its customers' rows first,
    then the request, the order of every writer (a change of owner, an award or a handoff,
    locks the customer, then cancels this request); two deciders at once, the second sees
    the first's decision. NOT_FOUND when the caller may not see it."""
    stmt = select(TransferRequest).where(col(TransferRequest.id) == ident, transfer_scope(plan))
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            select(col(Customer.id))
            .where(col(Customer.pending_transfer_id) == ident)
            .order_by(col(Customer.id))
            .with_for_update(key_share=True)
        )
        stmt = stmt.with_for_update(of=TransferRequest)
    request = (await session.execute(stmt)).scalar_one_or_none()
    if request is None:
        raise NotFound("transfer request", transfer_id)
    return request
