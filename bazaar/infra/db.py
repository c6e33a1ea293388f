"""The database handle: one proxy, bound once per process by `open_database`.

peewee keeps connection state per thread, which under gevent means per
greenlet: whoever runs queries (a request, a WebSocket frame, a periodic job)
hands its connection back with `release()` when done, so the pool never leaks.
Callbacks that must only run after a commit use `database.after_commit(fn)`
(peewee runs them when the outermost transaction commits, drops them on rollback,
and runs them at once outside a transaction).
"""

from __future__ import annotations

import itertools
import re
import select
import threading
import weakref
from collections import deque
from collections.abc import Callable, Hashable
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import peewee as pw
import psycopg2.extensions
from gevent.monkey import get_original
from playhouse.pool import (
    MaxConnectionsExceeded,
    PooledPostgresqlDatabase,
    PooledSqliteDatabase,
)

from bazaar.domain.models import database
from config import Settings

_native_poll = get_original("select", "poll")

# Errors that mean "the database is not reachable / not usable right now" (an exhausted pool too).
UNAVAILABLE_ERRORS = (pw.OperationalError, pw.InterfaceError, MaxConnectionsExceeded)


class TransactionPooledPostgresqlDatabase(PooledPostgresqlDatabase):
    """peewee's PostgreSQL pool, holding a connection only while the database works for the holder.

    A greenlet keeps its connection through a transaction, but outside one only for a statement
    (as PgBouncer's "transaction pooling" does): psycopg2 has a statement's whole result in the
    cursor when `execute` returns, so the connection goes back to the pool at once instead of
    staying checked out while a request serializes and sends its answer. (After a transaction it
    goes back with the next statement, or at the end of the unit of work: peewee runs the
    after-commit callbacks once the commit is done.) Under load a worker's requests then share
    its connections instead of queuing for them.

    Waiting for a connection is first come, first served (`_ConnectionQueue`): peewee's pool lets
    a newcomer take a connection that was just returned while earlier waiters sleep on, so under
    load a few requests waited hundreds of milliseconds while others never waited.

    Checkouts skip peewee's `SELECT 1` ping: an idle pooled connection has nothing to read unless
    the server closed it (FIN, or a termination notice), so a zero-timeout readability check finds
    broken connections at the cost of one syscall.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._retired: weakref.WeakSet = weakref.WeakSet()
        self._queue = _ConnectionQueue(self._has_room)

    def connect(self, reuse_if_open=False):
        if not self.is_closed():
            return super().connect(reuse_if_open)
        self._queue.take_turn(self._wait_timeout)
        try:
            return super().connect(reuse_if_open)
        finally:
            self._queue.kept()

    def _has_room(self, reserved: int) -> bool:
        return len(self._in_use) + reserved < self._max_connections

    def _close(self, conn, close_conn=False):
        super()._close(conn, close_conn)
        self._queue.serve()

    def execute_sql(self, sql, params=None):
        cursor = super().execute_sql(sql, params)
        if not self.in_transaction():
            self.close()
        return cursor

    def retire(self, conn) -> None:
        """Close `conn` when it is handed back instead of pooling it (its session state is unknown)."""
        self._retired.add(conn)

    def _can_reuse(self, conn):
        return conn not in self._retired and super()._can_reuse(conn)

    def _is_closed(self, conn):
        if conn.closed:
            return True
        if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            return super()._is_closed(conn)  # rolls back what was left open
        # poll, not select: select() refuses descriptors past 1023, which a worker holding thousands of
        # WebSockets hands its database connections. The unpatched poll: a zero timeout never blocks.
        poller = _native_poll()
        poller.register(conn, select.POLLIN)
        return bool(poller.poll(0))


class _ConnectionQueue:
    """Greenlets waiting for a pooled connection, served in arrival order.

    Whoever may check a connection out holds a reservation until it has (`kept`): a connection
    handed back goes to the longest waiter, never to a newcomer, and newcomers queue up whenever
    anyone is waiting or every connection is in use or reserved. `has_room(reserved)` tells
    whether the pool has a connection for one more.
    """

    def __init__(self, has_room: Callable[[int], bool]):
        self._has_room = has_room
        self._lock = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._reserved = 0

    def take_turn(self, timeout: float) -> None:
        """Return once a connection is reserved for the caller; MaxConnectionsExceeded after `timeout`."""
        with self._lock:
            if not self._waiting and self._has_room(self._reserved):
                self._reserved += 1
                return
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(timeout):
            return
        with self._lock:
            served = turn.is_set()
            if not served:
                self._waiting.remove(turn)
        if served:  # served just as the wait ended: pass the reservation on
            self.kept()
        raise MaxConnectionsExceeded("Max connections exceeded, timed out waiting for a connection.")

    def kept(self) -> None:
        """The reserved connection is checked out (or was given up)."""
        with self._lock:
            self._reserved -= 1
            self._serve_locked()

    def serve(self) -> None:
        """A connection was handed back: reserve it for the longest waiter."""
        with self._lock:
            self._serve_locked()

    def _serve_locked(self) -> None:
        while self._waiting and self._has_room(self._reserved):
            self._reserved += 1
            self._waiting.popleft().set()


def open_database(settings: Settings) -> pw.Database:
    """Create the pooled database for `settings` and bind the proxy to it."""
    if settings.db_kind == "postgresql":
        parts = urlsplit(settings.database_url)
        db = TransactionPooledPostgresqlDatabase(
            parts.path.lstrip("/"),
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname,
            port=parts.port or 5432,
            max_connections=settings.db_pool_size,
            stale_timeout=300,
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


def select_all(query: pw.ModelSelect) -> list:
    """The rows of a query selecting whole models (see `_RowPlan`), as model instances.

    What `list(query)` gives, for a fraction of its CPU: peewee works out on every execution
    which result column fills which field, and sets each value through the field's descriptor.
    """
    return _RowPlan.of(query).instances(database.execute(query).fetchall())


class CountedPages:
    """Pages (queries with LIMIT/OFFSET selecting whole models, as `select_all` maps them), each read with
    the number of rows its query has without LIMIT/OFFSET (`count(*) OVER ()`, same statement).

    Their SQL is built once per shape, as `PreparedSelect`'s is, for queries of many shapes (a search
    page: which filters, which order, how many words): peewee spends 1–3 ms building the SQL of a
    joined page, more than the database answering it. Pages of one shape differ only in their values.
    """

    _CAPACITY = 1024

    def __init__(self) -> None:
        self._compiled: dict[tuple, tuple[str, list, list, _RowPlan]] = {}

    def read(
        self, shape: Hashable, build: Callable[..., pw.ModelSelect], values: list
    ) -> tuple[list, int | None]:
        """The instances of the page `build(*placeholders)` returns, one placeholder per value of `values`
        (in that order), and the count: None when the page is empty (past the end, or nothing at all)."""
        key = (type(database.obj), shape)
        compiled = self._compiled.get(key)
        if compiled is None:
            if len(self._compiled) >= self._CAPACITY:
                self._compiled.clear()
            compiled = self._compiled[key] = _compile(build, len(values), pw.fn.COUNT(pw.SQL("*")).over())
        sql, params, slots, plan = compiled
        bound = [param if slot is None else values[slot] for param, slot in zip(params, slots)]
        rows = database.execute_sql(sql, bound).fetchall()
        total = rows[0][-1] if rows else None
        return plan.instances([row[:-1] for row in rows]), total


def _compile(
    build: Callable[..., pw.ModelSelect], count: int, *extra: pw.Node
) -> tuple[str, list, list, _RowPlan]:
    """(SQL, its parameters, which of the `count` values fills each parameter, row plan) of the query
    `build` returns given one placeholder per value, with `extra` columns after its models' fields."""
    markers = [f"__bazaar_param_{i}__" for i in range(count)]
    query = build(*(pw.Value(marker, converter=False) for marker in markers))
    sql, params = (query.select_extend(*extra) if extra else query).sql()
    slots = [markers.index(p) if isinstance(p, str) and p in markers else None for p in params]
    return sql, params, slots, _RowPlan.of(query)


