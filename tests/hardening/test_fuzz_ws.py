"""Generated WebSocket traffic against the real server, in both dialects (/ws JSON frames, Socket.IO over
/socket.io/): events known and unknown with any data, text that is not JSON, invalid UTF-8, binary frames,
fragments with pings between them. Whatever arrives, the server answers or closes with a close code — it
never drops the connection without one — and never logs a traceback."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hardening.rawws import BINARY, CLOSE, CONTINUATION, PING, TEXT, RawWebSocket

EVENTS = [
    "join-session",
    "leave-session",
    "send-message",
    "send-reaction",
    "product-click",
    "track-product-click",
    "showcase-product",
]
fuzz_settings = settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def event_data(draw, show_id: str):
    """Payloads near what the handlers expect (the live show's id, product-ish keys) or anything at all."""
    near = st.fixed_dictionaries(
        {},
        optional={
            "sessionId": st.sampled_from([show_id, "not-a-uuid", ""]) | st.integers(),
            "message": st.text(max_size=600),
            "type": st.sampled_from(["like", "love", "fire", "wow", "clap"]) | st.text(max_size=8),
            "productId": st.uuids().map(str) | st.integers(),
            "sinceMessageId": st.uuids().map(str) | st.text(max_size=10),
        },
    )
    return draw(near | json_values)


def messages(show_id: str):
    """What a message of one connection carries: (opcode, payload bytes)."""
    event = st.sampled_from(EVENTS) | st.text(max_size=30)
    json_frame = st.builds(
        lambda name, data, ref: json.dumps(
            {"event": name, "data": data, **({} if ref is None else {"ref": ref})}
        ),
        event,
        event_data(show_id),
        st.none() | st.integers() | st.text(max_size=20),
    )
    return st.one_of(
        json_frame.map(lambda text: (TEXT, text.encode("utf-8", "surrogatepass"))),
        st.text(max_size=100).map(lambda text: (TEXT, text.encode("utf-8", "surrogatepass"))),
        st.binary(max_size=100).map(lambda data: (TEXT, data)),  # often not UTF-8: closed with 1007
        st.binary(max_size=100).map(lambda data: (BINARY, data)),
        st.binary(max_size=125).map(lambda data: (PING, data)),
    )


def _send(sock: RawWebSocket, opcode: int, payload: bytes, fragments: int) -> None:
    """The message as one frame or as fragments with a ping between each."""
    if opcode == PING or fragments == 1 or len(payload) < fragments:
        sock.send_frame(opcode, payload)
        return
    size = len(payload) // fragments
    parts = [payload[i * size : (i + 1) * size] for i in range(fragments - 1)] + [
        payload[(fragments - 1) * size :]
    ]
    for index, part in enumerate(parts):
        sock.send_frame(opcode if index == 0 else CONTINUATION, part, fin=index == len(parts) - 1)
        if index < len(parts) - 1:
            sock.send_frame(PING, b"between")


def _closes_with_a_code(sock: RawWebSocket) -> int:
    """Send our close and read until the server's close frame: its code (never a bare end of stream)."""
    try:
        sock.close_with(struct.pack("!H", 1000))
    except OSError:
        pass  # the server closed first: its close frame is waiting to be read
    sock.sock.settimeout(10)
    while True:
        opcode, payload = sock.next_frame()  # ConnectionError: dropped without a close frame
        if opcode == CLOSE:
            return struct.unpack("!H", payload[:2])[0]


@pytest.fixture(scope="module")
def show_id(live_show) -> str:
    return live_show["id"]


@pytest.fixture(scope="module")
def live_show(server):
    from bazaar.domain.models import Role
    from tests.conftest import make_product, register
    from tests.support.shows import make_show, start

    owner = register(server, Role.CREATOR)
    product = make_product(server, owner)
    show = make_show(server, owner, productIds=[product["id"]])
    start(server, owner, show)
    return show


def test_ws_frames_always_get_an_answer_or_a_close_code(server, show_id):
    @fuzz_settings
    @given(frames=st.lists(st.tuples(messages(show_id), st.integers(1, 3)), min_size=1, max_size=6))
    def exchange(frames):
        sock = RawWebSocket(server.port)
        try:
            for (opcode, payload), fragments in frames:
                try:
                    _send(sock, opcode, payload, fragments)
                except OSError:
                    break  # the server closed on a protocol error; its close frame is read below
            assert _closes_with_a_code(sock) in {1000, 1007}  # all framing is valid: 1002 would be a bug
        finally:
            sock.close()

    exchange()
    assert "Traceback" not in server.log()


def socketio_packets(show_id: str):
    """Engine.IO text packets after the Socket.IO CONNECT: events known and unknown, acks, garbage."""
    event = st.builds(
        lambda name, data, ack: f"42{'' if ack is None else ack}" + json.dumps([name, data]),
        st.sampled_from(EVENTS) | st.text(max_size=20),
        event_data(show_id),
        st.none() | st.integers(0, 10**6),
    )
    return st.one_of(
        event,
        st.text(max_size=60),
        st.sampled_from(["2", "3", "4", "41", "40", "6", "42", "43", "44", "4x", "4" + "[" * 30_000]),
    ).map(lambda text: (TEXT, text.encode("utf-8", "surrogatepass")))


def test_socketio_packets_always_get_an_answer_or_a_close_code(server, show_id):
    @fuzz_settings
    @given(packets=st.lists(socketio_packets(show_id), min_size=1, max_size=6))
    def exchange(packets):
        sock = RawWebSocket(server.port, "/socket.io/?EIO=4&transport=websocket")
        try:
            opcode, payload = sock.next_data_frame()
            assert opcode == TEXT and payload.startswith(b"0{")  # Engine.IO open
            sock.send_text("40")
            for opcode, payload in packets:
                try:
                    sock.send_frame(opcode, payload)
                except OSError:
                    break
            assert _closes_with_a_code(sock) in {1000, 1007}  # all framing is valid: 1002 would be a bug
        finally:
            sock.close()

    exchange()
    assert "Traceback" not in server.log()
