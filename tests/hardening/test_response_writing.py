"""What the server writes for a response, whatever the application returns: a body of known length right
after the head, a streamed body in chunks, a bodiless answer with its head only."""

from __future__ import annotations

import gevent
import gevent.socket
import pytest
from gevent import pywsgi

from bazaar.serving import Handler


def _app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/streamed":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (part for part in (b"ab", b"", b"cde"))  # no length known: chunked
    if path == "/empty":
        start_response("204 No Content", [])
        return []
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [b"hello"]


@pytest.fixture
def port():
    server = pywsgi.WSGIServer(("127.0.0.1", 0), _app, handler_class=Handler, log=None)
    server.start()
    yield server.server_port
    server.stop()


def _exchange(port: int, request: bytes) -> bytes:
    client = gevent.socket.create_connection(("127.0.0.1", port))
    try:
        client.sendall(request)
        received = b""
        with gevent.Timeout(5):
            while chunk := client.recv(65536):
                received += chunk
        return received
    finally:
        client.close()


def _answer(port: int, path: str, method: str = "GET") -> tuple[list[bytes], bytes]:
    request = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    head, _, body = _exchange(port, request).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    return [lines[0], *sorted(line for line in lines[1:] if not line.startswith(b"Date: "))], body


def test_a_body_of_known_length_follows_its_head(port):
    assert _answer(port, "/known") == (
        [b"HTTP/1.1 200 OK", b"Connection: close", b"Content-Length: 5", b"Content-Type: text/plain"],
        b"hello",
    )


def test_a_streamed_body_is_sent_in_chunks(port):
    assert _answer(port, "/streamed") == (
        [
            b"HTTP/1.1 200 OK",
            b"Connection: close",
            b"Content-Type: text/plain",
            b"Transfer-Encoding: chunked",
        ],
        b"2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n",
    )


def test_a_head_request_and_a_204_get_the_head_only(port):
    assert _answer(port, "/known", method="HEAD") == (
        [b"HTTP/1.1 200 OK", b"Connection: close", b"Content-Length: 5", b"Content-Type: text/plain"],
        b"",
    )
    assert _answer(port, "/empty") == ([b"HTTP/1.1 204 No Content", b"Connection: close"], b"")


def test_every_answer_has_a_date(port):
    head = _exchange(port, b"GET /known HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").partition(
        b"\r\n\r\n"
    )[0]
    assert sum(line.startswith(b"Date: ") and line.endswith(b" GMT") for line in head.split(b"\r\n")) == 1


def test_an_upgrade_without_a_websocket_version_is_answered_426(port):
    request = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    head = _exchange(port, request).partition(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[0] == b"HTTP/1.1 426 Upgrade Required"
    assert b"Sec-WebSocket-Version: 13, 8, 7" in head
