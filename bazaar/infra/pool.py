"""The PostgreSQL connection pool of a worker: connections held per statement or transaction, waiters served
first come first served, broken connections found without a round trip.

It overrides private hooks of peewee's pool (`_in_use`, `_close`, `_can_reuse`, `_is_closed`): setup.cfg
pins peewee's minor series and tests/unit/test_peewee_hooks.py checks those hooks. Imported only when a
PostgreSQL database is opened (it loads psycopg2 and gevent).
"""

from __future__ import annotations

import select
import threading
import weakref
from collections import deque
from collections.abc import Callable

import psycopg2.extensions
from gevent.monkey import get_original
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase

_native_poll = get_original("select", "poll")


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

    @property
    def waiting(self) -> int:
        """How many greenlets wait for a connection now."""
        return self._queue.waiting

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

    @property
    def waiting(self) -> int:
        return len(self._waiting)

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
