"""Issue 2 §5: when the database goes away requests get a 503 envelope, and the same app recovers by itself.

Each test builds its own app on a throwaway database (the proxy `bazaar.infra.db.database`
is re-bound to it, and bound back afterwards). PostgreSQL is reached through a
small TCP relay that the test cuts and restores, like a network outage.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from bazaar.infra import db
from tests.conftest import PASSWORD
from tests.support import databases

postgres_only = pytest.mark.skipif(not databases.postgres_mode(), reason="needs PostgreSQL")


class TcpRelay:
    """127.0.0.1:<port> → target; `cut()` refuses new connections and drops open ones, `restore()` undoes
    it."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.listener: socket.socket | None = None
        self.open_sockets: list[socket.socket] = []

    def restore(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self) -> None:
        self.listener.close()
        for sock in self.open_sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.open_sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        listener.settimeout(0.05)
        while listener.fileno() != -1:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.open_sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def relay(pg_url):
    parts = urlsplit(pg_url)
    relay = TcpRelay(parts.hostname, parts.port or 5432)
    relay.restore()
    yield relay
    relay.cut()


@pytest.fixture
def relayed_api(own_app, pg_url, relay):
    parts = urlsplit(pg_url)
    netloc = (parts.username + "@" if parts.username else "") + f"127.0.0.1:{relay.port}"
    return own_app(urlunsplit(parts._replace(netloc=netloc)))


def sign_up(api) -> dict:
    name = "u" + uuid.uuid4().hex[:10]
    resp = api.post(
        "/api/auth/register",
        json={"username": name, "email": f"{name}@example.test", "password": PASSWORD, "role": "creator"},
    )
    assert resp.status == 201, resp
    return resp.data


def assert_database_unavailable(resp):
    assert resp.status == 503, resp
    assert resp.json["success"] is False
    assert resp.json["error"] == "database_unavailable"
    assert resp.json["message"]
    assert resp.headers.get("X-Request-Id")


@postgres_only
def test_requests_during_an_outage_get_a_503_envelope(relayed_api, relay):
    token = sign_up(relayed_api)["accessToken"]
    relay.cut()
    auth = {"Authorization": f"Bearer {token}"}
    assert_database_unavailable(relayed_api.get("/api/users"))
    assert_database_unavailable(relayed_api.get("/api/auth/me", headers=auth))
    assert_database_unavailable(
        relayed_api.post("/api/auth/login", json={"username": "x", "password": PASSWORD})
    )
    assert_database_unavailable(
        relayed_api.post("/api/products", headers=auth, json={"name": "Lamp", "price": 1})
    )


@postgres_only
def test_health_stays_up_and_ready_names_the_database_during_an_outage(relayed_api, relay):
    relay.cut()
    assert relayed_api.get("/health").status == 200
    resp = relayed_api.get("/ready")
    assert resp.status == 503
    assert resp.json["checks"]["database"] == "unavailable"


@postgres_only
def test_the_same_app_recovers_when_the_database_returns(relayed_api, relay):
    sign_up(relayed_api)
    relay.cut()
    assert_database_unavailable(relayed_api.get("/api/users"))
    relay.restore()
    resp = relayed_api.get("/api/users")
    assert resp.status == 200
    assert resp.json["count"] == 1
    assert relayed_api.get("/ready").status == 200


@postgres_only
def test_a_write_refused_during_an_outage_leaves_nothing_behind(relayed_api, relay):
    token = sign_up(relayed_api)["accessToken"]
    auth = {"Authorization": f"Bearer {token}"}
    relay.cut()
    relayed_api.post("/api/products", headers=auth, json={"name": "Lamp", "price": 1})
    relay.restore()
    assert relayed_api.get("/api/products", headers=auth).json == []


def fill_pool(connections: int) -> None:
    """Leave `connections` idle connections in the pool, as after a burst of concurrent requests."""
    all_open = threading.Barrier(connections)

    def use_one():
        db.database.connect()
        all_open.wait(5)
        db.release()

    threads = [threading.Thread(target=use_one) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def terminate_backends(database_url: str) -> int:
    admin = psycopg2.connect(databases.PG_ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (urlsplit(database_url).path.lstrip("/"),),
        )
        killed = cur.rowcount
        # Termination is asynchronous: wait until the backends are gone, as they would be by the next request.
        for _ in range(100):
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                (urlsplit(database_url).path.lstrip("/"),),
            )
            if cur.fetchone()[0] == 0:
                break
            time.sleep(0.02)
    admin.close()
    return killed


@postgres_only
def test_connections_killed_by_the_server_are_replaced_unnoticed(own_app, pg_url):
    api = own_app(pg_url)
    sign_up(api)
    fill_pool(3)
    assert terminate_backends(pg_url) == 3
    assert [api.get("/api/users").status for _ in range(4)] == [200] * 4


def test_an_exhausted_pool_is_a_503_not_a_500(own_app):
    api = own_app(db_pool_size=1, db_pool_timeout_s=0.05)
    holding, release = threading.Event(), threading.Event()

    def hold_the_only_connection():
        db.database.connect()
        holding.set()
        release.wait(5)
        db.release()

    holder = threading.Thread(target=hold_the_only_connection)
    holder.start()
    try:
        assert holding.wait(5)
        assert_database_unavailable(api.get("/api/users"))
    finally:
        release.set()
        holder.join()
    assert api.get("/api/users").status == 200
