"""This worker's rooms and their local members (real-time connections, in either wire dialect).

A frame arrives once per worker (from the broker) and is wrapped once by `encode` (the server's is
`bazaar.entry.ws.frames.RoomFrame`, which builds each dialect's complete WebSocket frame at most once),
and every local member of its room takes that same object. Writing is only an enqueue onto the
member's bounded send queue: a member whose queue is full is a slow client, and is dropped rather
than allowed to hold up the room. The hub keeps the broker subscribed to exactly the rooms that have
local members.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from bazaar.infra.broker import Broker


class Member(Protocol):
    def enqueue(self, frame: Any) -> bool:
        """Queue `frame` (as the hub's `encode` made it) without blocking; False when the send queue is
        full."""

    def overflow(self) -> None:
        """The member fell too far behind and was removed from the room: it closes itself (leaving
        its other rooms). May be called more than once, once per room that found its queue full."""


class Hub:
    def __init__(self, broker: Broker, encode: Callable[[str], Any] = lambda frame: frame):
        self._broker = broker
        self._encode = encode
        # The broker is unsubscribed under the lock, so that a room's last member leaving and a new
        # first member joining cannot reach the broker in the wrong order. Subscribing waits for the
        # broker (a Redis round trip), so it happens outside the lock: deliveries to other rooms take
        # the lock meanwhile — the broker's own listener among them.
        self._lock = threading.Lock()
        self._rooms: dict[str, dict[int, Member]] = {}  # keyed by id(): members need not be hashable
        self._subscribed: dict[str, threading.Event] = {}  # set once the room's subscription is active

    def join(self, room: str, member: Member) -> None:
        """Returns once the member is sure to receive every frame published to the room from now on."""
        with self._lock:
            members = self._rooms.get(room)
            first = members is None
            if first:
                members = self._rooms[room] = {}
                self._subscribed[room] = threading.Event()
            subscribed = self._subscribed[room]
            members[id(member)] = member
        if not first:
            subscribed.wait()
            return
        try:
            self._broker.subscribe(room)
        finally:
            subscribed.set()

    def leave(self, room: str, member: Member) -> None:
        with self._lock:
            members = self._rooms.get(room)
            if members is None or members.pop(id(member), None) is None:
                return
            if not members:
                del self._rooms[room]
                del self._subscribed[room]
                self._broker.unsubscribe(room)

    def members(self, room: str) -> list[Member]:
        with self._lock:
            return list(self._rooms.get(room, {}).values())

    def rooms(self) -> list[str]:
        with self._lock:
            return list(self._rooms)

    def deliver(self, room: str, frame: str) -> None:
        """Write `frame` to every local member of `room` (the broker's callback)."""
        members = self.members(room)
        if not members:
            return
        data = self._encode(frame)
        slow = [member for member in members if not member.enqueue(data)]
        for member in slow:
            self.leave(room, member)
            member.overflow()

    # A frame for this worker's members only (no other worker has them) is a delivery without the broker.
    send_local = deliver
