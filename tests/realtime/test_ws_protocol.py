"""SPEC §9, the protocol itself, against the real server: the handshake's checks, frame validation,
replies per ref, close codes and heartbeats."""

from __future__ import annotations

import json
import struct
import time

import requests

from tests.support.ws_client import WsClient, silent_socket


def test_a_plain_http_request_to_ws_is_a_400_envelope(server):
    resp = requests.get(server.base_url + "/ws", timeout=5)

    assert resp.status_code == 400
    assert resp.json()["success"] is False
    assert resp.json()["error"] == "websocket_upgrade_required"


def test_an_upgrade_anywhere_but_ws_is_refused_with_close_code_4404(server):
    client = WsClient(server.ws_url.replace("/ws", "/api/products")).connect()

    assert client.wait_closed() == 4404


def test_an_invalid_token_is_refused_with_close_code_4401(server):
    client = WsClient(server.ws_url, token="not-a-jwt").connect()

    assert client.wait_closed() == 4401


def test_a_foreign_origin_is_refused_with_close_code_4403(server):
    client = WsClient(server.ws_url, origin="http://evil.test").connect()

    assert client.wait_closed() == 4403


def test_an_allowed_origin_connects(connect, live_show):
    client = connect(origin="http://app.test")

    assert client.join(live_show)["sessionId"] == live_show["id"]


def test_a_frame_over_64_kib_closes_the_connection_with_1009(connect):
    client = connect()

    client.send_text(json.dumps({"event": "ping", "data": {"padding": "x" * 65_536}}))

    assert client.wait_closed() == 1009


def test_a_frame_just_under_64_kib_is_handled(connect):
    client = connect()
    padding = "x" * (65_536 - 200)

    reply = client.request("ping", {"padding": padding})

    assert reply["event"] == "ack"


def test_a_malformed_frame_gets_an_error_and_the_connection_stays_open(connect):
    client = connect()

    client.send_text("{not json")

    assert client.expect("error")["code"] == "invalid_json"
    assert client.request("ping")["event"] == "ack"


def test_a_frame_that_is_not_an_object_gets_an_error(connect):
    client = connect()

    client.send_text("[1, 2, 3]")

    assert client.expect("error")["code"] == "invalid_frame"


def test_an_unknown_event_gets_an_error_with_its_ref(connect):
    client = connect()

    reply = client.request("dance", {})

    assert reply["event"] == "error"
    assert reply["data"]["code"] == "unknown_event"


def test_invalid_data_gets_a_validation_error_with_details(connect):
    client = connect()

    reply = client.request("join-session", {"sessionId": "not-a-uuid"})

    assert reply["event"] == "error"
    assert reply["data"]["code"] == "validation_error"
    assert "sessionId" in reply["data"]["details"]


def test_every_ref_gets_exactly_one_reply(connect, live_show):
    client = connect()
    frames = [
        {"event": "join-session", "data": {"sessionId": live_show["id"]}, "ref": "join"},
        {"event": "ping", "ref": 7},
        {"event": "send-reaction", "data": {"sessionId": live_show["id"], "type": "fire"}, "ref": "react"},
        {"event": "send-reaction", "data": {"sessionId": live_show["id"], "type": "meh"}, "ref": "bad-type"},
        {
            "event": "send-message",
            "data": {"sessionId": live_show["id"], "message": "hi"},
            "ref": "anon-chat",
        },
        {"event": "nope", "ref": "unknown"},
        {"event": "leave-session", "data": live_show["id"], "ref": "leave"},
    ]
    for frame in frames:
        client.send_text(json.dumps(frame))
    client.request("ping")  # everything before it has been answered
    time.sleep(0.3)

    replies = {frame["ref"]: [r["event"] for r in client.replies(frame["ref"])] for frame in frames}
    assert replies == {
        "join": ["ack"],
        7: ["ack"],
        "react": ["ack"],
        "bad-type": ["error"],
        "anon-chat": ["error"],
        "unknown": ["error"],
        "leave": ["ack"],
    }


def test_ping_is_answered_with_pong(connect):
    client = connect()

    client.send("ping")

    assert "timestamp" in client.expect("pong")


def test_a_binary_frame_gets_an_error_and_the_connection_stays_open(connect):
    client = connect()

    client._ws.send_binary(b'{"event":"ping"}')

    assert client.expect("error")["code"] == "invalid_frame"
    assert client.request("ping")["event"] == "ack"


def test_the_identity_comes_from_the_token_not_the_payload(connect, live_show, viewer, other_viewer):
    client = connect(viewer)
    client.join(live_show)

    reply = client.request(
        "send-message",
        {
            "sessionId": live_show["id"],
            "message": "it's me",
            "userId": other_viewer.id,
            "userName": other_viewer.username,
        },
    )

    assert reply["data"]["userId"] == viewer.id
    assert reply["data"]["username"] == viewer.username


def test_an_anonymous_connection_may_not_chat(connect, live_show):
    client = connect()
    client.join(live_show)

    reply = client.request("send-message", {"sessionId": live_show["id"], "message": "hello"})

    assert reply["data"]["code"] == "unauthorized"


def test_the_server_pings_and_a_client_that_answers_stays_connected(connect):
    client = connect()  # websocket-client answers pings, as browsers do

    time.sleep(4)  # longer than WS_IDLE_TIMEOUT_S

    assert not client.closed.is_set()
    assert client.request("ping")["event"] == "ack"


def test_a_silent_peer_is_dropped_after_the_idle_timeout(server):
    sock = silent_socket(server.ws_url)
    sock.settimeout(10)
    started = time.monotonic()

    received = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    elapsed = time.monotonic() - started

    close_at = received.find(b"\x88")  # after the pings (0x89) comes the close frame
    assert received.startswith(b"\x89")
    assert close_at >= 0
    assert struct.unpack("!H", received[close_at + 2 : close_at + 4])[0] == 4408
    assert 2.5 <= elapsed <= 8
    sock.close()


def test_the_connection_closes_cleanly_when_the_client_closes(connect, live_show):
    client = connect()
    client.join(live_show)

    client._ws.send_close(1000)

    assert client.wait_closed() == 1000
