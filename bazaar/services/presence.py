"""Who is in a live room: viewer counts in LiveState, view records (session_views) in the database.

A signed-in viewer is one viewer wherever they are connected ("u:<id>": two tabs
count once); an anonymous viewer is one per connection ("c:<connection id>").
The session's owner joins as the publisher: in the room, never counted, no view
record. Each counted join opens a view record; leaving or disconnecting closes it
with the whole seconds watched (end-stream closes whatever is still open).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from bazaar.domain.clock import now
from bazaar.domain.models import Session, SessionStatus, SessionView, User
from bazaar.live.state import LiveState


@dataclass(frozen=True)
class Presence:
    """One connection's place in one room."""

    session_id: str
    viewer_key: str | None  # None: the publisher, or a room that is over (nothing counted)
    view_id: uuid.UUID | None
    joined_at: datetime

    @property
    def counted(self) -> bool:
        return self.viewer_key is not None


def is_publisher(session: Session, user: User | None) -> bool:
    """The session's owner is its publisher: in the room, never counted as a viewer."""
    return user is not None and user.id == session.creator_id


def viewer_key(user: User | None, connection_id: str) -> str:
    return f"u:{user.id}" if user is not None else f"c:{connection_id}"


class PresenceService:
    def __init__(self, live_state: LiveState):
        self.live_state = live_state

    def join(self, session: Session, user: User | None, connection_id: str) -> tuple[Presence, int]:
        """Enter the room; returns the presence and the room's viewer count after it."""
        sid = str(session.id)
        at = now()
        if is_publisher(session, user) or session.status == SessionStatus.ENDED:
            return Presence(sid, None, None, at), self.live_state.viewer_count(sid)
        key = viewer_key(user, connection_id)
        count = self.live_state.join(sid, key)
        try:
            view = SessionView.create(
                session=session.id, user=user.id if user else None, viewer_key=key, joined_at=at
            )
        except Exception:
            self.live_state.leave(sid, key)  # not counted without its view record
            raise
        return Presence(sid, key, view.id, at), count

    def leave(self, presence: Presence) -> int:
        """Leave the room (or disconnect): the viewer stops counting once their last connection is gone,
        and the view record closes with its watch time. Returns the viewer count after it."""
        if not presence.counted:
            return self.live_state.viewer_count(presence.session_id)
        count = self.live_state.leave(presence.session_id, presence.viewer_key)
        at = now()
        watched = max(0, int((at - presence.joined_at).total_seconds()))
        # A view closed by end-stream keeps the times end-stream gave it.
        (
            SessionView.update(left_at=at, watch_seconds=watched)
            .where((SessionView.id == presence.view_id) & SessionView.left_at.is_null())
            .execute()
        )
        return count

    def refresh(self, session_id: str, presences) -> None:
        """Heartbeat for this worker's counted viewers of a room, so they outlive `presence_ttl_s`."""
        keys = {p.viewer_key for p in presences if p.counted}
        if keys:
            self.live_state.refresh(session_id, keys)
