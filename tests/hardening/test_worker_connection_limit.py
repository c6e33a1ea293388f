"""WORKER_CONNECTIONS counts upgraded WebSockets too: they leave the HTTP server's pool once upgraded (no
greenlet while idle, even before the client's first message), but a worker full of them still refuses a
new connection with 503, and takes one again once a WebSocket closes."""

from __future__ import annotations

import pytest
import requests

from tests.realtime.conftest import realtime_env
from tests.support.server import RunningServer
from tests.support.waiting import wait_until
from tests.support.ws_client import WsClient

LIMIT = 4


@pytest.fixture(scope="module")
def small_server(database_url, services):
    running = RunningServer(
        realtime_env(database_url, WORKER_CONNECTIONS=str(LIMIT)), workers=1, name="small"
    ).start()
    yield running
    running.stop()


def _health(server: RunningServer) -> int:
    return requests.get(server.base_url + "/health", timeout=5).status_code


def test_a_worker_full_of_websockets_refuses_new_connections_until_one_closes(small_server):
    sockets = [WsClient(small_server.ws_url).connect() for _ in range(LIMIT)]
    try:
        refused = requests.get(small_server.base_url + "/health", timeout=5)
        assert refused.status_code == 503
        assert refused.json()["error"] == "too_many_connections"

        sockets.pop().close()
        assert wait_until(lambda: _health(small_server) == 200, timeout_s=5)
    finally:
        for ws in sockets:
            ws.close()
