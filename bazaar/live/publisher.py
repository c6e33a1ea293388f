"""Real-time delivery. Services broadcast through `Publisher.publish`; nothing else knows about sockets or
Redis."""

from __future__ import annotations

from bazaar.infra.db import database
from bazaar.live.events import encode


class Publisher:
    """The one publish function: encode once, hand to the broker after the surrounding transaction commits."""

    def __init__(self, broker):
        self.broker = broker

    def publish(self, room, event: tuple[str, dict]) -> None:
        name, data = event
        frame = encode(name, data)
        room = str(room)
        database.after_commit(lambda: self.broker.publish(room, frame))
