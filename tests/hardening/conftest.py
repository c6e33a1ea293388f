"""Real-server fixtures for the hardening suite: the real-time suite's `server` (and its actors), started
with short connection timeouts, a small per-address connection cap and a small body limit, so what the
limits do happens within a test.

`raw` speaks bytes to the server over a plain socket, for what an HTTP library would never send.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.realtime.conftest import (  # noqa: F401 — fixtures
    api,
    connect,
    live_show,
    other_viewer,
    product,
    realtime_env,
    server,
    show,
)
from tests.support import databases

LIMITS = {
    "HTTP_HEADER_TIMEOUT_S": "1",
    "HTTP_BODY_TIMEOUT_S": "1",
    "HTTP_KEEPALIVE_TIMEOUT_S": "1",
    "MAX_CONNECTIONS_PER_ADDRESS": "20",
    "WORKER_CONNECTIONS": "100",
    "MAX_BODY_BYTES": "65536",
    "BCRYPT_ROUNDS": "10",  # real hashes cost enough for login timing to show
    # slow clients: a small queue bounded in bytes, and a chat flood the rate limit lets through
    "WS_SEND_QUEUE_BYTES": "65536",
    "WS_SEND_QUEUE_SIZE": "100000",
    "CHAT_RATE_COUNT": "100000",
    "CHAT_MAX_CHARS": "60000",
    "WS_CLOSE_TIMEOUT_S": "10",  # a client that reads again within this gets the close frame
    "WS_IDLE_TIMEOUT_S": "60",  # the slow clients answer no pings while they read nothing
}


@pytest.fixture(scope="session")
def server_env(database_url, services) -> dict[str, str]:
    if databases.postgres_mode():
        databases.flush_redis()
    return realtime_env(database_url, **LIMITS)


class RawConnection:
    """A plain TCP connection to the server, for requests no HTTP library would send."""

    def __init__(self, port: int, source: str = "127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))

    def send(self, data: bytes) -> RawConnection:
        self.sock.sendall(data)
        return self

    def read_until_closed(self, timeout_s: float = 5.0) -> tuple[bytes, bool]:
        """Everything the server sends within `timeout_s`, and whether it closed the connection by then."""
        received = b""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return received, False
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk
        return received, False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(server):
    """`raw()` opens a RawConnection to the server (closed after the test); `raw(source="127.0.0.2")`
    connects from another loopback address, as another client would."""
    opened: list[RawConnection] = []

    def open_connection(source: str = "127.0.0.1") -> RawConnection:
        connection = RawConnection(server.port, source)
        opened.append(connection)
        return connection

    yield open_connection
    for connection in opened:
        connection.close()
