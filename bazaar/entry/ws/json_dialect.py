"""The /ws dialect: every frame one JSON object (SPEC §9).

Client → server `{"event", "data", "ref"}`; server → client `{"event", "data"}`. A frame that carried a
`ref` gets exactly one `ack` or `error` with that ref; a malformed frame, an unknown event or invalid data
gets an `error` and the connection stays open.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bazaar.domain.errors import Invalid
from bazaar.entry.errors import error_frame
from bazaar.entry.ws import wire
from bazaar.live.events import encode

if TYPE_CHECKING:
    from bazaar.entry.ws.connection import Connection

_MAX_REF_CHARS = 128


def _send(conn: Connection, frame: dict) -> None:
    conn.send(wire.text_frame(json.dumps(frame, separators=(",", ":"), ensure_ascii=False)))


class JsonDialect:
    """Stateless: one instance serves every /ws connection of the worker."""

    engineio_heartbeat = False
    room_encoding = "ws"

    def opened(self, conn: Connection) -> None:
        pass

    def event_frame(self, name: str, data: Any) -> bytes:
        return wire.text_frame(encode(name, data))

    def ping(self, conn: Connection) -> None:
        conn.send(wire.PING_FRAME)

    def received(self, conn: Connection, message: wire.Message) -> None:
        if message.opcode == wire.OP_BINARY:
            return _send(conn, error_frame(Invalid("Frames must be text (JSON)", code="invalid_frame")))
        try:
            frame = json.loads(message.payload)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            return _send(conn, error_frame(Invalid("Malformed frame: not JSON", code="invalid_json")))
        if not isinstance(frame, dict):
            return _send(
                conn,
                error_frame(
                    Invalid('A frame must be a JSON object {"event", "data", "ref"}', code="invalid_frame")
                ),
            )
        ref = frame.get("ref")
        if ref is not None and (
            isinstance(ref, bool) or not isinstance(ref, (str, int)) or len(str(ref)) > _MAX_REF_CHARS
        ):
            return _send(
                conn,
                error_frame(
                    Invalid(
                        f"ref must be a string or an integer of at most {_MAX_REF_CHARS} characters",
                        code="invalid_frame",
                    )
                ),
            )
        event = frame.get("event")
        try:
            if not isinstance(event, str):
                raise Invalid("A frame needs an event name", code="unknown_event")
            reply = conn.dispatch(event, frame.get("data"))
        except Exception as exc:  # domain errors become error frames; others are logged by error_frame
            return _send(conn, error_frame(exc, ref))
        if ref is not None:
            _send(conn, {"event": "ack", "ref": ref, "data": reply.data})
        elif reply.always:
            _send(conn, {"event": "ack", "data": reply.data})
        if reply.then is not None:
            reply.then()
