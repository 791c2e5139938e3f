"""how many customers hold each name trigram, for similar-name candidates from the rarest

Revision ID: 0016
Revises: 0015

db/similar.py asks for candidates only by a key's rarest trigrams (those that fit its
budget of rows), so it needs each trigram's count of customers: `customer_name_gram_counts
(term, doc)`, the trigrams of `^name_key$` (as 0012's index), kept by triggers. PostgreSQL
counts inserts and deletes per statement (one upsert per trigram, in trigram order, for a
bulk batch too) and a change of name per row; SQLite, whose writers are serial, per row
(fts5vocab would tell the counts too, but walks each term's whole list to count it: 87 ms
for one key at a million). And on PostgreSQL fuzzystrmatch, whose levenshtein() ranks the
candidates in C (pg_trgm's similarity() costs three times as much per row).
"""

from __future__ import annotations

from alembic import op

BULK_SETTING = "ownergraph.bulk_insert"  # db/similar.py: BULK_SETTING

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLE = "CREATE TABLE customer_name_gram_counts (term text PRIMARY KEY, doc integer NOT NULL)"


def _sqlite_grams(row: str, sign: str) -> str:
    """Add (sign '') or take away ('-') the trigrams of `row`'s name."""
    return (
        "INSERT INTO customer_name_gram_counts (term, doc) "
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        f"WHERE i < length({row}.name_key)) "
        f"SELECT DISTINCT substr('^' || {row}.name_key || '$', i, 3), {sign}1 FROM n "
        f"WHERE length({row}.name_key) > 0 "
        "ON CONFLICT (term) DO UPDATE SET doc = doc + excluded.doc;"
    )


SQLITE_UP = [
    TABLE,
    "INSERT INTO customer_name_gram_counts (term, doc) "
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
    "WHERE i < (SELECT max(length(name_key)) FROM customer)) "
    "SELECT g, count(*) FROM (SELECT DISTINCT customer.id, "
    "substr('^' || customer.name_key || '$', n.i, 3) AS g "
    "FROM customer JOIN n ON n.i <= length(customer.name_key)) GROUP BY g",
    "CREATE TRIGGER customer_name_gram_counts_insert AFTER INSERT ON customer BEGIN "
    f"{_sqlite_grams('new', '')} END",
    "CREATE TRIGGER customer_name_gram_counts_delete AFTER DELETE ON customer BEGIN "
    f"{_sqlite_grams('old', '-')} END",
    "CREATE TRIGGER customer_name_gram_counts_update AFTER UPDATE OF name_key ON customer "
    "WHEN old.name_key IS NOT new.name_key BEGIN "
    f"{_sqlite_grams('old', '-')} {_sqlite_grams('new', '')} END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS customer_name_gram_counts_update",
    "DROP TRIGGER IF EXISTS customer_name_gram_counts_delete",
    "DROP TRIGGER IF EXISTS customer_name_gram_counts_insert",
    "DROP TABLE IF EXISTS customer_name_gram_counts",
]


def _postgres_grams(rows: str, sign: str) -> str:
    """Add (sign '') or take away ('-') the trigrams of the names in `rows`."""
    return (
        "INSERT INTO customer_name_gram_counts AS c (term, doc) "
        f"SELECT g, {sign}count(*) FROM {rows}, name_grams({rows}.name_key) AS g "
        "GROUP BY g ORDER BY g "
        "ON CONFLICT (term) DO UPDATE SET doc = c.doc + excluded.doc"
    )


POSTGRES_UP = [
    # levenshtein(), which ranks the candidates (db/similar.py).
    "CREATE EXTENSION IF NOT EXISTS fuzzystrmatch",
    # The trigrams of '^' || key || '$', each once (db/similar.py: trigrams).
    "CREATE FUNCTION name_grams(key text) RETURNS SETOF text "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ "
    "SELECT DISTINCT substr('^' || key || '$', i, 3) FROM generate_series(1, length(key)) AS i "
    "$$",
    TABLE,
    "INSERT INTO customer_name_gram_counts (term, doc) "
    "SELECT g, count(*) FROM customer, name_grams(customer.name_key) AS g GROUP BY g",
    # A bulk load (ownergraph/bulk.py) inserts by executemany, a statement per row, and
    # counts each batch itself in one statement instead (db/similar.py: count_bulk).
    "CREATE FUNCTION customer_name_grams_added() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN IF current_setting('{BULK_SETTING}', true) = 'on' THEN RETURN NULL; END IF; "
    f"{_postgres_grams('added', '')}; RETURN NULL; END $$",
    "CREATE FUNCTION customer_name_grams_removed() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN {_postgres_grams('removed', '-')}; RETURN NULL; END $$",
    "CREATE FUNCTION customer_name_grams_renamed() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "INSERT INTO customer_name_gram_counts AS c (term, doc) "
    "SELECT g, sum(d) FROM ("
    "SELECT name_grams(OLD.name_key) AS g, -1 AS d "
    "UNION ALL SELECT name_grams(NEW.name_key), 1) AS t "
    "GROUP BY g HAVING sum(d) <> 0 ORDER BY g "
    "ON CONFLICT (term) DO UPDATE SET doc = c.doc + excluded.doc; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER customer_name_grams_added AFTER INSERT ON customer "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
    "EXECUTE FUNCTION customer_name_grams_added()",
    "CREATE TRIGGER customer_name_grams_removed AFTER DELETE ON customer "
    "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
    "EXECUTE FUNCTION customer_name_grams_removed()",
    "CREATE TRIGGER customer_name_grams_renamed AFTER UPDATE OF name_key ON customer "
    "FOR EACH ROW WHEN (OLD.name_key IS DISTINCT FROM NEW.name_key) "
    "EXECUTE FUNCTION customer_name_grams_renamed()",
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS customer_name_grams_renamed ON customer",
    "DROP TRIGGER IF EXISTS customer_name_grams_removed ON customer",
    "DROP TRIGGER IF EXISTS customer_name_grams_added ON customer",
    "DROP FUNCTION IF EXISTS customer_name_grams_renamed()",
    "DROP FUNCTION IF EXISTS customer_name_grams_removed()",
    "DROP FUNCTION IF EXISTS customer_name_grams_added()",
    "DROP TABLE IF EXISTS customer_name_gram_counts",
    "DROP FUNCTION IF EXISTS name_grams(text)",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_UP if postgres else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_DOWN if postgres else SQLITE_DOWN:
        op.execute(statement)
