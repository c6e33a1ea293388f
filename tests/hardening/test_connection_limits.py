"""What one client connection may cost: timeouts for a request's head and body and for an idle kept-alive
connection, and a per-address cap, so half-open sockets from one address cannot starve another client."""

from __future__ import annotations

import time

import requests

from tests.support.half_open_flood import HALF_A_REQUEST, open_files
from tests.support.waiting import wait_until


def test_a_half_sent_request_head_is_closed_after_the_header_timeout(server, raw):
    connection = raw().send(HALF_A_REQUEST)
    started = time.monotonic()
    received, closed = connection.read_until_closed(timeout_s=4)
    assert closed and received == b""
    assert time.monotonic() - started < 2.5  # HTTP_HEADER_TIMEOUT_S is 1 s


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(raw):
    received, closed = raw().read_until_closed(timeout_s=4)
    assert closed and received == b""


def test_a_head_sent_a_byte_at_a_time_is_still_cut_off_at_the_header_timeout(raw):
    connection = raw()
    started = time.monotonic()
    try:
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
            connection.send(bytes([byte]))
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError):
        pass
    _, closed = connection.read_until_closed(timeout_s=1)
    assert closed
    assert time.monotonic() - started < 3.5


def test_a_body_that_does_not_arrive_is_closed_after_the_body_timeout(server, raw):
    connection = raw().send(
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 50\r\n\r\n{"
    )
    received, closed = connection.read_until_closed(timeout_s=4)
    assert closed and received == b""


def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(raw):
    connection = raw().send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    started = time.monotonic()
    received, closed = connection.read_until_closed(timeout_s=4)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert closed
    assert time.monotonic() - started < 2.5  # HTTP_KEEPALIVE_TIMEOUT_S is 1 s


def test_half_open_sockets_from_one_address_do_not_starve_another_client(server, raw):
    # Three times what the workers accept in all (WORKER_CONNECTIONS=100 each): without a per-address cap
    # these would take every slot until they time out.
    workers = server.pids()[1:]
    open_before = sum(map(open_files, workers))
    flood = [raw("127.0.0.1").send(HALF_A_REQUEST) for _ in range(3 * 100 * server.workers)]
    # the workers have accepted the flood: they hold as many of its sockets as the cap lets them
    assert wait_until(lambda: sum(map(open_files, workers)) >= open_before + 20 * server.workers, timeout_s=2)

    other_client = raw("127.0.0.2")
    started = time.monotonic()
    response, _ = other_client.send(
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ).read_until_closed()
    assert response.startswith(b"HTTP/1.1 200 ")
    assert time.monotonic() - started < 1.0

    refused = 0
    for connection in flood:  # all closed by the header timeout (1 s), the ones over the cap at once
        received, closed = connection.read_until_closed(timeout_s=3)
        assert closed
        refused += received.startswith(b"HTTP/1.1 503 ")
    # MAX_CONNECTIONS_PER_ADDRESS=20 per worker
    assert refused >= len(flood) - 20 * server.workers
    assert requests.get(server.base_url + "/health", timeout=1).status_code == 200
