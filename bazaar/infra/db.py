"""The database handle: one proxy, bound once per process by `open_database`, and the unit of work's
connection (`connection`, `release`). The PostgreSQL pool is in pool.py, row-mapping reads in rows.py.

peewee keeps connection state per thread, which under gevent means per
greenlet: whoever runs queries (a request, a WebSocket frame, a periodic job)
hands its connection back with `release()` when done, so the pool never leaks.
Callbacks that must only run after a commit use `database.after_commit(fn)`
(peewee runs them when the outermost transaction commits, drops them on rollback,
and runs them at once outside a transaction).
"""

from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import peewee as pw
from playhouse.pool import MaxConnectionsExceeded, PooledSqliteDatabase

from bazaar.domain.models import database
from config import Settings

# Errors that mean "the database is not reachable / not usable right now" (an exhausted pool too).
UNAVAILABLE_ERRORS = (pw.OperationalError, pw.InterfaceError, MaxConnectionsExceeded)


def open_database(settings: Settings) -> pw.Database:
    """Create the pooled database for `settings` and bind the proxy to it."""
    if settings.db_kind == "postgresql":
        from bazaar.infra.pool import TransactionPooledPostgresqlDatabase  # psycopg2 and gevent: only here

        parts = urlsplit(settings.database_url)
        db = TransactionPooledPostgresqlDatabase(
            parts.path.lstrip("/"),
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname,
            port=parts.port or 5432,
            max_connections=settings.db_pool_size,
            timeout=settings.db_pool_timeout_s,
            connect_timeout=settings.db_connect_timeout_s,
            autoconnect=True,
        )
    else:
        db = PooledSqliteDatabase(
            settings.sqlite_path,
            max_connections=settings.db_pool_size,
            stale_timeout=300,
            timeout=settings.db_pool_timeout_s,
            pragmas={"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000, "synchronous": "normal"},
            check_same_thread=False,
        )
    database.initialize(db)
    return db


def is_postgres() -> bool:
    return isinstance(database.obj, pw.PostgresqlDatabase)


def whole_seconds_between(start, end) -> pw.Node:
    """SQL for the whole seconds from `start` to `end` (columns or values), computed by the database."""
    if is_postgres():
        return pw.fn.FLOOR(pw.fn.date_part("epoch", end - start)).cast("INTEGER")
    # julianday is a float of days: round to milliseconds before truncating.
    return pw.fn.ROUND((pw.fn.julianday(end) - pw.fn.julianday(start)) * 86400.0, 3).cast("INTEGER")


def release() -> None:
    """Hand this greenlet's connection back to the pool (no-op when none is open)."""
    if database.obj is not None and not database.is_closed():
        database.close()


def discard_broken_connection() -> None:
    """After a connection-level failure, close the connection instead of pooling it."""
    if database.obj is None or database.is_closed():
        return
    try:
        database.manual_close()
    except Exception:  # the connection is already broken; dropping it is all we want
        database._state.reset()


@contextmanager
def connection():
    """A connection for a unit of work outside a request (frames, jobs, CLI)."""
    try:
        yield database
    finally:
        release()


def ping() -> None:
    """Raise if the database cannot answer a trivial query."""
    with connection():
        database.execute_sql("SELECT 1")
