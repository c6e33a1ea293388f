"""One WebSocket connection: who it is, which rooms it is in, its reader loop and its send queue.

Reading: the request's own greenlet reads one client message at a time
(size-limited by `wire.MessageReader`), validates the frame, and hands it to the
handler of its event (`RoomEvents`), which calls the same services as REST. A
frame that carried a `ref` gets exactly one `ack` or `error`; a malformed frame,
an unknown event or invalid data gets an `error` and the connection stays open.
The database connection goes back to the pool after every frame.

Writing: room frames arrive prebuilt (one `wire.text_frame` per broadcast per
worker) and are queued. At the end of the event-loop turn, each connection with
queued frames writes them with one non-blocking send; only a socket that cannot
take everything gets a writer greenlet, which blocks on it and coalesces whatever
queues meanwhile into its next write. A connection with more than
`ws_send_queue_size` frames waiting is a client that cannot keep up: it is dropped
instead of slowing its room.
"""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import gevent

from bazaar.domain.errors import Forbidden, Invalid, Unauthorized
from bazaar.domain.models import User
from bazaar.domain.validation import Choice, Field, Id, parse
from bazaar.domain.views import product_view
from bazaar.entry.errors import error_frame
from bazaar.entry.ws import wire
from bazaar.infra import db
from bazaar.live.events import REACTION_TYPES, encode, new_message, pong
from bazaar.live.hub import Hub
from bazaar.live.state import LiveState
from bazaar.services.chat import ChatService
from bazaar.services.engagement import EngagementService
from bazaar.services.presence import Presence, PresenceService, is_publisher
from bazaar.services.sessions import SessionService
from config import Settings

log = logging.getLogger("bazaar.ws")

_MAX_REF_CHARS = 128
# A live `new-message` frame starts like this (bazaar.live.events.encode); its message id is the
# first `"id":"` after it (inside a JSON string every quote is escaped, so message text cannot fake one).
_NEW_MESSAGE = b'{"event":"new-message"'
_ID = b'"id":"'
_UUID_CHARS = 36
_MAX_HEADER = 10  # bytes before the payload in a server frame


def _dumps(frame: dict) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def discard_input(read1: Callable[[int], bytes]) -> None:
    """Read and drop whatever the peer still sends, until it closes (or our close timer shuts the socket)."""
    try:
        while read1(65536):
            pass
    except OSError:
        pass


class FlushScheduler:
    """Writes the queued frames of every connection that has some, one send each (one per worker).

    A flush runs at the end of the event-loop turn, so the frames queued for a connection during one
    turn leave together. When flushing keeps the worker busy (a big room, many messages), the next
    flush waits `_GAP_FACTOR` times as long as the last one took: the broadcasts arriving meanwhile
    leave in the same writes, which halves the system calls of both sides when it matters, and adds
    no delay at all when the worker is idle.
    """

    _GAP_FACTOR = 1.0

    def __init__(self):
        self._due: list[Connection] = []
        self._scheduled = False
        self._not_before = 0.0

    def schedule(self, connection: Connection) -> None:
        self._due.append(connection)
        if self._scheduled:
            return
        self._scheduled = True
        wait_s = self._not_before - time.monotonic()
        if wait_s > 0:
            gevent.spawn_later(wait_s, self._flush)
        else:
            gevent.get_hub().loop.run_callback(self._flush)

    def _flush(self) -> None:
        started = time.monotonic()
        due, self._due = self._due, []
        self._scheduled = False
        for connection in due:
            connection.flush()
        finished = time.monotonic()
        self._not_before = finished + (finished - started) * self._GAP_FACTOR


