"""002 — full-text search over sessions and products (read by `bazaar.infra.search.database`).

PostgreSQL: two stored tsvector columns per table, each GIN-indexed —
`search_vector` over everything searched (title/name, description, category,
tags) and `title_vector` over the title/name alone, which ranks first. Both use
the `simple` configuration (no stemming, so prefix queries like `earb:*` behave
while someone types) through an IMMUTABLE unaccent wrapper (unaccent itself is
only STABLE, which a generated column refuses). Stored columns rather than
expression indexes so rows are not re-parsed when read; a column of its own for
the title tier rather than weight-restricted queries on one vector because the
planner estimates `x:*A` like `x:*`, and a rare title word then looks common
enough to walk the whole created_at index for it.

SQLite: FTS5 external-content tables over the same columns (unicode61 with
diacritics removed, prefix indexes for 2 and 3 characters), kept in sync by
triggers; the title tier is an FTS5 column filter. `INSERT INTO x_fts(x_fts)
VALUES('rebuild')` re-derives one from its table if it ever drifts (e.g. after a
VACUUM renumbers rowids).

Both: lower(...) indexes for the case-insensitive category filters and title/name sorts.
"""

import peewee as pw
from peewee_migrate import Migrator


def _vector(*columns: str) -> str:
    text = " || ' ' || ".join(f"coalesce({column}, '')" for column in columns)
    return f"to_tsvector('simple', bazaar_unaccent({text}))"


# table → (title column, the other searched columns)
_SEARCHED = {
    "products": ("name", ("description", "category")),
    "sessions": ("title", ("description", "category", "tags")),
}
_LOWER_INDEXES = {
    "products_category_lower": "products (lower(category))",
    "products_name_lower": "products (lower(name), id)",
    "sessions_category_lower": "sessions (lower(category))",
    "sessions_title_lower": "sessions (lower(title), id)",
}


def _postgres(migrator: Migrator) -> None:
    migrator.sql("CREATE EXTENSION IF NOT EXISTS unaccent")
    migrator.sql(
        "CREATE OR REPLACE FUNCTION bazaar_unaccent(text) RETURNS text "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
        "AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$"
    )
    for table, (title, others) in _SEARCHED.items():
        for column, vector in (("search_vector", _vector(title, *others)), ("title_vector", _vector(title))):
            migrator.sql(
                f"ALTER TABLE {table} ADD COLUMN {column} tsvector GENERATED ALWAYS AS ({vector}) STORED"
            )
            migrator.sql(f"CREATE INDEX {table}_{column} ON {table} USING gin ({column})")


def _sqlite(migrator: Migrator) -> None:
    for table, (title, others) in _SEARCHED.items():
        fts = f"{table}_fts"
        columns = (title, *others)
        names = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        migrator.sql(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', content_rowid='rowid', "
            f"tokenize='unicode61 remove_diacritics 2', prefix='2 3')"
        )
        migrator.sql(
            f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts}(rowid, {names}) VALUES (new.rowid, {new}); END"
        )
        migrator.sql(
            f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.rowid, {old}); END"
        )
        migrator.sql(
            f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {names} ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.rowid, {old}); "
            f"INSERT INTO {fts}(rowid, {names}) VALUES (new.rowid, {new}); END"
        )
        migrator.sql(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    if isinstance(database, pw.PostgresqlDatabase):
        _postgres(migrator)
    else:
        _sqlite(migrator)
    for name, target in _LOWER_INDEXES.items():
        migrator.sql(f"CREATE INDEX {name} ON {target}")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    for name in _LOWER_INDEXES:
        migrator.sql(f"DROP INDEX IF EXISTS {name}")
    if isinstance(database, pw.PostgresqlDatabase):
        for table in _SEARCHED:
            for column in ("search_vector", "title_vector"):
                migrator.sql(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {column}")  # drops its index too
        migrator.sql("DROP FUNCTION IF EXISTS bazaar_unaccent(text)")
        # The unaccent extension stays: other objects of the database may have come to use it.
    else:
        for table in _SEARCHED:
            for event in ("insert", "delete", "update"):
                migrator.sql(f"DROP TRIGGER IF EXISTS {table}_fts_{event}")
            migrator.sql(f"DROP TABLE IF EXISTS {table}_fts")
