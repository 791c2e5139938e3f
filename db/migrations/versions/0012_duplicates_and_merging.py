"""duplicates that catch look-alikes, and merging: keys recomputed, name trigrams, merged_into

Revision ID: 0012
Revises: 0010

Duplicate keys change (db/keys.py): phones become E.164 numbers, and group words (集团,
Group, Holdings) are part of the name. Every stored key is recomputed in batches of
customers in id order; a key two customers now share stays with the older one.
"""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from alembic import op

from db.keys import company_key, customer_keys

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BATCH = 2000

# SQLite: an FTS5 trigram index over '^' || name_key || '$' (contentless: the index only),
# for similar-name candidates (db/similar.py), kept in step by triggers.
PADDED_NEW = "'^' || new.name_key || '$'"
PADDED_OLD = "'^' || old.name_key || '$'"
# A contentless table forgets a row by being told the values it indexed.
DELETE_OLD = (
    "INSERT INTO customer_name_grams(customer_name_grams, rowid, name_key) "
    f"VALUES ('delete', old.id, {PADDED_OLD});"
)
INSERT_NEW = f"INSERT INTO customer_name_grams(rowid, name_key) VALUES (new.id, {PADDED_NEW});"
SQLITE_UP = [
    "CREATE VIRTUAL TABLE customer_name_grams USING fts5(name_key, content='', tokenize='trigram')",
    "INSERT INTO customer_name_grams(rowid, name_key) "
    "SELECT id, '^' || name_key || '$' FROM customer",
    f"CREATE TRIGGER customer_name_grams_insert AFTER INSERT ON customer BEGIN {INSERT_NEW} END",
    f"CREATE TRIGGER customer_name_grams_delete AFTER DELETE ON customer BEGIN {DELETE_OLD} END",
    "CREATE TRIGGER customer_name_grams_update AFTER UPDATE OF name_key ON customer BEGIN "
    f"{DELETE_OLD} {INSERT_NEW} END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS customer_name_grams_update",
    "DROP TRIGGER IF EXISTS customer_name_grams_delete",
    "DROP TRIGGER IF EXISTS customer_name_grams_insert",
    "DROP TABLE IF EXISTS customer_name_grams",
]

customer = sa.table(
    "customer",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("name_key", sa.String),
    sa.column("tax_id", sa.String),
)
contact = sa.table(
    "contact",
    sa.column("customer_id", sa.Integer),
    sa.column("phone", sa.String),
    sa.column("email", sa.String),
)
customer_key = sa.table(
    "customer_key",
    sa.column("kind", sa.String),
    sa.column("value", sa.String),
    sa.column("customer_id", sa.Integer),
)


def _recompute_keys(bind: Any) -> None:
    region = os.environ.get("OWNERGRAPH_PHONE_REGION", "CN")
    bind.execute(sa.delete(customer_key))
    taken: set[tuple[str, str]] = set()
    after = 0
    while True:
        rows = bind.execute(
            sa.select(customer.c.id, customer.c.name, customer.c.name_key, customer.c.tax_id)
            .where(customer.c.id > after)
            .order_by(customer.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        after = rows[-1].id
        ids = [r.id for r in rows]
        phones: dict[int, list[str]] = {}
        emails: dict[int, list[str]] = {}
        for cid, phone, email in bind.execute(
            sa.select(contact.c.customer_id, contact.c.phone, contact.c.email).where(
                contact.c.customer_id.in_(ids)
            )
        ):
            if phone:
                phones.setdefault(cid, []).append(phone)
            if email:
                emails.setdefault(cid, []).append(email)
        keys: list[dict[str, Any]] = []
        renamed: list[dict[str, Any]] = []
        for r in rows:
            if (name_key := company_key(r.name)) != r.name_key:
                renamed.append({"cid": r.id, "key": name_key})
            for kind, value in sorted(
                customer_keys(
                    name=r.name,
                    tax_id=r.tax_id,
                    phones=phones.get(r.id),
                    emails=emails.get(r.id),
                    region=region,
                )
            ):
                if (kind, value) not in taken:
                    taken.add((kind, value))
                    keys.append({"kind": kind, "value": value, "customer_id": r.id})
        if renamed:
            bind.execute(
                sa.update(customer)
                .where(customer.c.id == sa.bindparam("cid"))
                .values(name_key=sa.bindparam("key")),
                renamed,
            )
        if keys:
            bind.execute(sa.insert(customer_key), keys)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.add_column(
            "customer",
            sa.Column(
                "merged_into_id",
                sa.Integer(),
                sa.ForeignKey("customer.id", name="fk_customer_merged_into"),
                nullable=True,
            ),
        )
    else:
        # A plain ADD COLUMN: a batch copy of the table would drop its triggers.
        op.execute("ALTER TABLE customer ADD COLUMN merged_into_id INTEGER REFERENCES customer(id)")
    op.create_index(
        "ix_customer_merged_into",
        "customer",
        ["merged_into_id"],
        sqlite_where=sa.text("merged_into_id IS NOT NULL"),
        postgresql_where=sa.text("merged_into_id IS NOT NULL"),
    )
    if bind.dialect.name != "postgresql":
        for statement in SQLITE_UP:
            op.execute(statement)
    _recompute_keys(bind)


def downgrade() -> None:
    # The keys stay as recomputed: the older form is a subset of the same equivalences.
    if op.get_bind().dialect.name != "postgresql":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    op.drop_index("ix_customer_merged_into", table_name="customer")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_customer_merged_into", "customer", type_="foreignkey")
    op.drop_column("customer", "merged_into_id")
