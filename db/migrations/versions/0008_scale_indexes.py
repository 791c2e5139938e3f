"""indexes the write path and jobs need at a million customers

Revision ID: 0008
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0001"
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


def upgrade() -> None:
    # After a change of owner, reminders about the customers' transfers and disputes are
    # cancelled by (kind, ref_id): without this, each change scans the reminder table.
    op.create_index("ix_reminder_kind_ref", "reminder", ["kind", "ref_id"])
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
    op.drop_index("ix_reminder_kind_ref", table_name="reminder")
