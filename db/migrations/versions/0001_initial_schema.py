"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 06:29:42.481519
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from db.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("manager_id", sa.Integer(), nullable=True),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_team_path"), ["path"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("industries", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("deactivated_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_role"), ["role"], unique=False)
        batch_op.create_index(batch_op.f("ix_users_team_id"), ["team_id"], unique=False)

    # team.manager_id and users.team_id point at each other: add this one afterwards.
    with op.batch_alter_table("team") as batch_op:
        batch_op.create_foreign_key("fk_team_manager", "users", ["manager_id"], ["id"])
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_partner_id"), ["partner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "assignment_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("industry", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("tier", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("strategy", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("last_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["last_user_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("assignment_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assignment_rule_position"), ["position"], unique=False)

    op.create_table(
        "transfer_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("from_user_id", sa.Integer(), nullable=True),
        sa.Column("to_user_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["from_user_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["to_user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("transfer_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transfer_request_from_user_id"), ["from_user_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_transfer_request_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_transfer_request_to_user_id"), ["to_user_id"], unique=False
        )

    op.create_table(
        "approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("approver_id", sa.Integer(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["approver_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfer_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("transfer_id", "approver_id"),
    )
    with op.batch_alter_table("approval", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approval_approver_id"), ["approver_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_transfer_id"), ["transfer_id"], unique=False)

    op.create_table(
        "customer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("industry", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("size", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("tier", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("tax_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("deal_value", sa.Float(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("owner_credit_share", sa.Integer(), nullable=False),
        sa.Column("owned_since", UTCDateTime(), nullable=True),
        sa.Column("previous_owner_id", sa.Integer(), nullable=True),
        sa.Column("pooled_at", UTCDateTime(), nullable=True),
        sa.Column("recycle_clock_at", UTCDateTime(), nullable=False),
        sa.Column("last_follow_up_at", UTCDateTime(), nullable=True),
        sa.Column("next_follow_up_due", UTCDateTime(), nullable=True),
        sa.Column("referred_by_partner_id", sa.Integer(), nullable=True),
        sa.Column("pending_transfer_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["pending_transfer_id"],
            ["transfer_request.id"],
        ),
        sa.ForeignKeyConstraint(
            ["previous_owner_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["referred_by_partner_id"],
            ["partner.id"],
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_industry"), ["industry"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_name_key"), ["name_key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_customer_next_follow_up_due"), ["next_follow_up_due"], unique=False
        )
        batch_op.create_index("ix_customer_owner_id_id", ["owner_id", "id"], unique=False)
        batch_op.create_index("ix_customer_recycle", ["tier", "recycle_clock_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_customer_referred_by_partner_id"),
            ["referred_by_partner_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_customer_region"), ["region"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_stage"), ["stage"], unique=False)
        batch_op.create_index("ix_customer_team_id_id", ["team_id", "id"], unique=False)

    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entry_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_entry_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "collaborator",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("credit_share", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("customer_id", "user_id"),
    )
    with op.batch_alter_table("collaborator", schema=None) as batch_op:
        batch_op.create_index(
            "ix_collaborator_user_customer", ["user_id", "customer_id"], unique=False
        )

    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("is_decision_maker", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "customer_key",
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
        ),
        sa.PrimaryKeyConstraint("kind", "value"),
    )
    with op.batch_alter_table("customer_key", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_key_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "dispute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("claimant_id", sa.Integer(), nullable=False),
        sa.Column("respondent_id", sa.Integer(), nullable=True),
        sa.Column("arbiter_id", sa.Integer(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("awarded_to_id", sa.Integer(), nullable=True),
        sa.Column("credit_split", sa.JSON(), nullable=False),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["arbiter_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["awarded_to_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["claimant_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["respondent_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dispute", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dispute_arbiter_id"), ["arbiter_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dispute_claimant_id"), ["claimant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dispute_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dispute_status"), ["status"], unique=False)

    op.create_table(
        "follow_up",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
        sa.Column("next_follow_up_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("follow_up", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_follow_up_author_id"), ["author_id"], unique=False)
        batch_op.create_index("ix_follow_up_customer_at", ["customer_id", "at", "id"], unique=False)

    op.create_table(
        "ownership_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("from_user_id", sa.Integer(), nullable=True),
        sa.Column("to_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["from_user_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.ForeignKeyConstraint(
            ["to_user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ownership_event", schema=None) as batch_op:
        batch_op.create_index("ix_event_customer_id", ["customer_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ownership_event_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ownership_event_team_id"), ["team_id"], unique=False)

    op.create_table(
        "partner_customer",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner.id"],
        ),
        sa.PrimaryKeyConstraint("partner_id", "customer_id"),
    )
    with op.batch_alter_table("partner_customer", schema=None) as batch_op:
        batch_op.create_index("ix_partner_customer_customer", ["customer_id"], unique=False)

    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminder_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_reminder_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index(
            "ix_reminder_user_status", ["user_id", "status", "due_at"], unique=False
        )

    op.create_table(
        "transfer_item",
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfer_request.id"],
        ),
        sa.PrimaryKeyConstraint("transfer_id", "customer_id"),
    )
    with op.batch_alter_table("transfer_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transfer_item_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("team") as batch_op:
        batch_op.drop_constraint("fk_team_manager", type_="foreignkey")
    with op.batch_alter_table("transfer_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_item_customer_id"))

    op.drop_table("transfer_item")
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_index("ix_reminder_user_status")
        batch_op.drop_index("ix_reminder_status_due")
        batch_op.drop_index(batch_op.f("ix_reminder_customer_id"))

    op.drop_table("reminder")
    with op.batch_alter_table("partner_customer", schema=None) as batch_op:
        batch_op.drop_index("ix_partner_customer_customer")

    op.drop_table("partner_customer")
    with op.batch_alter_table("ownership_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ownership_event_team_id"))
        batch_op.drop_index(batch_op.f("ix_ownership_event_at"))
        batch_op.drop_index("ix_event_customer_id")

    op.drop_table("ownership_event")
    with op.batch_alter_table("follow_up", schema=None) as batch_op:
        batch_op.drop_index("ix_follow_up_customer_at")
        batch_op.drop_index(batch_op.f("ix_follow_up_author_id"))

    op.drop_table("follow_up")
    with op.batch_alter_table("dispute", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dispute_status"))
        batch_op.drop_index(batch_op.f("ix_dispute_customer_id"))
        batch_op.drop_index(batch_op.f("ix_dispute_claimant_id"))
        batch_op.drop_index(batch_op.f("ix_dispute_arbiter_id"))

    op.drop_table("dispute")
    with op.batch_alter_table("customer_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_key_customer_id"))

    op.drop_table("customer_key")
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_customer_id"))

    op.drop_table("contact")
    with op.batch_alter_table("collaborator", schema=None) as batch_op:
        batch_op.drop_index("ix_collaborator_user_customer")

    op.drop_table("collaborator")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_customer_id"))
        batch_op.drop_index(batch_op.f("ix_audit_entry_at"))
        batch_op.drop_index(batch_op.f("ix_audit_entry_actor_id"))

    op.drop_table("audit_entry")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_team_id_id")
        batch_op.drop_index(batch_op.f("ix_customer_stage"))
        batch_op.drop_index(batch_op.f("ix_customer_region"))
        batch_op.drop_index(batch_op.f("ix_customer_referred_by_partner_id"))
        batch_op.drop_index("ix_customer_recycle")
        batch_op.drop_index("ix_customer_owner_id_id")
        batch_op.drop_index(batch_op.f("ix_customer_next_follow_up_due"))
        batch_op.drop_index(batch_op.f("ix_customer_name_key"))
        batch_op.drop_index(batch_op.f("ix_customer_industry"))

    op.drop_table("customer")
    with op.batch_alter_table("approval", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_transfer_id"))
        batch_op.drop_index(batch_op.f("ix_approval_approver_id"))

    op.drop_table("approval")
    with op.batch_alter_table("transfer_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_request_to_user_id"))
        batch_op.drop_index(batch_op.f("ix_transfer_request_status"))
        batch_op.drop_index(batch_op.f("ix_transfer_request_from_user_id"))

    op.drop_table("transfer_request")
    with op.batch_alter_table("assignment_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignment_rule_position"))

    op.drop_table("assignment_rule")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))
        batch_op.drop_index(batch_op.f("ix_api_token_partner_id"))

    op.drop_table("api_token")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_team_id"))
        batch_op.drop_index(batch_op.f("ix_users_role"))

    op.drop_table("users")
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_path"))
        batch_op.drop_index(batch_op.f("ix_team_parent_id"))

    op.drop_table("team")
    op.drop_table("partner")
