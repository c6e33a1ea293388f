"""A hub member that records the events a room receives, for tests of broadcasts."""

from __future__ import annotations

import json
import threading
import time


def _text(frame) -> str:
    """Frames may arrive as text, as an object carrying `.text`, or as a prebuilt WebSocket text frame."""
    if isinstance(frame, str):
        return frame
    if hasattr(frame, "text"):
        return frame.text
    data = bytes(frame)
    length = data[1] & 0x7F
    offset = 2 + {126: 2, 127: 8}.get(length, 0)
    return data[offset:].decode()


class RoomEvents:
    def __init__(self, room: str):
        self.room = room
        self.events: list[dict] = []
        self._changed = threading.Condition()

    # hub Member protocol
    def enqueue(self, frame) -> bool:
        with self._changed:
            self.events.append(json.loads(_text(frame)))
            self._changed.notify_all()
        return True

    def overflow(self) -> None:
        raise AssertionError("the test recorder never overflows")

    def named(self, name: str) -> list[dict]:
        return [e["data"] for e in self.events if e["event"] == name]

    def wait_for(self, name: str, timeout: float = 3.0) -> dict:
        """The first `name` event's data, waiting for it (delivery through Redis is asynchronous)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self.named(name):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {name!r} event in room {self.room}; got {self.events}")
                self._changed.wait(remaining)
            return self.named(name)[0]

    def assert_none(self, name: str, settle_s: float = 0.3) -> None:
        time.sleep(settle_s)
        assert not self.named(name), f"unexpected {name!r} events: {self.named(name)}"
