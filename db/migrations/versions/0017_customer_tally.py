"""live customers per (team, pool, in the pool or not), for counts that sum groups

Revision ID: 0017
Revises: 0016

db/tally.py: a count whose conditions read only a customer's team, pool and whether it is
in the pool (a MANAGER's, the pool part of a REP's, an ADMIN's) sums `customer_tally`
instead of reading an index entry per customer. Rows are signed deltas added by triggers
and folded by the scheduler. PostgreSQL tallies per statement (a recycle of thousands adds
a delta per group, and an UPDATE that moves no customer between groups adds none; a bulk
load, which inserts by executemany, tallies each batch itself: db/tally.tally_bulk);
SQLite, whose writers are serial, per row.
"""

from __future__ import annotations

from alembic import op

BULK_SETTING = "ownergraph.bulk_insert"  # db/similar.py: BULK_SETTING

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLE = (
    "CREATE TABLE customer_tally (team_id integer, pool_id integer, "
    "pooled boolean NOT NULL, n integer NOT NULL)"
)
FILL = (
    "INSERT INTO customer_tally (team_id, pool_id, pooled, n) "
    "SELECT team_id, pool_id, owner_id IS NULL, count(*) FROM customer "
    "WHERE merged_into_id IS NULL GROUP BY team_id, pool_id, owner_id IS NULL"
)


def _sqlite_delta(row: str, sign: str) -> str:
    return (
        "INSERT INTO customer_tally (team_id, pool_id, pooled, n) "
        f"SELECT {row}.team_id, {row}.pool_id, {row}.owner_id IS NULL, {sign}1 "
        f"WHERE {row}.merged_into_id IS NULL;"
    )


SQLITE_UP = [
    TABLE,
    FILL,
    "CREATE TRIGGER customer_tally_insert AFTER INSERT ON customer BEGIN "
    f"{_sqlite_delta('new', '')} END",
    "CREATE TRIGGER customer_tally_delete AFTER DELETE ON customer BEGIN "
    f"{_sqlite_delta('old', '-')} END",
    "CREATE TRIGGER customer_tally_update "
    "AFTER UPDATE OF team_id, pool_id, owner_id, merged_into_id ON customer "
    "WHEN old.team_id IS NOT new.team_id OR old.pool_id IS NOT new.pool_id "
    "OR (old.owner_id IS NULL) IS NOT (new.owner_id IS NULL) "
    "OR (old.merged_into_id IS NULL) IS NOT (new.merged_into_id IS NULL) BEGIN "
    f"{_sqlite_delta('old', '-')} {_sqlite_delta('new', '')} END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS customer_tally_update",
    "DROP TRIGGER IF EXISTS customer_tally_delete",
    "DROP TRIGGER IF EXISTS customer_tally_insert",
    "DROP TABLE IF EXISTS customer_tally",
]


def _postgres_deltas(rows: str, sign: str) -> str:
    return (
        "INSERT INTO customer_tally (team_id, pool_id, pooled, n) "
        f"SELECT team_id, pool_id, owner_id IS NULL, {sign}count(*) FROM {rows} "
        "WHERE merged_into_id IS NULL GROUP BY team_id, pool_id, owner_id IS NULL"
    )


# An UPDATE statement's rows that changed group: their old groups lose one, new gain one.
MOVED = (
    "INSERT INTO customer_tally (team_id, pool_id, pooled, n) "
    "SELECT team_id, pool_id, pooled, sum(d) FROM ("
    "SELECT o.team_id, o.pool_id, o.owner_id IS NULL AS pooled, "
    "CASE WHEN o.merged_into_id IS NULL THEN -1 ELSE 0 END AS d FROM moved_from o "
    "JOIN moved_to n ON n.id = o.id WHERE (o.team_id, o.pool_id, o.owner_id IS NULL, "
    "o.merged_into_id IS NULL) IS DISTINCT FROM (n.team_id, n.pool_id, n.owner_id IS NULL, "
    "n.merged_into_id IS NULL) "
    "UNION ALL SELECT n.team_id, n.pool_id, n.owner_id IS NULL, "
    "CASE WHEN n.merged_into_id IS NULL THEN 1 ELSE 0 END FROM moved_from o "
    "JOIN moved_to n ON n.id = o.id WHERE (o.team_id, o.pool_id, o.owner_id IS NULL, "
    "o.merged_into_id IS NULL) IS DISTINCT FROM (n.team_id, n.pool_id, n.owner_id IS NULL, "
    "n.merged_into_id IS NULL)) AS t "
    "GROUP BY team_id, pool_id, pooled HAVING sum(d) <> 0"
)

POSTGRES_UP = [
    TABLE,
    FILL,
    "CREATE FUNCTION customer_tally_added() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN IF current_setting('{BULK_SETTING}', true) = 'on' THEN RETURN NULL; END IF; "
    f"{_postgres_deltas('added', '')}; RETURN NULL; END $$",
    "CREATE FUNCTION customer_tally_removed() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN {_postgres_deltas('removed', '-')}; RETURN NULL; END $$",
    "CREATE FUNCTION customer_tally_moved() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN {MOVED}; RETURN NULL; END $$",
    "CREATE TRIGGER customer_tally_added AFTER INSERT ON customer "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
    "EXECUTE FUNCTION customer_tally_added()",
    "CREATE TRIGGER customer_tally_removed AFTER DELETE ON customer "
    "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
    "EXECUTE FUNCTION customer_tally_removed()",
    # Transition tables admit no column list: every UPDATE of customer runs this, and
    # adds a delta only where a row changed group.
    "CREATE TRIGGER customer_tally_moved AFTER UPDATE ON customer "
    "REFERENCING OLD TABLE AS moved_from NEW TABLE AS moved_to FOR EACH STATEMENT "
    "EXECUTE FUNCTION customer_tally_moved()",
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS customer_tally_moved ON customer",
    "DROP TRIGGER IF EXISTS customer_tally_removed ON customer",
    "DROP TRIGGER IF EXISTS customer_tally_added ON customer",
    "DROP FUNCTION IF EXISTS customer_tally_moved()",
    "DROP FUNCTION IF EXISTS customer_tally_removed()",
    "DROP FUNCTION IF EXISTS customer_tally_added()",
    "DROP TABLE IF EXISTS customer_tally",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_UP if postgres else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_DOWN if postgres else SQLITE_DOWN:
        op.execute(statement)
