"""audit entries: append-only, and one for every ownership event, by the database

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-01 10:20:00

A trigger refuses every UPDATE and DELETE of `audit_entry` (and TRUNCATE on PostgreSQL),
so no code path, present or future, can rewrite who read or changed what. Another writes
an `ownership.<kind>` entry for every ownership event inserted, whichever path inserts it
(one event at a time, a departure's INSERT ... SELECT, the recycle job), in the same
transaction.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

MESSAGE = "audit entries are append-only"
# A customer a partner entered names no user as actor: the entry names the partner.
# Written `(PARTNER)` in the statements below (which have JSON braces of their own).
PARTNER = """
    SELECT referred_by_partner_id FROM customer
    WHERE id = NEW.customer_id AND NEW.kind = 'CREATED' AND NEW.actor_id IS NULL
"""

SQLITE_UP = [
    *(
        f"""
        CREATE TRIGGER audit_entry_no_{verb.lower()} BEFORE {verb} ON audit_entry
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END
        """
        for verb in ("UPDATE", "DELETE")
    ),
    # json_patch onto {} drops the keys whose value is null.
    """
    CREATE TRIGGER ownership_event_audited AFTER INSERT ON ownership_event
    BEGIN
        INSERT INTO audit_entry (at, actor_id, partner_id, action, customer_id, detail)
        VALUES (NEW.at, NEW.actor_id, (PARTNER), 'ownership.' || lower(NEW.kind), NEW.customer_id,
                json_patch('{}', json_object('event_id', NEW.id, 'from_user_id',
                    NEW.from_user_id, 'to_user_id', NEW.to_user_id, 'rule', NEW.rule)));
    END
    """,
]
POSTGRES_UP = [
    f"""
    CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege'; END $$
    """,
    """
    CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()
    """,
    """
    CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()
    """,
    """
    CREATE FUNCTION ownership_event_audited() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO audit_entry (at, actor_id, partner_id, action, customer_id, detail)
        VALUES (NEW.at, NEW.actor_id, (PARTNER), 'ownership.' || lower(NEW.kind), NEW.customer_id,
                json_strip_nulls(json_build_object('event_id', NEW.id, 'from_user_id',
                    NEW.from_user_id, 'to_user_id', NEW.to_user_id, 'rule', NEW.rule)));
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER ownership_event_audited AFTER INSERT ON ownership_event
    FOR EACH ROW EXECUTE FUNCTION ownership_event_audited()
    """,
]


def upgrade() -> None:
    op.create_index("ix_audit_entry_action_id", "audit_entry", ["action", "id"])
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_UP if postgres else SQLITE_UP:
        op.execute(statement.replace("(PARTNER)", f"({PARTNER})"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ownership_event_audited ON ownership_event")
        op.execute("DROP FUNCTION IF EXISTS ownership_event_audited()")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_change ON audit_entry")
        op.execute("DROP FUNCTION IF EXISTS audit_entry_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS ownership_event_audited")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_delete")
    op.drop_index("ix_audit_entry_action_id", table_name="audit_entry")
