"""a bounded pending list for the trigram index that search reads (PostgreSQL)

Revision ID: 0018
Revises: 0017

Every change of a customer's owner, team or pool writes a new row version, and with it the
name's trigrams into the GIN index's pending list (fast update), which each search then
reads through: at a million customers, after a few hundred writes, 498 pending pages made
a REP's search 52 ms instead of 23 until a vacuum came by. A limit of 256 kB (the default
is 4 MB) merges the list into the index sooner, in small steps paid by the writes.
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

INDEX = "ix_customer_name_key_trgm"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX {INDEX} SET (gin_pending_list_limit = 256)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX {INDEX} RESET (gin_pending_list_limit)")
