"""indexes the write path and jobs need at a million customers

Revision ID: 0008
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


# SQLite: an FTS5 trigram index over customer.name_key (external content: it stores only
# the index), kept in step by triggers. See db/search.py.
SQLITE_UP = [
    "CREATE VIRTUAL TABLE customer_name_fts USING fts5("
    "name_key, content='customer', content_rowid='id', tokenize='trigram')",
    "INSERT INTO customer_name_fts(customer_name_fts) VALUES ('rebuild')",
    "CREATE TRIGGER customer_name_fts_insert AFTER INSERT ON customer BEGIN "
    "INSERT INTO customer_name_fts(rowid, name_key) VALUES (new.id, new.name_key); END",
    "CREATE TRIGGER customer_name_fts_delete AFTER DELETE ON customer BEGIN "
    "INSERT INTO customer_name_fts(customer_name_fts, rowid, name_key) "
    "VALUES ('delete', old.id, old.name_key); END",
    "CREATE TRIGGER customer_name_fts_update AFTER UPDATE OF name_key ON customer BEGIN "
    "INSERT INTO customer_name_fts(customer_name_fts, rowid, name_key) "
    "VALUES ('delete', old.id, old.name_key); "
    "INSERT INTO customer_name_fts(rowid, name_key) VALUES (new.id, new.name_key); END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS customer_name_fts_update",
    "DROP TRIGGER IF EXISTS customer_name_fts_delete",
    "DROP TRIGGER IF EXISTS customer_name_fts_insert",
    "DROP TABLE IF EXISTS customer_name_fts",
]


UNREMINDED = (
    "owner_id IS NOT NULL AND (follow_up_reminded_at IS NULL "
    "OR follow_up_reminded_at < next_follow_up_due)"
)
UNWARNED = (
    "owner_id IS NOT NULL AND (recycle_warned_at IS NULL OR recycle_warned_at <= recycle_clock_at)"
)
# When the owner was last warned of recycling, from the warnings so far.
BACKFILL_WARNED = """
UPDATE customer SET recycle_warned_at = (
    SELECT max(r.created_at) FROM reminder r
    WHERE r.customer_id = customer.id AND r.user_id = customer.owner_id
      AND r.kind = 'RECYCLE_WARNING' AND r.status <> 'CANCELLED'
) WHERE owner_id IS NOT NULL
"""
# The due time the owner already has a follow-up reminder for, from the reminders so far.
BACKFILL = """
UPDATE customer SET follow_up_reminded_at = (
    SELECT max(r.due_at) FROM reminder r
    WHERE r.customer_id = customer.id AND r.user_id = customer.owner_id
      AND r.kind IN ('FOLLOW_UP_DUE', 'CADENCE_DUE')
) WHERE owner_id IS NOT NULL
"""


def _partial(name: str, columns: list[str], where: str) -> None:
    op.create_index(
        name,
        "customer",
        columns,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    # After a change of owner, reminders about the customers' transfers and disputes are
    # cancelled by (kind, ref_id): without this, each change scans the reminder table.
    op.create_index("ix_reminder_kind_ref", "reminder", ["kind", "ref_id"])
    # ... and the customers' pending transfers by pending_transfer_id.
    _partial(
        "ix_customer_pending_transfer", ["pending_transfer_id"], "pending_transfer_id IS NOT NULL"
    )
    # The jobs read only what they may still have to touch (db/jobs.py): owned customers
    # for recycling, and owned customers whose owner has not been reminded of the due time.
    op.add_column("customer", sa.Column("follow_up_reminded_at", UTCDateTime(), nullable=True))
    op.execute(BACKFILL)
    op.add_column("customer", sa.Column("recycle_warned_at", UTCDateTime(), nullable=True))
    op.execute(BACKFILL_WARNED)
    op.drop_index("ix_customer_recycle", table_name="customer")
    _partial("ix_customer_recycle_owned", ["tier", "recycle_clock_at"], "owner_id IS NOT NULL")
    _partial("ix_customer_follow_up_unreminded", ["next_follow_up_due"], UNREMINDED)
    _partial("ix_customer_recycle_unwarned", ["tier", "recycle_clock_at"], UNWARNED)
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension: the database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_customer_name_key_trgm ON customer USING gin (name_key gin_trgm_ops)"
        )
    else:
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_customer_name_key_trgm")
    else:
        for statement in SQLITE_DOWN:
            op.execute(statement)
    op.drop_index("ix_customer_recycle_unwarned", table_name="customer")
    op.drop_index("ix_customer_follow_up_unreminded", table_name="customer")
    op.drop_index("ix_customer_recycle_owned", table_name="customer")
    op.create_index("ix_customer_recycle", "customer", ["tier", "recycle_clock_at"])
    with op.batch_alter_table("customer") as batch_op:
        batch_op.drop_column("follow_up_reminded_at")
        batch_op.drop_column("recycle_warned_at")
    op.drop_index("ix_customer_pending_transfer", table_name="customer")
    op.drop_index("ix_reminder_kind_ref", table_name="reminder")
