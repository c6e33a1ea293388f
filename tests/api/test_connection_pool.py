"""How a worker's greenlets share its pooled PostgreSQL connections (bazaar/infra/pool.py).

A connection is held for a transaction, or for one statement outside a transaction, and
waiters get connections in the order they asked. Threads stand in for greenlets: the pool
uses `threading` primitives, which gevent patches in the server.
"""

from __future__ import annotations

import pickle
import threading
import time
import uuid

import pytest

from bazaar.domain.models import User
from bazaar.infra import db
from tests.support import databases
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(not databases.postgres_mode(), reason="PostgreSQL's pool")


@pytest.fixture
def one_connection(own_app, pg_url):
    """An app whose pool has a single connection, and a short wait for it."""
    return own_app(pg_url, db_pool_size=1, db_pool_timeout_s=2.0)


def in_thread(work) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_connection_goes_back_to_the_pool_after_each_statement_outside_a_transaction(one_connection):
    assert list(User.select()) == []
    assert db.database.is_closed()
    # The only connection is free again: another greenlet's request is answered at once.
    assert one_connection.get("/api/users").status == 200


def test_a_statement_on_a_connection_however_old_hands_over_its_rows(one_connection, monkeypatch):
    """A statement hands its connection back before its rows are read, so a pool closing connections
    past an age at that moment closed the cursor under the read (a 500, "cursor already closed",
    once per connection and lifetime under load)."""
    import playhouse.pool

    db.database.connection()  # taken from the pool, then it ages past any lifetime before the statement
    later = time.time() + 24 * 3600
    monkeypatch.setattr(playhouse.pool.time, "time", lambda: later)

    assert db.database.execute_sql("SELECT 1").fetchall() == [(1,)]
    assert one_connection.get("/api/users").status == 200


def test_a_transaction_keeps_its_connection_until_it_ends(one_connection):
    started, done = threading.Event(), threading.Event()
    answered = []

    def other_request():
        started.set()
        answered.append(one_connection.get("/api/users").status)
        done.set()

    with db.database.atomic():
        User.select().count()
        assert not db.database.is_closed()
        in_thread(other_request)
        assert started.wait(2)
        assert not done.wait(0.3)  # waits for this transaction's connection
    db.release()  # the end of this unit of work
    assert done.wait(2)
    assert answered == [200]


def test_waiters_get_the_connection_in_the_order_they_asked(one_connection):
    served = []

    def request(name: str):
        with db.connection():
            db.database.connect()
            served.append(name)
            time.sleep(0.01)

    with db.database.atomic():  # holds the only connection while the waiters queue up
        User.select().count()
        threads = []
        for queued, name in enumerate(("first", "second", "third", "fourth"), start=1):
            threads.append(in_thread(lambda name=name: request(name)))
            assert wait_until(
                lambda: db.database.obj.waiting == queued, timeout_s=5
            )  # in line before the next
    db.release()
    for thread in threads:
        thread.join(5)
    assert served == ["first", "second", "third", "fourth"]


def test_a_greenlet_asking_again_and_again_does_not_starve_one_that_waits(one_connection):
    stop = threading.Event()
    statements = []

    def busy_requests():
        while not stop.is_set():
            User.select().count()  # takes the connection and hands it back, statement after statement
            statements.append(1)

    busy = in_thread(busy_requests)
    try:
        assert wait_until(lambda: len(statements) >= 10, timeout_s=5)  # it is asking again and again
        started = time.monotonic()
        assert one_connection.get("/api/users").status == 200
        assert time.monotonic() - started < 0.5
    finally:
        stop.set()
        busy.join(5)


def test_a_waiter_that_gives_up_is_a_503_and_leaves_the_queue(own_app, pg_url):
    api = own_app(pg_url, db_pool_size=1, db_pool_timeout_s=0.1)
    answers = []
    with db.database.atomic():
        User.select().count()
        in_thread(lambda: answers.append(api.get("/api/users"))).join(5)
    assert answers[0].status == 503 and answers[0].json["error"] == "database_unavailable"
    assert (
        api.get("/api/users").status == 200
    )  # the connection goes to the next asker, not to the gone waiter


def test_uuid_columns_read_as_the_uuids_they_hold(one_connection):
    """The pool registers its own uuid caster (cheaper than psycopg2's): the values are the same UUIDs."""
    written = [uuid.uuid4() for _ in range(20)]
    written += [uuid.uuid1(), uuid.UUID(int=0), uuid.UUID(int=(1 << 128) - 1)]
    rows = db.database.execute_sql(
        "SELECT value, value::text FROM unnest(%s::uuid[]) AS value", [[str(value) for value in written]]
    ).fetchall()
    assert [value for value, _ in rows] == written
    for (value, text), expected in zip(rows, written):
        assert type(value) is uuid.UUID and str(value) == text == str(expected)
        assert (hash(value), value.version, value.variant, value.is_safe) == (
            hash(expected),
            expected.version,
            expected.variant,
            uuid.UUID(text).is_safe,
        )
        assert pickle.loads(pickle.dumps(value)) == expected
    assert db.database.execute_sql("SELECT NULL::uuid").fetchone() == (None,)
