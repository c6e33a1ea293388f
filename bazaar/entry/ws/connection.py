"""One real-time connection, in either dialect: who it is, which rooms it is in, and its reader loop.

A `Connection` is the hub's member. It sits between its socket (`transport.SocketTransport`: frames in,
a bounded send queue out, close codes) and the room event handlers (`handlers.RoomEvents`, which call
the services REST uses). Its `dialect` is the wire format the client speaks: the /ws JSON frames
(`json_dialect`) or Socket.IO (`socketio_dialect`). Both share everything else: rooms, presence,
rate limits, fan-out, replay and slow-client handling.

A connection reads one client message at a time and hands it to the dialect; the database connection goes
back to the pool after every message. Between messages it has no greenlet: when everything received is
handled, its reader returns and the transport calls it again (in a new greenlet) once the socket is
readable — an idle connection costs its objects, not a greenlet's saved stacks.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import MutableSet
from typing import TYPE_CHECKING, Any, Protocol

import gevent

from bazaar.domain.errors import Invalid
from bazaar.domain.models import User
from bazaar.entry.ws import wire
from bazaar.entry.ws.handlers import Reply, RoomEvents
from bazaar.entry.ws.transport import NOTHING_BUFFERED, SocketTransport
from bazaar.infra import db
from bazaar.live.events import new_message
from bazaar.services.presence import Presence

if TYPE_CHECKING:
    from bazaar.entry.ws.frames import RoomFrame

log = logging.getLogger("bazaar.ws")


class Dialect(Protocol):
    """One wire format: how client messages are read and how events, replies and errors are written."""

    engineio_heartbeat: bool  # pinged by the Engine.IO heartbeat (else by WebSocket pings)
    room_encoding: str  # the `RoomFrame` attribute holding a broadcast in this dialect's bytes

    def opened(self, conn: Connection) -> None:
        """The socket is upgraded: say hello, if this dialect does."""

    def received(self, conn: Connection, message: wire.Message) -> None:
        """Handle one client data message (text or binary)."""

    def event_frame(self, name: str, data: Any) -> bytes:
        """An event of this connection's own (a pong, a replayed message, an error)."""

    def ping(self, conn: Connection) -> None: ...


class Connection:
    """A hub member (`enqueue` / `overflow`) and the reader of one socket."""

    # thousands per worker: no per-instance __dict__
    __slots__ = ("id", "user", "rooms", "transport", "dialect", "_events", "_registry", "_held", "_replayed")

    def __init__(
        self,
        transport: SocketTransport,
        dialect: Dialect,
        user: User | None,
        events: RoomEvents,
        registry: MutableSet[Connection] | None = None,
    ):
        """`registry`: the worker's open connections, which this one is in until it has left its rooms."""
        self.id = uuid.uuid4().hex
        self.user = user
        self.rooms: dict[str, Presence] = {}
        self.transport = transport
        self.dialect = dialect
        self._events = events
        self._registry = registry
        self._held: list[RoomFrame] | None = None  # room frames held back while a join replays missed chat
        # ids of replayed messages, whose live copies are dropped (None until a join replays: most never do)
        self._replayed: set[str] | None = None

    @property
    def last_seen(self) -> float:
        return self.transport.last_seen

    # --- the hub's side ---------------------------------------------------------------------------
    def enqueue(self, frame: RoomFrame) -> bool:
        """Queue a room frame; False when the send queue is full (the hub then calls `overflow`)."""
        if self._replayed and frame.message_id in self._replayed:
            return True
        if self._held is not None:
            if len(self._held) >= self.transport.free_slots():
                return False
            self._held.append(frame)
            return True
        # getattr rather than a method of the dialect: this runs once per member per broadcast
        return self.transport.push(getattr(frame, self.dialect.room_encoding))

    def overflow(self) -> None:
        """The send queue is full: what is queued is dropped and the client gets a 1013 close."""
        if self.transport.closing:
            return
        log.info("ws %s closed with 1013: its send queue overflowed (client too slow)", self.id)
        self._held = None
        self.transport.close(wire.TRY_AGAIN_LATER, "client too slow", discard_queued=True)

    # --- writing ----------------------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        """Queue a frame of this connection's own (a reply, a pong, a ping)."""
        if not self.transport.push(frame):
            self.overflow()

    def send_event(self, name: str, data: Any) -> None:
        self.send(self.dialect.event_frame(name, data))

    def ping(self) -> None:
        self.dialect.ping(self)

    def close(self, code: int, reason: str = "") -> None:
        self._held = None
        self.transport.close(code, reason)

    def abort(self) -> None:
        self._held = None
        self.transport.abort()

    # --- replay -----------------------------------------------------------------------------------
    def hold(self, since_message_id) -> None:
        """Keep room frames back until `resume` (a join is reading the chat it will replay first).
        The client has the message it replays from: a live copy of it still in flight is dropped too."""
        self._held = []
        if self._replayed is None:
            self._replayed = set()
        self._replayed.add(str(since_message_id))

    def resume(self, missed: list[dict]) -> None:
        """Send the missed messages, then the room frames held meanwhile, minus those already replayed."""
        held, self._held = self._held or [], None
        if self._replayed is None:
            self._replayed = set()
        for message in missed:
            self._replayed.add(message["id"])
            if not self.transport.push(self.dialect.event_frame(*new_message(message))):
                return self.overflow()
        for frame in held:
            if frame.message_id in self._replayed:
                continue
            if not self.transport.push(getattr(frame, self.dialect.room_encoding)):
                return self.overflow()

    # --- reading ----------------------------------------------------------------------------------
    def dispatch(self, event: str, data: Any) -> Reply:
        """Run the handler of `event`; raises a domain error for an unknown event or a refused one."""
        handler = self._events.handlers.get(event)
        if handler is None:
            raise Invalid(f"Unknown event {event[:64]!r}", code="unknown_event")  # not a 60 KB echo
        return handler(self, data)

    def start(self) -> None:
        """Open the connection and handle what the client has sent so far (in the caller's greenlet); it then
        reads on by itself whenever the client sends something, until the socket closes."""
        if self._registry is not None:
            self._registry.add(self)
        try:
            self.dialect.opened(self)
        except Exception:
            log.exception("ws %s failed", self.id)
            self._finish()
            return
        if self.transport.has_input():
            self._read()
        else:  # nothing sent yet: the request's greenlet ends here, not at the client's first message
            self.transport.when_readable(self._readable)

    def _read(self) -> None:
        """Handle messages while any are received; then wait for the socket without a greenlet, or, once it
        is closed, leave every room."""
        try:
            while (message := self.transport.next_message()) is not None:
                if message is not NOTHING_BUFFERED:
                    try:
                        self.dialect.received(self, message)
                    finally:
                        db.release()
                if not self.transport.has_input():
                    self.transport.when_readable(self._readable)
                    return
        except Exception:
            log.exception("ws %s failed", self.id)
        self._finish()

    def _readable(self) -> None:
        gevent.spawn(self._read)

    def _finish(self) -> None:
        self._held = None
        for room in self.rooms:
            self._events.hub.leave(room, self)
        self.transport.finish()
        with self._events.departures:
            for room in list(self.rooms):
                try:
                    self._events.leave(self, room)
                except Exception:
                    log.exception("ws %s: leaving room %s failed", self.id, room)
            db.release()
        if self._registry is not None:
            self._registry.discard(self)
