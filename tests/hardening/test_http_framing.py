"""RFC 9112 framing at the server, before the app: ambiguous or broken requests get 400 and the connection
closes (a smuggled request behind them never runs); bodies are read whole, chunked ones too."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import PASSWORD
from tests.support.waiting import wait_until

REFUSED = {
    "content-length with transfer-encoding": (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n"
    ),
    "transfer-encoding other than chunked": (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"
    ),
    "two transfer-encodings": (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "obs-folded header": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
    "space before the colon": b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n",
    "bare CR in a header": b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\rX-B: b\r\n\r\n",
    "bare CR in the request line": b"GET /health\rX HTTP/1.1\r\nHost: x\r\n\r\n",
    "two Host headers": b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "no Host on HTTP/1.1": b"GET /health HTTP/1.1\r\n\r\n",
    "two Content-Lengths": (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}"
    ),
    "signed Content-Length": b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n{}",
    "HTTP/0.9 request line": b"GET /health\r\n\r\n",
}
SMUGGLED = b"GET /api/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


def _status(response: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    assert match, response[:200]
    return int(match.group(1))


def _body(response: bytes) -> dict:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


@pytest.mark.parametrize("request_bytes", REFUSED.values(), ids=REFUSED.keys())
def test_an_ambiguous_request_is_refused_with_400_and_the_connection_closes(server, raw, request_bytes):
    response, closed = raw().send(request_bytes + SMUGGLED).read_until_closed()
    assert _status(response) == 400
    assert _body(response)["success"] is False
    assert closed
    assert response.count(b"HTTP/1.1 ") == 1  # the request behind it never ran
    assert "/api/smuggled" not in server.log()


def test_a_client_closing_before_its_declared_body_ends_leaves_no_traceback(server, raw):
    connection = raw().send(
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"user'
    )
    connection.close()
    response, _ = (
        raw().send(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").read_until_closed()
    )
    assert _status(response) == 200
    # The abandoned request may be served by the other worker: wait for its log line, not for /health.
    assert wait_until(lambda: "closed the connection before the end of its request body" in server.log())
    assert "Traceback" not in server.log()


def _chunked(data: bytes, size: int = 7) -> bytes:
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


def test_a_chunked_json_body_is_read(raw, viewer):
    body = json.dumps({"username": viewer.username, "password": PASSWORD}).encode()
    response, _ = (
        raw()
        .send(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + _chunked(body)
        )
        .read_until_closed()
    )
    assert _status(response) == 200, response
    assert _body(response)["data"]["user"]["username"] == viewer.username


def test_a_kept_alive_connection_serves_the_next_request_after_a_chunked_one(raw, viewer):
    body = json.dumps({"username": viewer.username, "password": "wrong-password"}).encode()
    connection = raw().send(
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + _chunked(body)
        + b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    response, closed = connection.read_until_closed()
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", response) == [b"401", b"200"]
    assert closed


def test_a_chunked_body_over_the_limit_is_a_413_envelope_and_the_connection_closes(server, raw):
    limit = int(server.env["MAX_BODY_BYTES"])
    body = b'{"username": "' + b"x" * limit + b'"}'
    response, closed = (
        raw()
        .send(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Origin: http://app.test\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(body, 4096)
        )
        .read_until_closed()
    )
    assert _status(response) == 413
    assert _body(response)["error"] == "payload_too_large"
    assert b"access-control-allow-origin: http://app.test" in response.lower()
    assert closed


def test_a_declared_body_over_the_limit_is_a_413_without_waiting_for_the_body(server, raw):
    response, closed = (
        raw()
        .send(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n{"
        )
        .read_until_closed()
    )
    assert _status(response) == 413
    assert _body(response)["error"] == "payload_too_large"
    assert closed


@pytest.mark.parametrize("request_bytes", REFUSED.values(), ids=REFUSED.keys())
def test_an_ambiguous_request_arriving_in_pieces_is_refused_the_same_way(server, raw, request_bytes):
    """A head that is not whole in the server's read buffer is read line by line, not checked in one piece:
    both ways refuse the same requests."""
    connection = raw()
    head_end = request_bytes.index(b"\n") + 3  # inside the field lines (or the blank line)
    connection.send(request_bytes[:head_end])
    response, closed = connection.send(request_bytes[head_end:] + SMUGGLED).read_until_closed()
    assert _status(response) == 400
    assert closed
    assert response.count(b"HTTP/1.1 ") == 1


def _fields(count: int) -> bytes:
    return (
        b"GET /health HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: v\r\n" % n for n in range(count - 1))
        + b"\r\n"
    )


def test_a_hundred_header_fields_are_accepted_and_more_get_431(raw):
    response, _ = raw().send(_fields(100)).read_until_closed(timeout_s=1)
    assert _status(response) == 200
    response, closed = raw().send(_fields(101)).read_until_closed()
    assert _status(response) == 431
    assert closed


def test_header_fields_with_bare_lf_line_ends_and_padded_values_are_read(raw):
    response, _ = raw().send(b"GET /health HTTP/1.1\nHost:  x \t\nConnection: close \n\n").read_until_closed()
    assert _status(response) == 200
    assert response.count(b"HTTP/1.1 ") == 1


def test_every_operation_documents_the_400_the_server_gives_a_broken_request(server, raw):
    """The framing refusals come before routing, so any operation can answer them: each one says so (the
    REST fuzzer sends such headers to every route)."""
    doc = server.get("/api/openapi.json").json
    for path, operations in doc["paths"].items():
        target = re.sub(r"\{\w+\}", "1", path)
        for method, operation in operations.items():
            request = f"{method.upper()} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n".encode()
            answer, closed = raw().send(request).read_until_closed()
            assert answer.startswith(b"HTTP/1.1 400 "), (method, path, answer[:80])
            assert closed
            assert "400" in operation["responses"], (method, path)
