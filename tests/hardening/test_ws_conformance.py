"""WebSocket frames the probe (and Autobahn) found mishandled: control frames between fragments, close frames
with a bad reason or code, payloads that broke the reader; every failure is a reply or a close code, never a
dropped connection or a traceback."""

from __future__ import annotations

import json
import socket
import struct

import pytest

from tests.hardening.rawws import CLOSE, CONTINUATION, PING, PONG, TEXT, RawWebSocket
from tests.support.ws_client import read_until


@pytest.fixture
def ws(server):
    sockets: list[RawWebSocket] = []

    def open_socket() -> RawWebSocket:
        sockets.append(RawWebSocket(server.port))
        return sockets[-1]

    yield open_socket
    for sock in sockets:
        sock.close()


def _reply(sock: RawWebSocket) -> dict:
    opcode, payload = sock.next_data_frame()
    assert opcode == TEXT, (opcode, payload[:200])
    return json.loads(payload)


@pytest.mark.parametrize("control", [PING, PONG])
def test_a_control_frame_between_the_fragments_of_a_message_is_allowed(ws, control):
    sock = ws()
    message = json.dumps({"event": "no-such-event", "ref": "r1"}).encode()
    sock.send_frame(TEXT, message[:10], fin=False)
    sock.send_frame(control, b"between")
    sock.send_frame(CONTINUATION, message[10:20], fin=False)
    sock.send_frame(control, b"again")
    sock.send_frame(CONTINUATION, message[20:])
    if control == PING:
        assert sock.next_data_frame() == (PONG, b"between")
        assert sock.next_data_frame() == (PONG, b"again")
    reply = _reply(sock)
    assert (reply["event"], reply["ref"], reply["data"]["code"]) == ("error", "r1", "unknown_event")


def test_a_close_frame_with_a_reason_that_is_not_utf8_is_answered_with_1007(ws):
    sock = ws()
    sock.close_with(struct.pack("!H", 1000) + b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80")
    assert sock.close_code() == 1007


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_a_close_frame_with_an_invalid_status_code_is_answered_with_1002(ws, code):
    sock = ws()
    sock.close_with(struct.pack("!H", code))
    assert sock.close_code() == 1002


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 3000, 4999])
def test_a_close_frame_with_a_valid_status_code_is_echoed(ws, code):
    sock = ws()
    sock.close_with(struct.pack("!H", code) + b"bye")
    assert sock.close_code() == code


def test_json_nested_thirty_thousand_deep_gets_an_error_and_the_connection_stays_open(server, ws):
    sock = ws()
    sock.send_text('{"event": "x", "data": ' + "[" * 30_000 + "]" * 30_000 + "}")
    assert _reply(sock)["event"] == "error"
    sock.send_text(json.dumps({"event": "no-such-event", "ref": 2}))
    assert _reply(sock)["ref"] == 2
    assert "Traceback" not in server.log()


def test_a_ref_with_a_lone_surrogate_gets_its_error_reply(server, ws):
    sock = ws()
    sock.send_text('{"event": "no-such-event", "ref": "\\ud800"}')
    reply = _reply(sock)
    assert (reply["event"], reply["ref"]) == ("error", "\ud800")
    assert "Traceback" not in server.log()


def test_the_unknown_event_error_does_not_echo_a_huge_event_name(ws):
    sock = ws()
    sock.send_text(json.dumps({"event": "x" * 60_000, "ref": 1}))
    opcode, payload = sock.next_data_frame()
    assert json.loads(payload)["data"]["code"] == "unknown_event"
    assert len(payload) < 1024


def test_a_close_frame_is_still_answered_after_a_fragment(ws):
    sock = ws()
    sock.send_frame(TEXT, b'{"event":', fin=False)
    sock.close_with(struct.pack("!H", 1000))
    opcode, payload = sock.next_data_frame()
    assert opcode == CLOSE and struct.unpack("!H", payload[:2])[0] == 1000


def test_frames_sent_together_with_the_upgrade_request_are_answered(server):
    """A client may send frames right behind its handshake, before the 101 arrives: they reach the server
    with the request's head and must not be lost when the connection leaves the HTTP server."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            + _masked(PING, b"early")
            + _masked(TEXT, b'{"event":"ping","ref":"early"}')
        )
        head, _, rest = read_until(sock, b"\r\n\r\n").partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        frames = rest
        while b'"ref":"early"' not in frames:
            chunk = sock.recv(65536)
            assert chunk, frames
            frames += chunk
        assert frames.startswith(bytes([0x80 | PONG, 5]) + b"early"), frames[:100]
    finally:
        sock.close()


def _masked(opcode: int, payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    return (
        bytes([0x80 | opcode, 0x80 | len(payload)])
        + mask
        + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    )
