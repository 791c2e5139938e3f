"""several public pools, locks and protection

Revision ID: 0011
Revises: 0010

The default pool is created here with no rules of its own, so today's settings stay its
rules (db/pools.Rules); every customer in the pool lands in it, having entered it when it
was pooled.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from db.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

DEFAULT_POOL = "Public pool"


def upgrade() -> None:
    op.create_table(
        "pool",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "pool_team",
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["pool_id"], ["pool.id"]),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"]),
        sa.PrimaryKeyConstraint("pool_id", "team_id"),
    )
    op.create_index("ix_pool_team_team_id", "pool_team", ["team_id"])
    op.create_table(
        "pool_admin",
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["pool_id"], ["pool.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("pool_id", "user_id"),
    )
    op.create_index("ix_pool_admin_user_id", "pool_admin", ["user_id"])
    # Plain ADD COLUMN (no table rebuild: triggers name these tables); the foreign keys
    # where the backend can add them to an existing table.
    postgres = op.get_bind().dialect.name == "postgresql"
    for column in (
        sa.Column("pool_id", sa.Integer(), nullable=True),
        sa.Column("pool_entered_at", UTCDateTime(), nullable=True),
        sa.Column("locked_at", UTCDateTime(), nullable=True),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("lock_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("protected_until", UTCDateTime(), nullable=True),
    ):
        op.add_column("customer", column)
    op.create_index("ix_customer_pool_id", "customer", ["pool_id"])
    op.add_column("ownership_event", sa.Column("pool_id", sa.Integer(), nullable=True))
    op.add_column(
        "ownership_event",
        sa.Column("reason_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    )
    if postgres:
        op.create_foreign_key("fk_customer_pool", "customer", "pool", ["pool_id"], ["id"])
        op.create_foreign_key("fk_event_pool", "ownership_event", "pool", ["pool_id"], ["id"])
    op.create_index("ix_event_actor_kind_at", "ownership_event", ["actor_id", "kind", "at"])

    pool = sa.table(
        "pool",
        sa.column("id", sa.Integer()),
        sa.column("name", sa.String()),
        sa.column("is_default", sa.Boolean()),
        sa.column("rules", sa.JSON()),
        sa.column("created_at", UTCDateTime()),
    )
    op.bulk_insert(
        pool,
        [{"name": DEFAULT_POOL, "is_default": True, "rules": {}, "created_at": datetime.now(UTC)}],
    )
    op.execute(
        "UPDATE customer SET pool_id = (SELECT id FROM pool WHERE is_default), "
        "pool_entered_at = COALESCE(pooled_at, created_at) WHERE owner_id IS NULL"
    )
    # The events that left them there name the pool, so replaying them finds it.
    op.execute(
        "UPDATE ownership_event SET pool_id = (SELECT id FROM pool WHERE is_default) "
        "WHERE to_user_id IS NULL AND kind IN "
        "('CREATED', 'RELEASED', 'RECYCLED', 'TRANSFERRED', 'DISPUTE_RESOLVED')"
    )


def downgrade() -> None:
    op.drop_index("ix_event_actor_kind_at", table_name="ownership_event")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_event_pool", "ownership_event", type_="foreignkey")
        op.drop_constraint("fk_customer_pool", "customer", type_="foreignkey")
    op.drop_column("ownership_event", "reason_code")
    op.drop_column("ownership_event", "pool_id")
    op.drop_index("ix_customer_pool_id", table_name="customer")
    for name in (
        "protected_until",
        "lock_reason",
        "locked_until",
        "locked_at",
        "pool_entered_at",
        "pool_id",
    ):
        op.drop_column("customer", name)
    op.drop_index("ix_pool_admin_user_id", table_name="pool_admin")
    op.drop_table("pool_admin")
    op.drop_index("ix_pool_team_team_id", table_name="pool_team")
    op.drop_table("pool_team")
    op.drop_table("pool")
