"""Engine.IO v4 and Socket.IO v5 text packets over a WebSocket, as socket.io-client 4.x writes and reads them.

Only what the Socket.IO dialect speaks: text packets, the main namespace or another one named in the
packet, ack ids, JSON data. Binary packets and attachments are recognised, to be refused.

Written here rather than taken from python-engineio's and python-socketio's packet classes: importing
those packages imports their clients, servers and managers too (requests, urllib3, websocket-client,
bidict: some 190 modules), about 6.5 MB in every server process for two small codecs. The tests check
this codec against python-socketio's, which the test client still uses.

Engine.IO text packet: one digit, the type, then the data (`2probe`; the handshake's is JSON).
Socket.IO packet (an Engine.IO MESSAGE's data): the type digit, for binary packets `<n>-`, a namespace
other than `/` followed by `,`, the ack id's digits, then the data as JSON.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

# Engine.IO packet types
OPEN, CLOSE, PING, PONG, MESSAGE = 0, 1, 2, 3, 4

# Socket.IO packet types
CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = range(7)

MAIN_NAMESPACE = "/"
_ID_MAX_DIGITS = 100  # as python-socketio reads them
_ATTACHMENTS_MAX_DIGITS = 10


class MalformedPacket(ValueError):
    """Not a packet of this protocol."""


class SocketIOPacket(NamedTuple):
    packet_type: int
    namespace: str
    id: int | None
    data: Any  # None when the packet carries none
    attachments: int  # announced binary attachments (`<n>-`)


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def encode_engineio(packet_type: int, data: str | dict | list | None = None) -> str:
    if data is None:
        return str(packet_type)
    return f"{packet_type}{data if isinstance(data, str) else _json(data)}"


def encode_socketio(
    packet_type: int, data: Any = None, ack_id: int | None = None, namespace: str = MAIN_NAMESPACE
) -> str:
    """A Socket.IO packet as an Engine.IO MESSAGE's text."""
    parts = [str(MESSAGE), str(packet_type)]
    if namespace != MAIN_NAMESPACE:
        parts.append(namespace + ",")
    if ack_id is not None:
        parts.append(str(ack_id))
    if data is not None:
        parts.append(_json(data))
    return "".join(parts)


def _digit(char: str) -> bool:
    return "0" <= char <= "9"  # not str.isdigit: it also takes "²" and other digits int() refuses


def decode_engineio(text: str) -> tuple[int, str]:
    """(packet type, data as sent)."""
    if not text or not _digit(text[0]):
        raise MalformedPacket("not an Engine.IO packet")
    return int(text[0]), text[1:]


def decode_socketio(text: str) -> SocketIOPacket:
    """A Socket.IO packet from an Engine.IO MESSAGE's data. Raises MalformedPacket (JSON nested too deep
    included)."""
    if not text or not _digit(text[0]):
        raise MalformedPacket("not a Socket.IO packet")
    packet_type, rest = int(text[0]), text[1:]
    attachments = 0
    dash = rest.find("-")
    if 0 < dash and rest[:dash].isascii() and rest[:dash].isdigit():
        if dash > _ATTACHMENTS_MAX_DIGITS:
            raise MalformedPacket("not a Socket.IO packet")
        attachments, rest = int(rest[:dash]), rest[dash + 1 :]
    namespace = MAIN_NAMESPACE
    if rest.startswith("/"):
        name, comma, after = rest.partition(",")
        namespace, rest = name.partition("?")[0], after if comma else ""
    digits = 0
    while digits < len(rest) and _digit(rest[digits]):
        digits += 1
    if digits > _ID_MAX_DIGITS:
        raise MalformedPacket("not a Socket.IO packet")
    ack_id = int(rest[:digits]) if digits else None
    try:
        data = json.loads(rest[digits:]) if rest[digits:] else None
    except (ValueError, RecursionError):
        raise MalformedPacket("not a Socket.IO packet") from None
    return SocketIOPacket(packet_type, namespace, ack_id, data, attachments)
