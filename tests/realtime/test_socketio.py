"""The Socket.IO dialect (SPEC §9.1), with the real python-socketio client over WebSocket, in the same
rooms as /ws clients — on the same instance and across two instances (postgres mode)."""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest
import requests
import socketio
import websocket

from bazaar.domain.models import SessionView
from bazaar.infra import db
from tests.realtime.conftest import keep_clicking, launch
from tests.support.ws_client import SioClient


@pytest.fixture(params=["same instance", "other instance"])
def ws_host(request, server):
    """Where the /ws member of a mixed room connects: the Socket.IO client's instance, or another one."""
    return server if request.param == "same instance" else request.getfixturevalue("other_server")


def test_a_socketio_client_joins_with_an_ack_carrying_the_room_state(sio_connect, live_show, viewer):
    client = sio_connect(viewer)

    state = client.join(live_show)

    assert state["sessionId"] == live_show["id"]
    assert state["status"] == "live"
    assert state["role"] == "viewer"
    assert state["viewerCount"] == 1


def test_chat_flows_both_ways_between_socketio_and_ws(
    sio_connect, connect, ws_host, live_show, viewer, other_viewer
):
    sio_client = sio_connect(viewer)
    ws_client = connect(other_viewer, on=ws_host)
    sio_client.join(live_show)
    ws_client.join(live_show)

    stored = sio_client.call(
        "send-message",
        {"sessionId": live_show["id"], "message": "hello from socket.io", "userId": 1, "userName": "x"},
    )
    heard = ws_client.expect("new-message", message="hello from socket.io")
    ws_client.say(live_show, "hello from /ws")
    answer = sio_client.expect("new-message", lambda m: m["message"] == "hello from /ws")

    assert stored["userId"] == viewer.id and stored["userName"] == viewer.username  # the token's, not 1/"x"
    assert heard["id"] == stored["id"]
    assert answer["userId"] == other_viewer.id
    assert sio_client.expect("new-message", lambda m: m["id"] == stored["id"])  # its own message too


def test_reactions_reach_both_dialects(sio_connect, connect, ws_host, live_show, viewer):
    sio_client = sio_connect(viewer)
    ws_client = connect(on=ws_host)
    sio_client.join(live_show)
    ws_client.join(live_show)

    reply = sio_client.call("send-reaction", {"sessionId": live_show["id"], "type": "fire"})
    ws_client.send("send-reaction", {"sessionId": live_show["id"], "type": "clap"})

    assert reply["counts"]["fire"] == 1
    assert ws_client.expect("new-reaction", type="fire")["userId"] == viewer.id
    assert sio_client.expect("new-reaction", lambda r: r["type"] == "clap")
    stats = sio_client.expect("reaction-stats", lambda s: s["total"] == 2)
    assert stats["counts"]["fire"] == 1 and stats["counts"]["clap"] == 1


def test_the_owner_showcases_over_socketio_and_both_dialects_see_it(
    sio_connect, connect, ws_host, live_show, creator, product, viewer
):
    owner = sio_connect(creator)
    watcher = sio_connect(viewer)
    ws_client = connect(on=ws_host)
    assert owner.join(live_show)["role"] == "publisher"
    watcher.join(live_show)
    ws_client.join(live_show)

    owner.call("showcase-product", {"sessionId": live_show["id"], "productId": product["id"]})

    assert (
        ws_client.expect("product-showcased", productId=product["id"])["product"]["name"] == product["name"]
    )
    shown = watcher.expect("product-showcased")
    assert shown["productId"] == product["id"] and shown["product"]["price"] == product["price"]

    owner.call("showcase-product", {"sessionId": live_show["id"], "productId": None})
    assert watcher.expect("showcase-cleared")["sessionId"] == live_show["id"]


def test_a_showcase_by_anyone_but_the_owner_is_refused_with_an_error_ack(
    sio_connect, live_show, product, viewer
):
    signed_in = sio_connect(viewer)
    anonymous = sio_connect()
    for client in (signed_in, anonymous):
        client.join(live_show)
    showcase = {"sessionId": live_show["id"], "productId": product["id"]}

    assert signed_in.call("showcase-product", showcase)["error"]["code"] == "forbidden"
    refused = anonymous.call("showcase-product", showcase)["error"]
    assert refused == {"message": "Sign in to showcase products", "code": "unauthorized"}
    assert signed_in.received("product-showcased") == []


def test_without_a_token_chat_is_refused_with_a_clear_error(sio_connect, live_show):
    client = sio_connect()
    client.join(live_show)

    acked = client.call("send-message", {"sessionId": live_show["id"], "message": "hi"})
    client.emit("send-message", {"sessionId": live_show["id"], "message": "hi", "userId": 5})  # no ack

    assert acked == {"error": {"message": "Sign in to chat", "code": "unauthorized"}}
    assert client.expect("error") == {"message": "Sign in to chat", "code": "unauthorized"}


def test_viewer_counts_are_bare_numbers_across_dialects(
    sio_connect, connect, ws_host, live_show, creator, viewer, other_viewer
):
    owner = sio_connect(creator)
    owner.join(live_show)

    connect(viewer, on=ws_host).join(live_show)
    sio_connect(other_viewer).join(live_show)

    assert owner.expect("viewer-count", lambda count: count == 2, timeout_s=10) == 2
    assert all(isinstance(count, int) for count in owner.received("viewer-count"))


