"""The Socket.IO dialect (SPEC §9.1): Engine.IO v4 / Socket.IO v5 over the WebSocket transport, for the
existing front end's `socket.io-client`.

Packets are encoded and decoded by `socketio_packets`; this module only decides what the packets say. On
open the server sends the Engine.IO handshake; the client's CONNECT (to the main namespace) carries the
identity — `auth: {token}`, else the request's `?token=` or `Authorization: Bearer` — and is answered with
CONNECT (the socket id) or CONNECT_ERROR `{message, code}`.
Events are `["<event>", data]`; a client event with an ack id gets exactly one ack, the reply data or
`{error: {message, code}}`; an error without one is an `error` event. The Engine.IO heartbeat (a ping
every `socketio_ping_interval_s`, dropped after `socketio_ping_timeout_s` without a pong) is the
real-time jobs' (`bazaar.entry.jobs.rooms`).

Event data is §9's, in the earlier backend's shapes where the front end reads them: `viewer-count` is the
bare number, `trending-products` also carries its list as `trending`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bazaar.domain.errors import DomainError, Invalid
from bazaar.entry.errors import as_domain_error, error_frame
from bazaar.entry.ws import socketio_packets as packets
from bazaar.entry.ws import wire
from bazaar.infra import db
from bazaar.live.events import viewer_count
from bazaar.services.auth import AuthService
from config import Settings

if TYPE_CHECKING:
    from bazaar.entry.ws.connection import Connection

log = logging.getLogger("bazaar.ws")

PROTOCOL_VERSION = "4"  # Engine.IO's, as the client sends it in ?EIO=

# The earlier backend's payloads where the front end reads them.
_FRONT_END_SHAPES: dict[str, Callable[[Any], Any]] = {
    "viewer-count": lambda data: data["count"],
    "trending-products": lambda data: {**data, "trending": data["products"]},
}


def _engineio_frame(packet_type: int, data: str | dict | None = None) -> bytes:
    return wire.text_frame(packets.encode_engineio(packet_type, data))


def _socketio_frame(
    packet_type: int, data: Any = None, ack_id: int | None = None, namespace: str = packets.MAIN_NAMESPACE
) -> bytes:
    return wire.text_frame(packets.encode_socketio(packet_type, data, ack_id, namespace))


def event_frame(name: str, data: Any) -> bytes:
    """`["<name>", data]` in the front end's shape, as a complete WebSocket frame."""
    shape = _FRONT_END_SHAPES.get(name)
    return _socketio_frame(packets.EVENT, [name, shape(data) if shape else data])


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class SocketIODialect:
    """One per connection: it remembers whether the client has connected to the namespace, and when it
    last answered a ping."""

    engineio_heartbeat = True
    room_encoding = "socketio"
    __slots__ = ("_auth", "_settings", "_request_token", "connected", "_pong_at")

    def __init__(self, auth: AuthService, settings: Settings, request_token: str | None):
        self._auth = auth
        self._settings = settings
        self._request_token = request_token  # ?token= or Authorization: Bearer, used without auth.token
        self.connected = False
        self._pong_at = time.monotonic()

    # --- writing ----------------------------------------------------------------------------------
    def opened(self, conn: Connection) -> None:
        s = self._settings
        handshake = {
            "sid": conn.id,
            "upgrades": [],
            "pingInterval": int(s.socketio_ping_interval_s * 1000),
            "pingTimeout": int(s.socketio_ping_timeout_s * 1000),
            "maxPayload": s.ws_max_frame_bytes,
        }
        conn.send(_engineio_frame(packets.OPEN, handshake))

    def event_frame(self, name: str, data: Any) -> bytes:
        return event_frame(name, data)

    def ping(self, conn: Connection) -> None:
        conn.send(_engineio_frame(packets.PING))

    def answered_since(self, pinged_at: float) -> bool:
        return self._pong_at >= pinged_at

    # --- reading ----------------------------------------------------------------------------------
    def received(self, conn: Connection, message: wire.Message) -> None:
        if message.opcode == wire.OP_BINARY:
            return self._refuse(conn, "Binary attachments are not supported")
        try:  # a text frame's payload is UTF-8: the frame reader refused it otherwise (1007)
            packet_type, data = packets.decode_engineio(message.payload.decode("utf-8"))
        except packets.MalformedPacket:
            return self._refuse(conn, "Malformed Engine.IO packet")
        if packet_type == packets.PONG:
            self._pong_at = time.monotonic()
        elif packet_type == packets.PING:  # a probe: answered with its data
            conn.send(_engineio_frame(packets.PONG, data))
        elif packet_type == packets.CLOSE:
            conn.close(wire.NORMAL)
        elif packet_type == packets.MESSAGE:
            self._socketio_packet(conn, data)

    def _socketio_packet(self, conn: Connection, text: str) -> None:
        try:
            packet = packets.decode_socketio(text)
        except packets.MalformedPacket:
            return self._refuse(conn, "Malformed Socket.IO packet")
        if packet.packet_type == packets.CONNECT:
            self._connect(conn, packet.namespace, packet.data)
        elif not self.connected or packet.namespace != packets.MAIN_NAMESPACE:
            return  # nothing reaches a namespace the client is not connected to (as python-socketio does)
        elif packet.packet_type == packets.DISCONNECT:
            conn.close(wire.NORMAL)
        elif packet.packet_type == packets.EVENT:
            self._event(conn, packet)
        elif packet.packet_type in (packets.BINARY_EVENT, packets.BINARY_ACK) or packet.attachments:
            self._refuse(conn, "Binary attachments are not supported", packet.id)
        # ACK: this server never asks the client for one

    def _connect(self, conn: Connection, namespace: str, auth: Any) -> None:
        if namespace != packets.MAIN_NAMESPACE:
            error = {"message": f"Invalid namespace {namespace}", "code": "invalid_namespace"}
            conn.send(_socketio_frame(packets.CONNECT_ERROR, error, namespace=namespace))
            return
        if self.connected:
            return
        token = auth.get("token") if isinstance(auth, dict) else None
        token = token if isinstance(token, str) and token else self._request_token
        if token:
            try:
                conn.user = self._auth.authenticate(token)
            except Exception as exc:
                failure = as_domain_error(exc)
                if failure is None:
                    log.exception("authenticating a Socket.IO client failed")
                    failure = DomainError("Internal error", code="internal_error")
                conn.send(
                    _socketio_frame(packets.CONNECT_ERROR, {"message": failure.message, "code": failure.code})
                )
                return
            finally:
                db.release()
        self.connected = True
        conn.send(_socketio_frame(packets.CONNECT, {"sid": conn.id}))

    def _event(self, conn: Connection, packet: packets.SocketIOPacket) -> None:
        data = packet.data
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            return self._refuse(conn, 'An event must be ["<event name>", data]', packet.id)
        try:
            reply = conn.dispatch(data[0], data[1] if len(data) > 1 else None)
        except Exception as exc:  # domain errors become error replies; others are logged by error_frame
            return self._error(conn, error_frame(exc)["data"], packet.id)
        if packet.id is not None:
            conn.send(_socketio_frame(packets.ACK, [reply.data], packet.id))
        elif reply.always:
            # join-session's state, sent unasked on /ws: the front end emits the join without a callback
            # and reads the room's count from viewer-count alone (it would wait for the next change)
            conn.send_event(*viewer_count(reply.data["sessionId"], reply.data["viewerCount"]))
        if reply.then is not None:
            reply.then()

    def _refuse(self, conn: Connection, message: str, ack_id: int | None = None) -> None:
        self._error(conn, error_frame(Invalid(message, code="invalid_frame"))["data"], ack_id)

    def _error(self, conn: Connection, error: dict, ack_id: int | None) -> None:
        if ack_id is not None:
            conn.send(_socketio_frame(packets.ACK, [{"error": error}], ack_id))
        elif self.connected:
            conn.send_event("error", error)
