"""reminder params (a reminder's text is rendered from its kind and these, per reader);
the due time a customer's overdue follow-up was escalated; the dispute change log;
assignment rules matching people's regions and industries, and crossing teams

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

UNESCALATED = (
    "owner_id IS NOT NULL AND (overdue_escalated_at IS NULL "
    "OR overdue_escalated_at < next_follow_up_due)"
)

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        # Null on reminders written before: their stored English message is shown.
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("overdue_escalated_at", UTCDateTime(), nullable=True))
    # The escalation job reads only the customers it may still have to escalate.
    op.create_index(
        "ix_customer_follow_up_unescalated",
        "customer",
        ["next_follow_up_due"],
        sqlite_where=sa.text(UNESCALATED),
        postgresql_where=sa.text(UNESCALATED),
    )

    # disputeUpdated replays by this table's ids (db/ownership.announce_disputes).
    op.create_table(
        "dispute_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dispute_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["dispute_id"], ["dispute.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dispute_change_dispute_id", "dispute_change", ["dispute_id"])
    with op.batch_alter_table("assignment_rule", schema=None) as batch_op:
        for flag in ("by_region", "by_industry", "cross_team"):
            batch_op.add_column(
                sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    with op.batch_alter_table("assignment_rule", schema=None) as batch_op:
        for flag in ("by_region", "by_industry", "cross_team"):
            batch_op.drop_column(flag)
    op.drop_index("ix_dispute_change_dispute_id", table_name="dispute_change")
    op.drop_table("dispute_change")
    op.drop_index("ix_customer_follow_up_unescalated", table_name="customer")
    # Plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): rebuilding `customer` would trip the
    # foreign keys that point at it.
    op.drop_column("customer", "overdue_escalated_at")
    op.drop_column("reminder", "params")
