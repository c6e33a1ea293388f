"""The WebSocket wire format (RFC 6455) where gevent-websocket 0.10.1 falls short.

gevent-websocket reads a whole message into memory whatever its size, and its
`close(code)` sends no status code. Here a message's size is checked against the
limit from each frame's header before its payload is read, close frames carry
their 2-byte code, and a broadcast is turned into one complete text frame
(header + payload) that every member's socket receives as the same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import NamedTuple

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

# Close codes this service sends.
NORMAL = 1000
GOING_AWAY = 1001  # server shutting down
PROTOCOL_ERROR = 1002
INVALID_DATA = 1007  # a text frame or a close reason that is not UTF-8
TOO_BIG = 1009  # a message over the size limit
TRY_AGAIN_LATER = 1013  # the client could not keep up with its room (send queue overflow)
UNAUTHORIZED = 4401  # ?token= present but invalid
FORBIDDEN_ORIGIN = 4403  # Origin is not an allowed CORS origin
NOT_FOUND = 4404  # a WebSocket upgrade anywhere but /ws
IDLE = 4408  # silent for longer than the idle timeout

_MAX_CONTROL_PAYLOAD = 125


def frame(opcode: int, payload: bytes) -> bytes:
    """One complete, unmasked (server → client), final frame."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload


def text_frame(text: str) -> bytes:
    """A text frame of JSON text. A lone surrogate (a client's `"\\ud800"` echoed back, e.g. in a `ref`) has
    no UTF-8 form: it goes out as the JSON escape the client sent."""
    return frame(OP_TEXT, text.encode("utf-8", "backslashreplace"))


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame whose payload starts with the 2-byte big-endian status code."""
    reason_bytes = reason.encode("utf-8")[: _MAX_CONTROL_PAYLOAD - 2]
    return frame(OP_CLOSE, struct.pack("!H", code) + reason_bytes)


PING_FRAME = frame(OP_PING, b"")


class ProtocolViolation(Exception):
    """The peer broke the protocol; the connection is closed with `code`."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class PeerGone(Exception):
    """The socket reached end of file or failed: nothing more can be read."""


class Message(NamedTuple):
    opcode: int  # OP_TEXT, OP_BINARY, OP_PING, OP_PONG or OP_CLOSE
    payload: bytes  # for OP_TEXT the UTF-8 bytes, validated
    close_code: int | None = None


def _unmask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    length = len(payload)
    key = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")


class MessageReader:
    """Reads whole client messages from `read(n)` (a buffered socket file), at most `max_bytes` each.

    Fragmented messages are reassembled; control frames between fragments (RFC 6455 §5.4) are returned
    as they come, and the message goes on with the next call. A message whose frames announce more than
    `max_bytes` in total raises ProtocolViolation(1009) as soon as the header that crosses the limit is
    read, so an oversized payload is never read into memory.
    """

    __slots__ = ("_read", "max_bytes", "_opcode", "_parts", "_size")

    def __init__(self, read: Callable[[int], bytes], max_bytes: int):
        self._read = read
        self.max_bytes = max_bytes
        # the message being reassembled: its opcode (None between messages), fragments and size so far
        self._opcode: int | None = None
        self._parts: list[bytes] = []
        self._size = 0

    def _exactly(self, count: int) -> bytes:
        try:
            data = self._read(count)
        except OSError as exc:
            raise PeerGone(str(exc)) from None
        if len(data) != count:
            raise PeerGone("end of stream")
        return data

    def next_message(self) -> Message:
        while True:
            first, second = self._exactly(2)
            fin, rsv, op = first & 0x80, first & 0x70, first & 0x0F
            masked, length = second & 0x80, second & 0x7F
            if rsv:
                raise ProtocolViolation(PROTOCOL_ERROR, "reserved bits set")
            if not masked:
                raise ProtocolViolation(PROTOCOL_ERROR, "client frames must be masked")
            if length == 126:
                length = struct.unpack("!H", self._exactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._exactly(8))[0]
            if op >= OP_CLOSE:
                if op not in (OP_CLOSE, OP_PING, OP_PONG):
                    raise ProtocolViolation(PROTOCOL_ERROR, f"unknown opcode {op}")
                if not fin or length > _MAX_CONTROL_PAYLOAD:
                    raise ProtocolViolation(PROTOCOL_ERROR, "invalid control frame")
                mask = self._exactly(4)
                return self._control(op, _unmask(self._exactly(length), mask) if length else b"")
            if op == OP_CONTINUATION:
                if self._opcode is None:
                    raise ProtocolViolation(PROTOCOL_ERROR, "continuation without a message")
            elif op in (OP_TEXT, OP_BINARY):
                if self._opcode is not None:
                    raise ProtocolViolation(PROTOCOL_ERROR, "new message inside a fragmented one")
                self._opcode = op
            else:
                raise ProtocolViolation(PROTOCOL_ERROR, f"unknown opcode {op}")
            self._size += length
            if self._size > self.max_bytes:
                raise ProtocolViolation(TOO_BIG, f"message larger than {self.max_bytes} bytes")
            mask = self._exactly(4)
            self._parts.append(_unmask(self._exactly(length), mask) if length else b"")
            if fin:
                opcode, payload = self._opcode, b"".join(self._parts)
                self._opcode, self._parts, self._size = None, [], 0
                if opcode == OP_TEXT:
                    try:
                        payload.decode("utf-8")
                    except UnicodeDecodeError:
                        raise ProtocolViolation(INVALID_DATA, "text frame is not valid UTF-8") from None
                return Message(opcode, payload)

    @staticmethod
    def _control(op: int, payload: bytes) -> Message:
        if op != OP_CLOSE:
            return Message(op, payload)
        if not payload:
            return Message(OP_CLOSE, b"", NORMAL)
        if len(payload) < 2:
            raise ProtocolViolation(PROTOCOL_ERROR, "close frame with a 1-byte payload")
        try:
            payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation(INVALID_DATA, "close reason is not valid UTF-8") from None
        return Message(OP_CLOSE, payload[2:], struct.unpack("!H", payload[:2])[0])