class _RowPlan:
    """How the rows of a query selecting whole models become instances, worked out once per shape.

    The query selects the fields of its own model first, then of models joined through one of
    its foreign keys each; the joined instances are attached through those keys (an outer join
    that found nothing attaches nothing).
    """

    _by_shape: dict[tuple, _RowPlan] = {}

    @classmethod
    def of(cls, query: pw.ModelSelect) -> _RowPlan:
        columns = query.selected_columns
        shape = (query.model, *map(id, columns))  # model fields live as long as their models
        plan = cls._by_shape.get(shape)
        if plan is None:
            plan = cls._by_shape[shape] = cls(query.model, columns)
        return plan

    def __init__(self, model: type[pw.Model], columns: list):
        if not all(isinstance(c, pw.Field) and not isinstance(c, pw.FieldAlias) for c in columns):
            raise TypeError("only queries selecting model fields map to instances this way")
        self.models = [model] + list(dict.fromkeys(c.model for c in columns if c.model is not model))
        # Per result column: which model's data it fills, under which name, converted how.
        self.columns = [(self.models.index(c.model), c.name, c.python_value) for c in columns]
        self.joins = [
            (index, _foreign_key_to(model, joined).name, joined._meta.primary_key.name)
            for index, joined in enumerate(self.models)
            if index
        ]

    def instances(self, rows: list) -> list:
        models, columns, joins = self.models, self.columns, self.joins
        found = []
        for row in rows:
            data = [{} for _ in models]
            for value, (index, name, python_value) in zip(row, columns):
                data[index][name] = None if value is None else python_value(value)
            instances = []
            for model, values in zip(models, data):
                instance = model(__no_default__=True)
                instance.__data__ = values
                instances.append(instance)
            base = instances[0]
            for index, attr, primary_key in joins:
                if data[index].get(primary_key) is not None:
                    setattr(base, attr, instances[index])
            base._dirty.clear()
            found.append(base)
        return found