class Connection:
    """A hub member (`enqueue` / `overflow`) and the reader of one socket."""

    def __init__(
        self, ws, user: User | None, events: RoomEvents, scheduler: FlushScheduler, settings: Settings
    ):
        self.id = uuid.uuid4().hex
        self.user = user
        self.rooms: dict[str, Presence] = {}
        self.last_seen = time.monotonic()
        self._events = events
        self._scheduler = scheduler
        self._settings = settings
        self._queue_size = settings.ws_send_queue_size
        self._sock = ws.handler.socket
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # frames are coalesced here already
        self._rfile = ws.handler.rfile
        self._queue: list[bytes] = []
        self._held: list[bytes] | None = None  # room frames held back while a join replays missed chat
        self._replayed: set[bytes] = set()  # ids of replayed messages, whose live frames are dropped
        self._writer: gevent.Greenlet | None = None
        self._closing = False  # our close frame is queued: nothing else goes out
        self._aborted = False
        self._close_timer: gevent.Greenlet | None = None

    # --- the hub's side ---------------------------------------------------------------------------
    def enqueue(self, frame: bytes) -> bool:
        """Queue a room frame; False when the send queue is full (the hub then calls `overflow`)."""
        if self._closing or (self._replayed and self._is_replayed(frame)):
            return True
        if self._held is not None:
            if len(self._held) + len(self._queue) >= self._queue_size:
                return False
            self._held.append(frame)
            return True
        return self._push(frame)

    def overflow(self) -> None:
        if not self._aborted:
            log.info("ws %s dropped: its send queue overflowed (client too slow)", self.id)
        self.abort()

    # --- writing ----------------------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        """Queue a frame of this connection's own (a reply, a pong, a ping)."""
        if not self._closing and not self._push(frame):
            self.overflow()

    def send_event(self, frame: dict) -> None:
        self.send(wire.text_frame(_dumps(frame)))

    def ping(self) -> None:
        self.send(wire.PING_FRAME)

    def _push(self, frame: bytes) -> bool:
        if len(self._queue) >= self._queue_size:
            return False
        self._queue.append(frame)
        if len(self._queue) == 1 and self._writer is None:
            self._scheduler.schedule(self)
        return True

    def flush(self) -> None:
        """Write what is queued without blocking; a writer greenlet takes over what the socket refused."""
        if not self._queue or self._writer is not None or self._aborted:
            return
        data = self._queue[0] if len(self._queue) == 1 else b"".join(self._queue)
        self._queue.clear()
        try:
            sent = self._sock.send(data, 0, 0.0)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.abort()
            return
        if sent < len(data):
            self._writer = gevent.spawn(self._write, memoryview(data)[sent:])
        elif self._closing:
            self._shutdown(socket.SHUT_WR)  # the close frame is out: no more writes from us

    def _write(self, data) -> None:
        try:
            while True:
                self._sock.sendall(data)
                if not self._queue:
                    break
                data = b"".join(self._queue)
                self._queue.clear()
        except OSError:
            self._writer = None
            self.abort()
            return
        self._writer = None
        if self._closing:
            self._shutdown(socket.SHUT_WR)

    # --- closing ----------------------------------------------------------------------------------
    def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake: our close frame goes out after what is queued; the reader then
        waits for the peer's close frame, at most `ws_close_timeout_s`."""
        if self._closing:
            return
        self._closing = True
        self._held = None
        self._queue.append(wire.close_frame(code, reason))
        if self._writer is None:
            self._scheduler.schedule(self)
        self._close_timer = gevent.spawn_later(self._settings.ws_close_timeout_s, self.abort)

    def abort(self) -> None:
        """Drop the connection now: the reader sees end of file and cleans up."""
        if self._aborted:
            return
        self._aborted = self._closing = True
        self._queue.clear()
        self._held = None
        self._shutdown(socket.SHUT_RDWR)

    def _shutdown(self, how: int) -> None:
        try:
            self._sock.shutdown(how)
        except OSError:
            pass

    # --- replay -----------------------------------------------------------------------------------
    def hold(self, since_message_id) -> None:
        """Keep room frames back until `resume` (a join is reading the chat it will replay first).
        The client has the message it replays from: a live copy of it still in flight is dropped too."""
        self._held = []
        self._replayed.add(str(since_message_id).encode())

    def resume(self, missed: list[dict]) -> None:
        """Send the missed messages, then the room frames held meanwhile, minus those already replayed."""
        held, self._held = self._held or [], None
        for message in missed:
            self._replayed.add(message["id"].encode())
            if not self._push(wire.text_frame(encode(*new_message(message)))):
                return self.overflow()
        for frame in held:
            if not (self._replayed and self._is_replayed(frame)) and not self._push(frame):
                return self.overflow()

    def _is_replayed(self, frame: bytes) -> bool:
        start = frame.find(_NEW_MESSAGE, 0, _MAX_HEADER + len(_NEW_MESSAGE))
        if start < 0:
            return False
        at = frame.find(_ID, start)
        return at >= 0 and frame[at + len(_ID) : at + len(_ID) + _UUID_CHARS] in self._replayed

    # --- reading ----------------------------------------------------------------------------------
    def run(self) -> None:
        """Read and handle frames until the socket closes; then leave every room."""
        try:
            self._read_loop()
        except Exception:
            log.exception("ws %s failed", self.id)
        finally:
            self._finish()

    def _read_loop(self) -> None:
        reader = wire.MessageReader(self._rfile.read, self._settings.ws_max_frame_bytes)
        while True:
            try:
                message = reader.next_message()
            except wire.PeerGone:
                return
            except wire.ProtocolViolation as violation:
                self.close(violation.code, violation.reason)
                discard_input(self._rfile.read1)  # the stream cannot be parsed any further
                return
            self.last_seen = time.monotonic()
            if message.opcode == wire.OP_CLOSE:
                self.close(
                    message.close_code if _valid_close_code(message.close_code) else wire.PROTOCOL_ERROR
                )
                return
            if message.opcode == wire.OP_PING:
                self.send(wire.frame(wire.OP_PONG, message.payload))
            elif self._closing or message.opcode == wire.OP_PONG:
                continue
            elif message.opcode == wire.OP_BINARY:
                self.send_event(error_frame(Invalid("Frames must be text (JSON)", code="invalid_frame")))
            else:
                try:
                    self._handle(message.payload)
                finally:
                    db.release()

    def _handle(self, payload: bytes) -> None:
        try:
            frame = json.loads(payload)
        except ValueError:
            return self.send_event(error_frame(Invalid("Malformed frame: not JSON", code="invalid_json")))
        if not isinstance(frame, dict):
            return self.send_event(
                error_frame(
                    Invalid('A frame must be a JSON object {"event", "data", "ref"}', code="invalid_frame")
                )
            )
        ref = frame.get("ref")
        if ref is not None and (
            isinstance(ref, bool) or not isinstance(ref, (str, int)) or len(str(ref)) > _MAX_REF_CHARS
        ):
            return self.send_event(
                error_frame(
                    Invalid(
                        f"ref must be a string or an integer of at most {_MAX_REF_CHARS} characters",
                        code="invalid_frame",
                    )
                )
            )
        event = frame.get("event")
        handler = self._events.handlers.get(event) if isinstance(event, str) else None
        if handler is None:
            return self.send_event(
                error_frame(
                    Invalid(
                        f"Unknown event {event!r}"
                        if isinstance(event, str)
                        else "A frame needs an event name",
                        code="unknown_event",
                    ),
                    ref,
                )
            )
        try:
            reply = handler(self, frame.get("data"))
        except Exception as exc:  # domain errors become error frames; others are logged by error_frame
            return self.send_event(error_frame(exc, ref))
        if ref is not None or reply.always:
            self.send_event(
                {"event": "ack", "ref": ref, "data": reply.data}
                if ref is not None
                else {"event": "ack", "data": reply.data}
            )
        if reply.then is not None:
            reply.then()

    def _finish(self) -> None:
        self._closing = True
        self._held = None
        for room in self.rooms:
            self._events.hub.leave(room, self)
        self._flush_before_exit()
        for room in list(self.rooms):
            try:
                self._events.leave(self, room)
            except Exception:
                log.exception("ws %s: leaving room %s failed", self.id, room)
        db.release()
        if self._close_timer is not None:
            self._close_timer.kill(block=False)

    def _flush_before_exit(self) -> None:
        """Let the last frames (our close reply) out before the server closes the socket."""
        if self._aborted:
            return
        with gevent.Timeout(self._settings.ws_close_timeout_s, False):
            try:
                if self._writer is not None:
                    self._writer.join()
                if self._queue:
                    self._sock.sendall(b"".join(self._queue))
                    self._queue.clear()
            except OSError:
                pass


