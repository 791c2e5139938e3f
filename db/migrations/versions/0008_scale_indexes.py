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


def upgrade() -> None:
    # After a change of owner, reminders about the customers' transfers and disputes are
    # cancelled by (kind, ref_id): without this, each change scans the reminder table.
    op.create_index("ix_reminder_kind_ref", "reminder", ["kind", "ref_id"])


def downgrade() -> None:
    op.drop_index("ix_reminder_kind_ref", table_name="reminder")
