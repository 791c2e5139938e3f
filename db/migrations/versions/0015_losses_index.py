"""indexes for counting: each person's losses (the former-owner and cooldown relations),
and the pools' customers by pool (a REP's count of them, from the index alone)

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The relations read a caller's own losses instead of every customer's history.
    op.create_index("ix_event_from_user", "ownership_event", ["from_user_id", "customer_id", "id"])
    pooled = sa.text("owner_id IS NULL AND merged_into_id IS NULL")
    op.create_index(
        "ix_customer_pooled", "customer", ["pool_id"], sqlite_where=pooled, postgresql_where=pooled
    )


def downgrade() -> None:
    op.drop_index("ix_customer_pooled", table_name="customer")
    op.drop_index("ix_event_from_user", table_name="ownership_event")