def test_a_join_without_a_callback_is_told_the_viewer_count(sio_connect, connect, live_show, creator, viewer):
    watcher = connect(viewer)
    watcher.join(live_show)
    watcher.expect("viewer-count", count=1)  # the room's count is sent, and stays 1 from here on
    owner = sio_connect(creator)

    owner.emit("join-session", {"sessionId": live_show["id"], "userId": creator.id})  # as the front end does

    assert owner.expect("viewer-count") == 1  # at once: the owner's join does not change the count


def test_leave_session_with_a_bare_id_leaves_the_room(sio_connect, connect, live_show, creator, viewer):
    owner = connect(creator)
    owner.join(live_show)
    client = sio_connect(viewer)
    client.join(live_show)
    owner.expect("viewer-count", count=1)

    assert client.call("leave-session", live_show["id"]) == {"sessionId": live_show["id"]}

    owner.expect("viewer-count", count=0)


def test_trending_products_carry_the_list_as_trending_too(
    sio_connect, connect, live_show, creator, product, viewer
):
    owner = sio_connect(creator)
    owner.join(live_show)
    clicker = connect(viewer)
    clicker.join(live_show)

    keep_clicking([clicker], live_show, product, seconds=1.5)

    trending = owner.expect("trending-products", timeout_s=10)
    assert trending["trending"] == trending["products"]
    assert trending["products"][0]["productId"] == product["id"]
    clicks = owner.expect("product-click-stats")
    assert clicks["productStats"][0]["productId"] == product["id"]


def test_identity_also_comes_from_the_query_token_or_the_authorization_header(
    server, live_show, viewer, other_viewer
):
    by_query = SioClient(server, query=f"?token={viewer.token}").connect()
    by_header = SioClient(server, headers={"Authorization": f"Bearer {other_viewer.token}"}).connect()
    try:
        for client, actor in ((by_query, viewer), (by_header, other_viewer)):
            client.join(live_show)
            said = client.call("send-message", {"sessionId": live_show["id"], "message": "who am I"})
            assert said["userId"] == actor.id
    finally:
        by_query.close()
        by_header.close()


@pytest.mark.parametrize(("token", "code"), [("not-a-jwt", "invalid_token"), ("expired", "token_expired")])
def test_a_bad_token_is_refused_with_connect_error(server, viewer, token, code):
    if token == "expired":
        token = _expired_token(viewer)
    client = SioClient(server, auth={"token": token})

    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect()

    [error] = client.connect_errors
    assert error["code"] == code and error["message"]
    assert not client.sio.connected


def _expired_token(actor) -> str:
    import jwt

    from tests.realtime.conftest import INTERVALS

    claims = jwt.decode(actor.token, options={"verify_signature": False})
    claims["exp"] = int(time.time()) - 60
    return jwt.encode(claims, INTERVALS["JWT_SECRET"], algorithm="HS256")


def test_the_engineio_handshake_and_pings(server):
    raw = _raw_socketio(server)

    opened = raw.recv()
    raw.send("40")
    connected = raw.recv()
    ping = raw.recv()  # the server pings at pingInterval (1 s in these tests)

    assert opened.startswith("0")
    handshake = json.loads(opened[1:])
    assert handshake["pingInterval"] == 1000 and handshake["pingTimeout"] == 2000
    assert handshake["maxPayload"] == 64 * 1024 and handshake["upgrades"] == [] and handshake["sid"]
    assert connected.startswith("40") and json.loads(connected[2:])["sid"]
    assert ping == "2"
    raw.close()


def test_a_client_that_stops_answering_pings_is_dropped_and_leaves_its_room(
    server, connect, live_show, creator
):
    owner = connect(creator)
    owner.join(live_show)
    raw = _raw_socketio(server)
    raw.recv()  # the handshake
    raw.send("40")
    raw.recv()  # connected
    raw.send("420" + json.dumps(["join-session", live_show["id"]]))
    owner.expect("viewer-count", count=1)

    started = time.monotonic()
    try:
        while raw.recv():  # reads pings, never answers them
            pass
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        pass
    assert time.monotonic() - started < 1 + 2 + 3  # pingInterval + pingTimeout, and the close timeout
    owner.expect("viewer-count", count=0)


def _raw_socketio(server) -> websocket.WebSocket:
    """A bare WebSocket on /socket.io/, to speak Engine.IO by hand (and to stay silent)."""
    url = urlsplit(server.base_url)
    return websocket.create_connection(
        f"ws://{url.netloc}/socket.io/?EIO=4&transport=websocket", timeout=10, suppress_origin=True
    )


def test_the_polling_transport_gets_engineio_transport_unknown(server):
    resp = requests.get(server.base_url + "/socket.io/?EIO=4&transport=polling", timeout=5)

    assert resp.status_code == 400
    assert resp.json() == {"code": 0, "message": "Transport unknown"}


def test_sigterm_disconnects_socketio_members_and_closes_their_views(server_env, live_show, viewer):
    stopping = launch(server_env, "stopping-socketio")
    clients = [SioClient(stopping, actor=viewer if n == 0 else None).connect() for n in range(3)]
    for client in clients:
        client.join(live_show)

    assert stopping.stop() == 0

    assert all(client.disconnected.wait(5) for client in clients)
    with db.connection():
        views = list(SessionView.select().where(SessionView.session == live_show["id"]))
    assert len(views) == 3
    assert all(view.left_at is not None and view.watch_seconds is not None for view in views)