def _valid_close_code(code: int | None) -> bool:
    return code is not None and (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999)


# ---------------------------------------------------------------------------------------------------
# Client → server events


class Reply(NamedTuple):
    data: dict
    always: bool = False  # reply even without a ref (join-session answers with the state)
    then: Callable[[], None] | None = None  # runs once the reply is queued


def _room_data(data: Any) -> Any:
    """`{sessionId}` or a bare session id string."""
    return {"sessionId": data} if isinstance(data, str) else data


def _parse(data: Any, schema: dict[str, Field]) -> dict:
    # Unknown fields are ignored: clients send userId / userName, which never count (identity is the token's).
    return parse(data if data is not None else {}, schema, unknown="ignore", what="data")


_SESSION_ID = {"sessionId": Id(attr="session_id", required=True)}
_JOIN = {**_SESSION_ID, "sinceMessageId": Id(attr="since_message_id")}
_REACTION = {**_SESSION_ID, "type": Choice(REACTION_TYPES, required=True)}
_CLICK = {**_SESSION_ID, "productId": Id(attr="product_id", required=True)}
_SHOWCASE = {**_SESSION_ID, "productId": Id(attr="product_id", required=True, nullable=True)}


class RoomEvents:
    """What each client → server event does. Each handler validates its data and calls the services
    REST uses; it returns the reply's data or raises a domain error."""

    def __init__(
        self,
        settings: Settings,
        hub: Hub,
        live_state: LiveState,
        sessions: SessionService,
        chat: ChatService,
        presence: PresenceService,
        engagement: EngagementService,
    ):
        self.settings = settings
        self.hub = hub
        self.live_state = live_state
        self.sessions = sessions
        self.chat = chat
        self.presence = presence
        self.engagement = engagement
        self.handlers: dict[str, Callable[[Connection, Any], Reply]] = {
            "join-session": self.join_session,
            "leave-session": self.leave_session,
            "send-message": self.send_message,
            "send-reaction": self.send_reaction,
            "product-click": self.product_click,
            "track-product-click": self.product_click,
            "showcase-product": self.showcase_product,
            "ping": self.ping,
        }

    def join_session(self, conn: Connection, data) -> Reply:
        fields = _parse(_room_data(data), _JOIN)
        session, reactions = self.sessions.reaction_counts(fields["session_id"])
        sid = str(session.id)
        since = fields.get("since_message_id")
        if sid in conn.rooms:  # joining again changes nothing
            return Reply(
                self._state(session, conn, reactions, self.live_state.viewer_count(sid)), always=True
            )
        if since is not None:
            conn.hold(since)
        # In the room before the replay is read: a message stored meanwhile is either in the replay
        # or arrives live (the live copy of a replayed one is dropped).
        self.hub.join(sid, conn)
        try:
            missed = (
                self.chat.messages_since(session.id, since, self.settings.chat_replay_limit) if since else []
            )
            presence, count = self.presence.join(session, conn.user, conn.id)
        except BaseException:
            self.hub.leave(sid, conn)
            conn.resume([])
            raise
        conn.rooms[sid] = presence
        state = self._state(session, conn, reactions, count)
        if since is not None:
            state["replayed"] = len(missed)
            state["replayComplete"] = len(missed) < self.settings.chat_replay_limit
        return Reply(state, always=True, then=lambda: conn.resume(missed))

    @staticmethod
    def _state(session, conn: Connection, reactions: dict, count: int) -> dict:
        publisher = is_publisher(session, conn.user)
        return {
            "sessionId": str(session.id),
            "status": session.status,
            "viewerCount": count,
            "activeProduct": product_view(session.active_product) if session.active_product_id else None,
            "reactions": reactions,
            "role": "publisher" if publisher else "viewer",
        }

    def leave_session(self, conn: Connection, data) -> Reply:
        sid = str(_parse(_room_data(data), _SESSION_ID)["session_id"])
        self.hub.leave(sid, conn)
        self.leave(conn, sid)
        return Reply({"sessionId": sid})

    def leave(self, conn: Connection, sid: str) -> None:
        """Out of the room's presence (the hub membership is the caller's)."""
        presence = conn.rooms.pop(sid, None)
        if presence is not None:
            self.presence.leave(presence)

    def send_message(self, conn: Connection, data) -> Reply:
        if conn.user is None:
            raise Unauthorized("Sign in to chat", code="unauthorized")
        session_id = _parse(data, _SESSION_ID)["session_id"]
        if str(session_id) not in conn.rooms:
            raise Forbidden("Join the session before sending messages to it", code="not_joined")
        return Reply(self.chat.post_message(session_id, conn.user, data.get("message")))

    def send_reaction(self, conn: Connection, data) -> Reply:
        fields = _parse(data, _REACTION)
        counts = self.engagement.react(fields["session_id"], fields["type"], conn.user, conn.id)
        return Reply({"sessionId": str(fields["session_id"]), "type": fields["type"], "counts": counts})

    def product_click(self, conn: Connection, data) -> Reply:
        fields = _parse(data, _CLICK)
        self.engagement.click(fields["session_id"], fields["product_id"], conn.user, conn.id)
        return Reply({"sessionId": str(fields["session_id"]), "productId": str(fields["product_id"])})

    def showcase_product(self, conn: Connection, data) -> Reply:
        if conn.user is None:
            raise Unauthorized("Sign in to showcase products", code="unauthorized")
        fields = _parse(data, _SHOWCASE)
        return Reply(self.sessions.showcase(conn.user, fields["session_id"], fields["product_id"]))

    @staticmethod
    def ping(conn: Connection, data) -> Reply:
        conn.send(wire.text_frame(encode(*pong())))
        return Reply({})
