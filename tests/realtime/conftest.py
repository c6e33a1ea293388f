"""Real-server fixtures for the WebSocket suite (tests/realtime/test_ws_*.py).

`server` is `bazaar serve` in a subprocess on the test database (2 workers on
PostgreSQL + Redis; 1 worker on the embedded default). `other_server` is a second
instance sharing PostgreSQL and Redis, as a second host would (postgres mode only;
tests that need it skip in embedded mode). Intervals are short so that heartbeats,
presence expiry and periodic broadcasts happen within a test.

The actors here (`creator`, `viewer`, …) are registered through the real server;
REST calls go to it over HTTP, with the same interface as the in-process `api`.
"""

from __future__ import annotations

import time

import pytest

from bazaar.domain.models import Role
from tests.conftest import base_env, make_product, register
from tests.support import databases
from tests.support.server import RunningServer
from tests.support.shows import make_show, start
from tests.support.ws_client import SioClient, WsClient

# Short intervals so that what the server does periodically happens within a test.
INTERVALS = {
    "PRESENCE_TTL_S": "3",
    "PRESENCE_REFRESH_S": "1",
    "VIEWER_COUNT_INTERVAL_S": "0.1",
    "REACTION_STATS_INTERVAL_S": "0.3",
    "CLICK_STATS_INTERVAL_S": "1",
    "CHECKPOINT_INTERVAL_S": "1",
    "WS_HEARTBEAT_INTERVAL_S": "1",
    "WS_IDLE_TIMEOUT_S": "3",
    "WS_CLOSE_TIMEOUT_S": "1",
    "SOCKETIO_PING_INTERVAL_S": "1",
    "SOCKETIO_PING_TIMEOUT_S": "2",
    "JWT_SECRET": "realtime-test-secret-0123456789abcdef",
}
WORKERS = 2 if databases.postgres_mode() else 1


def realtime_env(database_url: str, **overrides: str) -> dict[str, str]:
    return {**base_env(database_url), **INTERVALS, **overrides}


def launch(env: dict[str, str], name: str) -> RunningServer:
    return RunningServer(env, workers=WORKERS, name=name).start()


def keep_clicking(clients: list[WsClient], show: dict, product: dict, *, seconds: float) -> None:
    """Every client clicks `product` four times a second (under the per-connection limit) for `seconds`."""
    click = {"sessionId": show["id"], "productId": product["id"]}
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        for client in clients:
            client.send("product-click", click)
        time.sleep(0.25)


@pytest.fixture(scope="session")
def server_env(database_url, services) -> dict[str, str]:
    """The environment of the test servers (`services` has migrated the database by then). Redis starts
    empty: rate-limit buckets of an earlier run's users (same ids, new database) must not carry over."""
    if databases.postgres_mode():
        databases.flush_redis()
    return realtime_env(database_url)


@pytest.fixture(scope="session")
def server(server_env):
    running = launch(server_env, "server")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def other_server(server_env):
    if not databases.postgres_mode():
        pytest.skip("a second instance needs the shared PostgreSQL and Redis (postgres mode)")
    running = launch(server_env, "other-server")
    yield running
    running.stop()


@pytest.fixture
def api(server):
    """REST calls of these tests go to the real server; the root fixtures' actors
    (`creator`, `viewer`, …) are registered through it."""
    return server


@pytest.fixture
def other_viewer(server):
    return register(server, Role.VIEWER)


@pytest.fixture
def product(server, creator) -> dict:
    return make_product(server, creator)


@pytest.fixture
def show(server, creator, product) -> dict:
    """A scheduled show of `creator` selling `product`."""
    return make_show(server, creator, productIds=[product["id"]])


@pytest.fixture
def live_show(server, creator, show) -> dict:
    start(server, creator, show)
    return show


@pytest.fixture
def connect(server):
    """`connect(actor=None, on=server, origin=…)`: an open WebSocket client, closed after the test."""
    clients: list[WsClient] = []

    def open_client(actor=None, *, on: RunningServer | None = None, **options) -> WsClient:
        client = WsClient((on or server).ws_url, actor=actor, **options).connect()
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


@pytest.fixture
def sio_connect(server):
    """`sio_connect(actor=None, on=server, **options)`: a connected python-socketio client, closed after
    the test."""
    clients: list[SioClient] = []

    def open_client(actor=None, *, on: RunningServer | None = None, **options) -> SioClient:
        client = SioClient(on or server, actor=actor, **options)
        clients.append(client)
        return client.connect()

    yield open_client
    for client in clients:
        client.close()
