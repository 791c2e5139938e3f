"""The `ownergraph` command: serve, migrate, seed, import customers, issue tokens, export
the schema."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

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

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Customer ownership GraphQL server: serve, migrate, seed, import, tokens, schema.",
)
token_app = typer.Typer(no_args_is_help=True, help="Bearer tokens for users and partners.")
app.add_typer(token_app, name="token")

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
    get_settings.cache_clear()
    uvicorn.run("ownergraph.app:create_app", factory=True, host=host, port=port, workers=workers)


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
    """Issue a token for a user or a partner and print the JWT (shown only once)."""
    if (user is None) == (partner is None):
        raise _fail("Pass exactly one of --user EMAIL or --partner NAME.")
    scope_list = [s.strip() for s in (scopes or "").split(",") if s.strip()]
    if partner is not None and not scope_list:
        raise _fail("A partner token needs explicit --scopes, e.g. customer:read.")
    settings = _settings(database_url)
    lifetime = _ttl(ttl) if ttl else timedelta(hours=settings.token_ttl_hours)
    token = asyncio.run(_issue(settings, user, partner, scope_list or ["*"], lifetime))
    typer.echo(token)


def _ttl(value: str) -> timedelta:
    match = TTL.match(value.strip())
    if not match or int(match[1]) == 0:
        raise typer.BadParameter("use a number and a unit: 30d, 12h or 90m", param_hint="--ttl")
    return timedelta(**{TTL_UNITS[match[2]]: int(match[1])})


async def _issue(
    settings: Settings,
    email: str | None,
    partner_name: str | None,
    scopes: list[str],
    lifetime: timedelta,
) -> str:
    from authz.tokens import issue_token
    from db.engine import open_database
    from db.models import Partner, User
    from kernel.clock import SystemClock

    db = open_database(settings.database_url)
    now = SystemClock().now()
    try:
        async with db.write.begin() as session:
            user = partner = None
            if email is not None:
                user = await session.scalar(select(User).where(col(User.email) == email.strip()))
                if user is None or not user.active:
                    raise _fail(f"No active user with email {email!r}.")
            else:
                partner = await session.scalar(
                    select(Partner).where(col(Partner.name) == partner_name)
                )
                if partner is None or not partner.active:
                    raise _fail(f"No active partner named {partner_name!r}.")
            _row, token = await issue_token(
                session=session,
                secret=settings.secret(),
                algorithm=settings.jwt_algorithm,
                now=now,
                scopes=scopes,
                expires_at=now + lifetime,
                user=user,
                partner=partner,
            )
            return token
    finally:
        await db.dispose()


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


@app.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from schema.root import schema

    typer.echo(schema.as_str())
