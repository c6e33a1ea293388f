"""This worker's rooms and their local members (real-time connections, in either wire dialect).

A frame arrives once per worker (from the broker) and is wrapped once by `encode` (the server's is
`bazaar.entry.ws.frames.RoomFrame`, which builds each dialect's complete WebSocket frame at most once),
and every local member of its room takes that same object. Writing is only an enqueue onto the
member's bounded send queue: a member whose queue is full is a slow client, and is dropped rather
than allowed to hold up the room. The hub keeps the broker subscribed to exactly the rooms that have
local members.

Pub/sub is at-most-once: what is published while the broker's subscriptions are down (Redis stopped or
restarted) never arrives. The chat is in the database, so with a `ChatLog` the hub remembers the last
chat messages it delivered in each room, and when the broker says it is subscribed again
(`resubscribed`) it delivers the room's messages after the last one from the database, oldest first,
before anything that arrives live from then on. A chat message is delivered once per room however
it came (live, replayed, or both).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from bazaar.infra.broker import Broker
from bazaar.live.events import is_owner_room

log = logging.getLogger(__name__)


class Member(Protocol):
    def enqueue(self, frame: Any) -> bool:
        """Queue `frame` (as the hub's `encode` made it) without blocking; False when the send queue is
        full."""

    def overflow(self) -> None:
        """The member fell too far behind and was removed from the room: it closes itself (leaving
        its other rooms). May be called more than once, once per room that found its queue full."""


class ChatLog(Protocol):
    """The chat as the database holds it, as broadcast texts (the composition root wires the chat service
    in: delivery imports no service)."""

    limit: int  # most messages one `after` returns (CHAT_REPLAY_LIMIT)

    def newest(self, room: str) -> str | None:
        """The id of the room's newest chat message; None when it has none."""

    def after(self, room: str, message_id: str | None) -> list[str]:
        """`new-message` broadcasts of the room's messages after `message_id` (all of them when None),
        oldest first, at most the replay limit of them."""


class _Delivered:
    """The ids of the chat messages last delivered in a room, newest last: the anchor of a replay, and
    what a replay or a late live copy must not deliver again."""

    __slots__ = ("ids", "order")

    def __init__(self, keep: int):
        self.order: deque[str] = deque(maxlen=keep)
        self.ids: set[str] = set()

    def add(self, message_id: str) -> bool:
        """False when it was delivered already."""
        if message_id in self.ids:
            return False
        if len(self.order) == self.order.maxlen:
            self.ids.discard(self.order[0])
        self.order.append(message_id)
        self.ids.add(message_id)
        return True

    @property
    def last(self) -> str | None:
        return self.order[-1] if self.order else None


class Hub:
    def __init__(
        self,
        broker: Broker,
        encode: Callable[[str], Any] = lambda frame: frame,
        *,
        chat: ChatLog | None = None,
    ):
        """With `chat`, `encode` makes frames that name their chat message (`message_id`, as RoomFrame
        does), and each room remembers as many of its last chat message ids as a replay brings (so a
        replay and the live copies of what it replayed are told apart)."""
        self._broker = broker
        self._encode = encode
        self._chat = chat
        self._delivered: dict[str, _Delivered] = {}  # show rooms with local members, when `chat`
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
        if self._chat is not None and not is_owner_room(room):
            self._anchor(room)

    def _anchor(self, room: str) -> None:
        """The room's newest chat message stands for what its members have when it gains its first local
        member (subscribed already: anything newer arrives live, or is replayed after an outage)."""
        try:
            newest = self._chat.newest(room)
        except Exception as exc:  # the room works without: the next live message becomes the anchor
            log.warning("room %s: reading its newest chat message failed: %r", room, exc)
            return
        with self._lock:
            if room in self._rooms and room not in self._delivered:  # a live message may have come first
                delivered = self._delivered[room] = _Delivered(self._chat.limit)
                if newest is not None:
                    delivered.add(newest)

    def leave(self, room: str, member: Member) -> None:
        with self._lock:
            members = self._rooms.get(room)
            if members is None or members.pop(id(member), None) is None:
                return
            if not members:
                del self._rooms[room]
                del self._subscribed[room]
                self._delivered.pop(room, None)
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
        if (
            self._chat is not None
            and data.message_id is not None
            and not self._first_time(room, data.message_id)
        ):
            return
        slow = [member for member in members if not member.enqueue(data)]
        for member in slow:
            self.leave(room, member)
            member.overflow()

    def _first_time(self, room: str, message_id: str) -> bool:
        """Notes a chat message delivered in `room`; False when it was already."""
        with self._lock:
            if room not in self._rooms:
                return True
            delivered = self._delivered.get(room)
            if delivered is None:
                delivered = self._delivered[room] = _Delivered(self._chat.limit)
            return delivered.add(message_id)

    def resubscribed(self) -> None:
        """The broker's subscriptions are back after they were lost (the broker calls this before it
        delivers anything more): each room's local members get the chat published meanwhile."""
        if self._chat is None:
            return
        with self._lock:
            anchors = {room: delivered.last for room, delivered in self._delivered.items()}
        for room, last in anchors.items():
            try:
                missed = self._chat.after(room, last)
            except Exception as exc:
                log.warning("room %s: replaying the chat missed during a broker outage failed: %r", room, exc)
                continue
            for frame in missed:
                self.deliver(room, frame)

    # A frame for this worker's members only (no other worker has them) is a delivery without the broker.
    send_local = deliver
