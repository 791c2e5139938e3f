"""`ownergraph seed --customers N`: many customers, consistent with what the API writes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, text
from sqlmodel import col

from db.models import Collaborator, Customer, CustomerKey, OwnershipEvent, Team, User
from ownergraph.bulk import add_customers
from tests.conftest import Api, db_id

CREATE = (
    """mutation($name: String!) { createCustomer(input: {name: $name}) { id owner { name } } }"""
)
PAGE = """{ customers(first: 5, filter: {search: "bulk-only"}) { totalCount } }"""


async def test_bulk_customers_are_whole_and_the_api_carries_on(api: Api) -> None:
    db = api.services.db
    async with db.read() as session:
        before = await session.scalar(select(func.count()).select_from(Customer))
        last_event = await session.scalar(select(func.max(OwnershipEvent.id)))
    batches: list[int] = []
    added = await add_customers(
        db, api.services.clock.now(), 5_000, batch=2_000, on_batch=batches.append
    )
    assert added == 5_000 and batches == [2_000, 2_000, 1_000]

    async with db.read() as session:
        after = await session.scalar(select(func.count()).select_from(Customer))
        assert after == before + 5_000
        new = col(Customer.id) > before
        # One CREATED event each, and a name and tax key each.
        events = await session.scalar(
            select(func.count()).where(col(OwnershipEvent.id) > last_event)
        )
        assert events == 5_000
        keys = await session.scalar(
            select(func.count())
            .select_from(CustomerKey)
            .where(col(CustomerKey.customer_id) > before)
        )
        assert keys == 2 * 5_000
        # Owner and collaborators' shares add up to 100 on every new customer.
        shares = (
            await session.execute(
                select(
                    col(Customer.owner_credit_share)
                    + func.coalesce(
                        select(func.sum(Collaborator.credit_share))
                        .where(col(Collaborator.customer_id) == col(Customer.id))
                        .scalar_subquery(),
                        0,
                    )
                )
                .where(new)
                .distinct()
            )
        ).scalars()
        assert set(shares) == {100}
        in_pool = await session.scalar(
            select(func.count()).where(new, col(Customer.owner_id).is_(None))
        )
        assert 0 < in_pool < 5_000
        # An organisation of that size: a team of ten reps was added, and owns customers.
        field_reps = (
            select(col(User.id))
            .join(Team, col(Team.id) == col(User.team_id))
            .where(col(Team.name).like("Field Sales%"))
        )
        assert len((await session.execute(field_reps)).all()) == 10
        owned = await session.scalar(
            select(func.count()).where(new, col(Customer.owner_id).in_(field_reps))
        )
        assert owned > 0

    # The API goes on creating customers and events after the generated ids.
    body = await api.ok(CREATE, {"name": "After The Bulk Load Ltd"}, as_user="alice@demo.test")
    assert db_id(body["createCustomer"]["id"]) > before + 5_000
    async with db.read() as session:
        # Statistics were refreshed (SQLite keeps them in sqlite_stat1).
        if db.dialect == "sqlite":
            assert await session.scalar(text("SELECT count(*) FROM sqlite_stat1")) > 0


def test_cli_seeds_customers_after_the_organisation(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ownergraph.cli import app

    url = f"sqlite:///{tmp_path / 'bulk.db'}"
    run = CliRunner().invoke
    assert run(app, ["migrate", "--database-url", url]).exit_code == 0
    # Generated customers need owners: without the organisation it says so.
    empty = run(app, ["seed", "--customers", "10", "--database-url", url])
    assert empty.exit_code == 1 and "seed --demo" in empty.stderr
    both = run(app, ["seed", "--demo", "--customers", "30", "--database-url", url])
    assert both.exit_code == 0, both.output
    assert "Added 30 customers." in both.stdout
