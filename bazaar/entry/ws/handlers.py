"""What each client → server event does, in either dialect.

Each handler validates its data (`payloads`) and calls the services REST uses; it returns a `Reply` or
raises a domain error. The dialect turns either into its own frames (an `ack` / `error` event on /ws, a
Socket.IO ack or `error` event).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from bazaar.domain.errors import Forbidden, Unauthorized
from bazaar.domain.views import product_view
from bazaar.entry.ws import payloads
from bazaar.live.events import owner_room, pong
from bazaar.live.hub import Hub
from bazaar.services.chat import ChatService
from bazaar.services.engagement import EngagementService
from bazaar.services.presence import PresenceService, is_publisher
from bazaar.services.sessions import SessionService
from config import Settings

if TYPE_CHECKING:
    from bazaar.entry.ws.connection import Connection
    from bazaar.live.state import LiveState


class Reply(NamedTuple):
    data: dict
    always: bool = False  # reply even when not asked for one (join-session answers with the state)
    then: Callable[[], None] | None = None  # runs once the reply is queued


class RoomEvents:
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
        # closed connections leaving their rooms, `ws_leave_concurrency` at a time (`Connection._finish`)
        self.departures = threading.BoundedSemaphore(settings.ws_leave_concurrency)
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
        fields = payloads.parse(payloads.Join, data, bare_id=True)
        session, reactions = self.sessions.reaction_counts(fields.session_id)
        sid = str(session.id)
        since = fields.since_message_id
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
        if is_publisher(session, conn.user):
            self.hub.join(owner_room(sid), conn)  # sales-stats reach the owner alone
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
        sid = str(payloads.parse(payloads.RoomRef, data, bare_id=True).session_id)
        self.hub.leave(sid, conn)
        self.leave(conn, sid)
        return Reply({"sessionId": sid})

    def leave(self, conn: Connection, sid: str) -> None:
        """Out of the room's presence (the hub membership is the caller's)."""
        self.hub.leave(owner_room(sid), conn)
        presence = conn.rooms.pop(sid, None)
        if presence is not None:
            self.presence.leave(presence)

    def send_message(self, conn: Connection, data) -> Reply:
        if conn.user is None:
            raise Unauthorized("Sign in to chat", code="unauthorized")
        fields = payloads.parse(payloads.ChatMessage, data)
        if str(fields.session_id) not in conn.rooms:
            raise Forbidden("Join the session before sending messages to it", code="not_joined")
        return Reply(self.chat.post_message(fields.session_id, conn.user, fields.message))

    def send_reaction(self, conn: Connection, data) -> Reply:
        fields = payloads.parse(payloads.Reaction, data)
        counts = self.engagement.react(fields.session_id, fields.type, conn.user, conn.id)
        return Reply({"sessionId": str(fields.session_id), "type": fields.type, "counts": counts})

    def product_click(self, conn: Connection, data) -> Reply:
        fields = payloads.parse(payloads.Click, data)
        self.engagement.click(fields.session_id, fields.product_id, conn.user, conn.id)
        return Reply({"sessionId": str(fields.session_id), "productId": str(fields.product_id)})

    def showcase_product(self, conn: Connection, data) -> Reply:
        if conn.user is None:
            raise Unauthorized("Sign in to showcase products", code="unauthorized")
        fields = payloads.parse(payloads.Showcase, data)
        return Reply(self.sessions.showcase(conn.user, fields.session_id, fields.product_id))

    @staticmethod
    def ping(conn: Connection, data) -> Reply:
        conn.send_event(*pong())
        return Reply({})
