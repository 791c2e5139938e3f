"""collaborator access and expiry; transfers keeping the previous owner

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from db.types import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collaborator", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "access",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                nullable=False,
                server_default="WRITE",  # what every first-release collaborator could do
            )
        )
        batch_op.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
    # The expiry job reads only collaborators that expire.
    op.create_index(
        "ix_collaborator_expires_at",
        "collaborator",
        ["expires_at"],
        sqlite_where=sa.text("expires_at IS NOT NULL"),
        postgresql_where=sa.text("expires_at IS NOT NULL"),
    )
    with op.batch_alter_table("transfer_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "keep_previous_owner_as",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "keep_previous_owner_access",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                nullable=False,
                server_default="READ",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("transfer_request", schema=None) as batch_op:
        batch_op.drop_column("keep_previous_owner_access")
        batch_op.drop_column("keep_previous_owner_as")
    op.drop_index("ix_collaborator_expires_at", table_name="collaborator")
    with op.batch_alter_table("collaborator", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("access")
