"""The `ownergraph` command: serve, migrate, seed, import customers, issue tokens, export
the schema."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import make_url
from sqlmodel import col, select

from kernel.settings import Settings, get_settings

if TYPE_CHECKING:
    from ownergraph.importer import ImportReport, Row
    from resolvers.context import Context

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Customer ownership GraphQL server: serve, migrate, seed, import, tokens, schema.",
)
token_app = typer.Typer(no_args_is_help=True, help="Bearer tokens for users and partners.")
app.add_typer(token_app, name="token")
user_app = typer.Typer(no_args_is_help=True, help="Users of the organisation.")
app.add_typer(user_app, name="user")
team_app = typer.Typer(no_args_is_help=True, help="Teams of the organisation.")
app.add_typer(team_app, name="team")
persisted_app = typer.Typer(
    no_args_is_help=True, help="Persisted queries: the allow-list of a client build."
)
app.add_typer(persisted_app, name="persisted-queries")
T = TypeVar("T")

err = Console(stderr=True)

DATABASE_URL = typer.Option(
    None, "--database-url", help="Default: $OWNERGRAPH_DATABASE_URL or ./ownergraph.db."
)
TTL = re.compile(r"^(\d+)([dhm])$")
TTL_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
IMPORT_COLUMNS_HELP = (
    "CSV, UTF-8, with a header row. Columns (any case; spaces or hyphens for underscores): "
    "name (required), industry, region, size, tier (A/B/C, default C), stage (default LEAD), "
    "source (default import), tags (separated by ; or |), tax_id, deal_value, contact_name, "
    "contact_title, contact_phone, contact_email, contact_decision_maker (yes/no)."
)


def _settings(database_url: str | None) -> Settings:
    return Settings(database_url=database_url) if database_url else Settings()


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="Port to bind."),
    workers: int = typer.Option(1, help="Worker processes; use a --broadcast-url with more."),
    database_url: str | None = DATABASE_URL,
    broadcast_url: str | None = typer.Option(
        None, "--broadcast-url", help="redis://… to fan events out across workers and hosts."
    ),
) -> None:
    """Serve GraphQL over HTTP and WebSocket on /graphql."""
    import uvicorn

    # Workers are fresh processes: they read their settings from the environment.
    if database_url:
        os.environ["OWNERGRAPH_DATABASE_URL"] = database_url
    if broadcast_url:
        os.environ["OWNERGRAPH_BROADCAST_URL"] = broadcast_url
    # Where it listens decides whether demo sign-in may be on (Settings.demo_login_enabled).
    os.environ["OWNERGRAPH_BIND_HOST"] = host
    get_settings.cache_clear()
    # Logging is the app's (ownergraph/logs.py): one format, a request id on every line.
    from ownergraph.app import uvicorn_options

    uvicorn.run(
        "ownergraph.app:served",
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        **uvicorn_options(get_settings()),
    )


@app.command()
def migrate(database_url: str | None = DATABASE_URL) -> None:
    """Upgrade the database schema to the latest revision."""
    from db.migrate import upgrade

    url = _settings(database_url).database_url
    upgrade(url)
    shown = make_url(url).render_as_string(hide_password=True)
    typer.echo(f"Database {shown} is at the latest revision.")


@app.command()
def seed(
    demo: bool = typer.Option(False, "--demo", help="Load the demo organisation and customers."),
    customers: int = typer.Option(
        0, "--customers", min=0, help="Then add this many generated customers (bulk load)."
    ),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Load demo data into an empty database (does nothing if it is already there), and
    optionally many generated customers on top, to try the system at scale."""
    if not demo and not customers:
        raise _fail("Pass --demo, --customers N, or both.")
    settings = _settings(database_url)
    if demo:
        seeded = asyncio.run(_seed(settings))
        typer.echo("Demo data loaded." if seeded else "Demo data already present; nothing to do.")
    if customers:
        try:
            added = asyncio.run(_seed_customers(settings, customers))
        except ValueError as exc:
            raise _fail(str(exc)) from None
        typer.echo(f"Added {added:,} customers.")


async def _seed_customers(settings: Settings, count: int) -> int:
    from db.engine import open_database
    from kernel.clock import SystemClock
    from ownergraph.bulk import add_customers

    db = open_database(settings.database_url)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=err, disable=not err.is_terminal) as progress:
            task = progress.add_task("Adding customers", total=count)
            return await add_customers(
                db, SystemClock().now(), count, on_batch=lambda n: progress.advance(task, n)
            )
    finally:
        await db.dispose()