def _foreign_key_to(model: type[pw.Model], target: type[pw.Model]) -> pw.ForeignKeyField:
    keys = [
        f for f in model._meta.sorted_fields if isinstance(f, pw.ForeignKeyField) and f.rel_model is target
    ]
    if len(keys) != 1:
        raise TypeError(f"{target.__name__} must join {model.__name__} through exactly one foreign key")
    return keys[0]


class PreparedSelect:
    """A SELECT whose SQL is generated once per kind of database, then executed with new values.

    For the hottest reads (a row by id on every request): building the SQL of a joined peewee
    query costs more CPU than the database spends answering it, and PostgreSQL spends more time
    planning such a join than running it. So the SQL is built once, and on PostgreSQL each pooled
    connection PREPAREs the statement once and EXECUTEs it after that.

    `build` receives placeholder nodes, one per field in `fields`, and returns a query selecting
    whole models (as `select_all` maps them); `rows(*values)` converts each value with its field
    and returns the instances.
    """

    _names = itertools.count(1)

    def __init__(self, build: Callable[..., pw.ModelSelect], *fields: pw.Field):
        self._build = build
        self._fields = fields
        self._compiled: dict[type, tuple[str, list, list, _RowPlan]] = {}
        self._statement = f"bazaar_prepared_{next(self._names)}"
        self._prepared_on: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # connections

    def _compile(self) -> tuple[str, list, list, _RowPlan]:
        """(SQL, its parameters, which of `fields` fills each parameter, row plan) for this database."""
        kind = type(database.obj)
        if kind not in self._compiled:
            self._compiled[kind] = _compile(self._build, len(self._fields))
        return self._compiled[kind]

    def rows(self, *values) -> list:
        sql, params, slots, plan = self._compile()
        converted = [field.db_value(value) for field, value in zip(self._fields, values)]
        bound = [param if slot is None else converted[slot] for param, slot in zip(params, slots)]
        if not is_postgres():
            return plan.instances(database.execute_sql(sql, bound).fetchall())
        conn = database.connection()  # checked out now: the statement below runs on it
        execute = f"EXECUTE {self._statement}(" + ", ".join(["%s"] * len(bound)) + ")"
        if conn in self._prepared_on:
            return plan.instances(database.execute_sql(execute, bound).fetchall())
        # First use on this connection: PREPARE and EXECUTE in one round trip (the result is the last one's).
        numbered = iter(range(1, len(bound) + 1))
        prepare = f"PREPARE {self._statement} AS " + re.sub("%s", lambda _: f"${next(numbered)}", sql)
        try:
            rows = database.execute_sql(prepare.replace("%", "%%") + "; " + execute, bound).fetchall()
        except Exception:
            database.retire(conn)  # whether its PREPARE took effect is unknown
            raise
        self._prepared_on[conn] = True
        return plan.instances(rows)

    def first(self, *values):
        found = self.rows(*values)
        return found[0] if found else None
