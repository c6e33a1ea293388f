"""The PostgreSQL connection pool of a worker: connections held per statement or transaction, waiters served
first come first served, broken connections found without a round trip.

Its own pool rather than peewee's: a statement outside a transaction checks a connection out and back in
with one lock acquisition each way, without touching the greenlet's connection state (peewee's pool took
five locks and a condition per statement, a tenth of a by-id request's CPU). It is a peewee
`PostgresqlDatabase` otherwise, whose connection state and driver adapter it uses (setup.cfg pins peewee's
minor series and tests/unit/test_peewee_hooks.py checks those). Imported only when a PostgreSQL database is
opened (it loads psycopg2 and gevent).
"""

from __future__ import annotations

import select
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import peewee as pw
import psycopg2.extensions
from gevent.monkey import get_original
from playhouse.pool import MaxConnectionsExceeded

from bazaar.infra.uuid_columns import UUID_OID, uuid_from_text

_native_poll = get_original("select", "poll")
_IDLE = psycopg2.extensions.TRANSACTION_STATUS_IDLE
_ROOM = object()  # handed to a waiter instead of a connection: open one, its place in the pool is reserved
_T = TypeVar("_T")


class TransactionPooledPostgresqlDatabase(pw.PostgresqlDatabase):
    """A PostgreSQL database whose connections are pooled, held only while the database works for the holder.

    A greenlet keeps its connection through a transaction, but outside one only for a statement
    (as PgBouncer's "transaction pooling" does): psycopg2 has a statement's whole result in the
    cursor when `execute` returns, so the connection goes back to the pool at once instead of
    staying checked out while a request serializes and sends its answer. (After a transaction it
    goes back with the next statement, or at the end of the unit of work: peewee runs the
    after-commit callbacks once the commit is done.) Under load a worker's requests then share
    its connections instead of queuing for them.

    At most `max_connections` are open. Waiting for one is first come, first served: a connection
    handed back goes to the longest waiter, never to a newcomer (peewee's pool let a newcomer take it
    while earlier waiters slept on, so under load a few requests waited hundreds of milliseconds
    while others never waited); a waiter gives up after `timeout` seconds (MaxConnectionsExceeded).

    Checkouts skip a `SELECT 1` ping: an idle pooled connection has nothing to read unless the
    server closed it (FIN, or a termination notice), so a zero-timeout readability check finds
    broken connections at the cost of one syscall. A connection comes back only when it is idle
    (a transaction left open is rolled back) and its statement did not fail at the connection level.
    Connections have no age limit (a statement hands its connection back before its rows are read:
    closing one past its age right then closed the cursor under the read, a 500 per connection and
    lifetime); one is closed when it is found broken, is retired, or the pool closes.
    (peewee's query hooks are not run.)
    """

    def __init__(self, database, *, max_connections: int, timeout: float, **kwargs):
        self._max_connections = max_connections
        self._wait_timeout = timeout
        self._pool_lock = threading.Lock()
        self._idle: list = []  # most recently returned last: it is taken first
        self._in_use: set = set()
        self._opening = 0  # places reserved for connections being opened
        self._waiters: deque[_Waiter] = deque()
        self._retired: weakref.WeakSet = weakref.WeakSet()
        super().__init__(database, **kwargs)

    @property
    def waiting(self) -> int:
        """How many greenlets wait for a connection now."""
        return len(self._waiters)

    # --- statements ------------------------------------------------------------------------------
    def run(self, work: Callable[[object], _T]) -> _T:
        """`work(connection)` on this greenlet's connection when it holds one (a transaction), else on a
        connection checked out for that call alone (handed back when it returns). psycopg2's errors come
        out as peewee's; a connection-level error closes the connection instead of pooling it."""
        state = self._state
        if not state.closed:
            try:
                with pw.__exception_wrapper__:
                    return work(state.conn)
            finally:
                if not state.transactions:
                    self.close()
        conn = self._checkout()
        try:
            with pw.__exception_wrapper__:
                return work(conn)
        except (pw.OperationalError, pw.InterfaceError):
            self._retired.add(conn)
            raise
        finally:
            self._checkin(conn)

    def execute_sql(self, sql, params=None):
        self._log_query(sql, params)

        def execute(conn):
            cursor = conn.cursor()
            cursor.execute(sql, params or ())
            return cursor

        return self.run(execute)

    def retire(self, conn) -> None:
        """Close `conn` when it is handed back instead of pooling it (its session state is unknown)."""
        self._retired.add(conn)

    # --- the greenlet's connection (transactions, `connection()`) ---------------------------------
    def connect(self, reuse_if_open=False):
        state = self._state
        if not state.closed:
            if reuse_if_open:
                return False
            raise pw.OperationalError("Connection already opened.")
        state.set_connection(self._checkout())
        return True

    def close(self):
        state = self._state
        if state.transactions:
            raise pw.OperationalError("Attempting to close database while transaction is open.")
        if state.closed:
            return False
        conn = state.conn
        state.reset()
        self._checkin(conn)
        return True

    def manual_close(self):
        """Close this greenlet's connection instead of handing it back (a transaction on it goes with it)."""
        state = self._state
        if state.closed:
            return False
        conn = state.conn
        state.reset()
        self._retired.add(conn)
        self._checkin(conn)
        return True

    def close_all(self) -> None:
        """Close every connection, idle and in use (at shutdown, and in the master before it forks)."""
        if not self._state.closed:
            self._state.reset()
        with self._pool_lock:
            connections = [*self._idle, *self._in_use]
            self._idle.clear()
            self._in_use.clear()
        for conn in connections:
            _close_quietly(conn)

    # --- the pool ------------------------------------------------------------------------------
    def _checkout(self):
        broken, waiter = [], None
        with self._pool_lock:
            conn = None
            if not self._waiters:
                while self._idle:
                    candidate = self._idle.pop()
                    if _is_broken(candidate):
                        broken.append(candidate)
                    else:
                        conn = candidate
                        self._in_use.add(conn)
                        break
                if conn is None and len(self._in_use) + self._opening < self._max_connections:
                    conn = _ROOM
                    self._opening += 1
            if conn is None:
                waiter = _Waiter()
                self._waiters.append(waiter)
        for dropped in broken:
            _close_quietly(dropped)
        if waiter is not None:
            conn = self._wait(waiter)
        return self._open_reserved() if conn is _ROOM else conn

    def _wait(self, waiter: _Waiter):
        if not waiter.handed.wait(self._wait_timeout):
            with self._pool_lock:
                if waiter.conn is None:
                    self._waiters.remove(waiter)
                    raise MaxConnectionsExceeded("Timed out waiting for a database connection.")
        return waiter.conn  # handed over (perhaps just as the wait ended)

    def _open_reserved(self):
        try:
            with pw.__exception_wrapper__:
                conn = self._connect()
                if self.server_version is None:
                    self._set_server_version(conn)
                self._initialize_connection(conn)
        except BaseException:
            with self._pool_lock:
                self._opening -= 1
                if self._waiters:  # the place goes to the next waiter, who tries in turn
                    self._opening += 1
                    self._waiters.popleft().hand(_ROOM)
            raise
        with self._pool_lock:
            self._opening -= 1
            self._in_use.add(conn)
        return conn

    def _checkin(self, conn) -> None:
        reusable = self._reusable(conn)  # may roll back: outside the lock
        with self._pool_lock:
            if conn not in self._in_use:  # closed by close_all meanwhile
                return
            if reusable and self._waiters:
                self._waiters.popleft().hand(conn)  # stays in use, by the waiter now
                return
            self._in_use.discard(conn)
            if reusable:
                self._idle.append(conn)
            elif self._waiters:
                self._opening += 1
                self._waiters.popleft().hand(_ROOM)
        if not reusable:
            _close_quietly(conn)

    def _reusable(self, conn) -> bool:
        if conn.closed or conn in self._retired:
            return False
        if conn.get_transaction_status() == _IDLE:
            return True
        return self._adapter.is_connection_reusable(conn)  # rolls back what was left open


class _Waiter:
    __slots__ = ("handed", "conn")

    def __init__(self):
        self.handed = threading.Event()
        self.conn = None

    def hand(self, conn) -> None:
        self.conn = conn
        self.handed.set()


def _is_broken(conn) -> bool:
    if conn.closed:
        return True
    # poll, not select: select() refuses descriptors past 1023, which a worker holding thousands of
    # WebSockets hands its database connections. The unpatched poll: a zero timeout never blocks.
    poller = _native_poll()
    poller.register(conn, select.POLLIN)
    return bool(poller.poll(0))


def _close_quietly(conn) -> None:
    try:
        conn.close()
    except Exception:  # already broken: dropping it is all that is wanted
        pass


psycopg2.extensions.register_type(psycopg2.extensions.new_type((UUID_OID,), "UUID", uuid_from_text))