async def _seed(settings: Settings) -> bool:
    from db.engine import open_database
    from kernel.clock import SystemClock
    from ownergraph.seed import STEPS, seed_demo

    db = open_database(settings.database_url)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn())
    try:
        with Progress(
            *columns, console=err, transient=True, disable=not err.is_terminal
        ) as progress:
            task = progress.add_task("Seeding demo data", total=len(STEPS))

            def step(name: str) -> None:
                progress.update(task, advance=1, description=f"Seeded {name}")

            return await seed_demo(db, settings, SystemClock(), on_step=step)
    finally:
        await db.dispose()


@token_app.command("issue")
def token_issue(
    user: str | None = typer.Option(None, "--user", help="Email of the user."),
    partner: str | None = typer.Option(None, "--partner", help="Name of the partner."),
    scopes: str | None = typer.Option(
        None, "--scopes", help="Comma-separated, e.g. customer:read,customer:create. Default *."
    ),
    ttl: str | None = typer.Option(None, "--ttl", help="Lifetime: 30d, 12h or 90m."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Issue a token for a user or a partner and print the JWT (shown only once).

    The token's id, for `token revoke` and revokeApiToken, goes to stderr.
    """
    if (user is None) == (partner is None):
        raise _fail("Pass exactly one of --user EMAIL or --partner NAME.")
    scope_list = [s.strip() for s in (scopes or "").split(",") if s.strip()]
    if partner is not None and not scope_list:
        raise _fail("A partner token needs explicit --scopes, e.g. customer:read.")
    settings = _settings(database_url)
    lifetime = _ttl(ttl) if ttl else timedelta(hours=settings.token_ttl_hours)
    token_id, token = asyncio.run(_issue(settings, user, partner, scope_list or ["*"], lifetime))
    err.print(f"Token id {token_id} (revoke with: ownergraph token revoke {token_id})")
    typer.echo(token)


@token_app.command("list")
def token_list(
    all_: bool = typer.Option(False, "--all", help="Revoked tokens too."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """List tokens, newest first: id, holder, scopes, created, expires, last used, revoked."""
    rows = asyncio.run(_list(_settings(database_url), all_))
    typer.echo("\t".join(("ID", "HOLDER", "SCOPES", "CREATED", "EXPIRES", "LAST_USED", "REVOKED")))
    for line in rows:
        typer.echo("\t".join(line))


@token_app.command("revoke")
def token_revoke(
    token_id: str = typer.Argument(..., metavar="ID", help="The id `token issue` or `list` shows."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Revoke a token at once; its live connections close (through the broadcast URL, if
    the servers use one)."""
    asyncio.run(_revoke(_settings(database_url), token_id))
    typer.echo(f"Token {token_id} is revoked.")


def _ttl(value: str) -> timedelta:
    match = TTL.match(value.strip())
    if not match or int(match[1]) == 0:
        raise typer.BadParameter("use a number and a unit: 30d, 12h or 90m", param_hint="--ttl")
    return timedelta(**{TTL_UNITS[match[2]]: int(match[1])})


@asynccontextmanager
async def _operator(settings: Settings) -> AsyncIterator[Context]:
    """The command line acts through the same use cases as the API, as the operator, so
    what it does is checked and audited the same way."""
    from kernel.errors import DomainError
    from ownergraph.app import make_services
    from resolvers.context import context_for_operator

    services = make_services(settings)
    ctx = context_for_operator(services)
    try:
        yield ctx
    except DomainError as exc:
        raise _fail(exc.message) from None
    finally:
        await ctx.close()
        await services.bus.close()
        await services.db.dispose()


async def _issue(
    settings: Settings,
    email: str | None,
    partner_name: str | None,
    scopes: list[str],
    lifetime: timedelta,
) -> tuple[int, str]:
    from db.models import User
    from resolvers.tokens import issue_api_token

    async with _operator(settings) as ctx:
        user_id = None
        if email is not None:
            session = await ctx.session()
            user_id = await session.scalar(
                select(User.id).where(col(User.email) == email.strip(), col(User.active))
            )
            if user_id is None:
                raise _fail(f"No active user with email {email!r}.")
        issued = await issue_api_token(
            ctx,
            scopes=scopes,
            partner_name=partner_name,
            user_id=user_id,
            expires_at=ctx.now() + lifetime,
        )
        assert issued.row.id is not None
        return issued.row.id, issued.token


async def _list(settings: Settings, include_revoked: bool) -> list[tuple[str, ...]]:
    from db.models import User
    from resolvers.tokens import list_api_tokens

    def when(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"

    async with _operator(settings) as ctx:
        listed = await list_api_tokens(ctx, include_revoked=include_revoked)
        ids = {t.row.user_id for t in listed if t.row.user_id is not None}
        session = await ctx.session()
        found = await session.execute(select(User.id, User.email).where(col(User.id).in_(ids)))
        emails: dict[int | None, str] = {uid: email for uid, email in found.all()}
        return [
            (
                str(t.row.id),
                f"partner:{t.partner_name}" if t.partner_name else str(emails.get(t.row.user_id)),
                ",".join(t.row.scopes or []),
                when(t.row.created_at),
                when(t.row.expires_at),
                when(t.row.last_used_at),
                when(t.row.revoked_at),
            )
            for t in listed
        ]


async def _revoke(settings: Settings, token_id: str) -> None:
    from resolvers.tokens import revoke_api_token

    async with _operator(settings) as ctx:
        await revoke_api_token(ctx, token_id)


@app.command("import-customers")
def import_customers(
    file: Path = typer.Argument(..., metavar="FILE", help=IMPORT_COLUMNS_HELP, show_default=False),
    as_user: str = typer.Option(..., "--as", help="Email of the user the import acts as."),
    database_url: str | None = DATABASE_URL,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Validate and look for duplicates; write nothing."
    ),
) -> None:
    """Create customers from a CSV file through the assignment rules, one row at a time.

    Duplicate and invalid rows are reported with their line numbers and skipped.
    """
    from ownergraph.importer import ImportFileError, read_rows

    try:
        rows = read_rows(file)
    except ImportFileError as exc:
        raise _fail(str(exc)) from None
    report = asyncio.run(_import(_settings(database_url), rows, as_user, dry_run))
    for line in report.lines():
        typer.echo(line)


async def _import(settings: Settings, rows: list[Row], email: str, dry_run: bool) -> ImportReport:
    from kernel.errors import DomainError
    from ownergraph.app import make_services
    from ownergraph.importer import import_rows
    from resolvers.context import context_for_user

    services = make_services(settings)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    try:
        ctx = await context_for_user(services, email)
        with Progress(
            *columns, console=err, transient=True, disable=not err.is_terminal
        ) as progress:
            task = progress.add_task("Checking" if dry_run else "Importing", total=len(rows))
            try:
                return await import_rows(
                    ctx, rows, dry_run=dry_run, on_row=lambda: progress.advance(task)
                )
            finally:
                await ctx.close()
    except DomainError as exc:  # no such user, or one who may not create customers
        raise _fail(exc.message) from None
    finally:
        await services.bus.close()
        await services.db.dispose()


def _as_operator(settings: Settings, work: Callable[[Context], Awaitable[T]]) -> T:
    async def run() -> T:
        async with _operator(settings) as ctx:
            return await work(ctx)

    return asyncio.run(run())


def _table(rows: list[tuple[str, ...]]) -> None:
    for line in rows:
        typer.echo("\t".join(line))


NAME = typer.Option(None, "--name", help="Full name.")
ROLE = typer.Option(
    None, "--role", help="ADMIN, DIRECTOR, MANAGER, REP, SERVICE, AUDITOR or ARBITER."
)
TEAM = typer.Option(None, "--team", help="Team name; 'none' for no team.")
CAPACITY = typer.Option(None, "--capacity", help="Most customers owned; 'none' for no limit.")
LOCK_QUOTA = typer.Option(None, "--lock-quota", help="Customers held locked; 'none': may not lock.")
REGIONS = typer.Option(None, "--regions", help="Comma-separated, e.g. East,North.")
INDUSTRIES = typer.Option(None, "--industries", help="Comma-separated, e.g. Retail,Energy.")


@user_app.command("add")
def user_add(
    email: str = typer.Option(..., "--email", help="Sign-in email (unique)."),
    name: str = typer.Option(..., "--name", help="Full name."),
    role: str = typer.Option(..., "--role", help="ADMIN, DIRECTOR, MANAGER, REP, SERVICE, ..."),
    team: str | None = TEAM,
    capacity: str | None = CAPACITY,
    lock_quota: str | None = LOCK_QUOTA,
    regions: str | None = REGIONS,
    industries: str | None = INDUSTRIES,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Create a user (checked and audited as createUser is)."""
    from ownergraph import organisation

    options = {"email": email, "name": name, "role": role, "team": team, "capacity": capacity,
               "lock_quota": lock_quota, "regions": regions, "industries": industries}  # fmt: skip
    settings = _settings(database_url)
    typer.echo(_as_operator(settings, lambda ctx: organisation.create_user(ctx, options)))


@user_app.command("update")
def user_update(
    email: str = typer.Argument(..., metavar="EMAIL", help="The user to change."),
    name: str | None = NAME,
    role: str | None = ROLE,
    team: str | None = TEAM,
    capacity: str | None = CAPACITY,
    lock_quota: str | None = LOCK_QUOTA,
    regions: str | None = REGIONS,
    industries: str | None = INDUSTRIES,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Change the options given; the rest stay. A user moved to another team keeps their
    customers, which their new manager sees at once."""
    from ownergraph import organisation

    options = {"name": name, "role": role, "team": team, "capacity": capacity,
               "lock_quota": lock_quota, "regions": regions, "industries": industries}  # fmt: skip
    settings = _settings(database_url)
    typer.echo(_as_operator(settings, lambda ctx: organisation.update_user(ctx, email, options)))


@user_app.command("list")
def user_list(
    team: str | None = typer.Option(None, "--team", help="Only this team's members."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """List users, tab-separated."""
    from ownergraph import organisation

    _table(_as_operator(_settings(database_url), lambda ctx: organisation.user_table(ctx, team)))


@team_app.command("add")
def team_add(
    name: str = typer.Argument(..., metavar="NAME", help="Unique team name."),
    parent: str | None = typer.Option(None, "--parent", help="Name of the parent team."),
    manager: str | None = typer.Option(None, "--manager", help="Email of the manager."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Create a team (checked and audited as createTeam is)."""
    from ownergraph import organisation

    settings = _settings(database_url)
    typer.echo(
        _as_operator(settings, lambda ctx: organisation.create_team(ctx, name, parent, manager))
    )


@team_app.command("list")
def team_list(database_url: str | None = DATABASE_URL) -> None:
    """List teams in tree order, tab-separated."""
    from ownergraph import organisation

    _table(_as_operator(_settings(database_url), organisation.team_table))


@app.command("import-users")
def import_users(
    file: Path = typer.Argument(
        ...,
        metavar="FILE",
        show_default=False,
        help="CSV, UTF-8, header: name,email,role,team,capacity,lock_quota,regions,industries "
        "(team by name; lists separated by , ; or |; 'none' or empty for no value).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every row; write nothing."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Create users from a CSV file, all or nothing: every row is checked as createUser
    checks it, and if any row has a problem, each is listed and nothing is written."""
    from ownergraph import organisation

    try:
        rows = organisation.read_users(file)
    except organisation.UsersFileError as exc:
        raise _fail(str(exc)) from None
    settings = _settings(database_url)
    report = _as_operator(
        settings, lambda ctx: organisation.import_users(ctx, rows, dry_run=dry_run)
    )
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)


@app.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from schema.root import schema

    typer.echo(schema.as_str())


@persisted_app.command("load")
def persisted_load(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The manifest (JSON)."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Load the operations of a client build: an Apollo persisted-query manifest
    (`generate-persisted-query-manifest`) or a plain {"sha256": "query"} map.

    All or nothing: every id must be the SHA-256 of its body and every body must validate
    against this server's schema. Operations already stored are kept.
    """
    from ownergraph.persisted import ManifestError, invalid_operations, read_manifest
    from schema.root import schema

    try:
        bodies = read_manifest(file.read_text(encoding="utf-8"))
    except ManifestError as exc:
        raise _fail(f"{file}: {exc}") from exc
    problems = invalid_operations(schema._schema, bodies)
    if problems:
        for problem in problems:
            err.print(f"[red]invalid:[/red] {problem}", highlight=False)
        raise _fail(f"{len(problems)} of {len(bodies)} operations do not validate; none loaded.")
    added = asyncio.run(_load_persisted(_settings(database_url), bodies))
    typer.echo(f"{added} operations loaded, {len(bodies) - added} already there.")


async def _load_persisted(settings: Settings, bodies: dict[str, tuple[str, str | None]]) -> int:
    from db.engine import open_database
    from db.persisted import add_bodies
    from kernel.clock import SystemClock

    db = open_database(settings.database_url)
    try:
        async with db.write() as session, session.begin():
            return await add_bodies(session, bodies, source="manifest", now=SystemClock().now())
    finally:
        await db.dispose()
