"""A broadcast as this worker's members receive it.

The broker hands each worker a room event once, as the text `bazaar.live.events.encode` made. The hub
wraps it in one `RoomFrame`, which every local member of the room takes: the /ws frame is built at
once (most members take it), the Socket.IO frame the first time a Socket.IO member asks for it, so a
broadcast is encoded at most once per dialect per worker, and not at all for Socket.IO when the room
has no Socket.IO member.
"""

from __future__ import annotations

import json

from bazaar.entry.ws import socketio_dialect, wire

_NEW_MESSAGE = '{"event":"new-message"'


class RoomFrame:
    __slots__ = ("text", "ws", "_socketio", "_event")

    def __init__(self, text: str):
        self.text = text
        self.ws = wire.text_frame(text)  # the /ws text frame: the event's JSON as it is
        self._socketio: bytes | None = None
        self._event: tuple[str, object] | None = None

    @property
    def socketio(self) -> bytes:
        if self._socketio is None:
            self._socketio = socketio_dialect.event_frame(*self.event)
        return self._socketio

    @property
    def event(self) -> tuple[str, object]:
        """(name, data), decoded once."""
        if self._event is None:
            frame = json.loads(self.text)
            self._event = frame["event"], frame.get("data")
        return self._event

    @property
    def message_id(self) -> str | None:
        """The chat message id of a `new-message` broadcast (a replaying join drops its live copy)."""
        if not self.text.startswith(_NEW_MESSAGE):
            return None
        data = self.event[1]
        return data.get("id") if isinstance(data, dict) else None
