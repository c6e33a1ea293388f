"""Reactions and product clicks from the viewers of a live room: rate-limited, counted exactly in LiveState.

Both arrive at a high rate, so what they check about the session (its status and
its product ids) comes from a short per-worker cache instead of a query per event.
Under a reaction storm the `new-reaction` broadcasts of a room are capped per
worker (the periodic `reaction-stats` carries the totals); the counts never are.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import peewee as pw

from bazaar.domain.errors import Conflict, Invalid, NotFound, RateLimited
from bazaar.domain.models import Session, SessionProduct, SessionStatus, User
from bazaar.live import events
from bazaar.live.publisher import Publisher
from bazaar.live.state import LiveState
from bazaar.services.presence import viewer_key
from config import Settings

REACTIONS = "reactions"  # LiveState dirty kinds: a periodic broadcast is due
CLICKS = "clicks"


@dataclass(frozen=True)
class SessionFacts:
    status: str
    product_ids: frozenset[str]


class SessionFactsCache:
    """Session id → its status and product ids, at most `ttl_s` old (one query per session per TTL)."""

    _MAX_ENTRIES = 10_000

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, SessionFacts]] = {}

    def get(self, session_id: str) -> SessionFacts:
        moment = time.monotonic()
        entry = self._entries.get(session_id)
        if entry is not None and entry[0] > moment:
            return entry[1]
        rows = list(
            Session.select(Session.status, SessionProduct.product)
            .join(SessionProduct, pw.JOIN.LEFT_OUTER, on=(SessionProduct.session == Session.id))
            .where(Session.id == uuid.UUID(session_id))
            .tuples()
        )
        if not rows:
            raise NotFound("Session not found")
        facts = SessionFacts(rows[0][0], frozenset(str(pid) for _, pid in rows if pid is not None))
        if len(self._entries) >= self._MAX_ENTRIES:
            self._entries = {sid: e for sid, e in self._entries.items() if e[0] > moment}
        self._entries[session_id] = (moment + self.ttl_s, facts)
        return facts


class EngagementService:
    def __init__(
        self, settings: Settings, live_state: LiveState, publisher: Publisher, facts: SessionFactsCache
    ):
        self.settings = settings
        self.live_state = live_state
        self.publisher = publisher
        self.facts = facts
        self._broadcasts: dict[str, list] = {}  # room → [second, new-reaction broadcasts in it]

    def react(self, session_id: uuid.UUID, reaction_type: str, user: User | None, connection_id: str) -> dict:
        """Count a reaction (the type is validated by the caller); returns the room's counts after it."""
        self._limit(
            f"reaction:{connection_id}",
            self.settings.reaction_rate_count,
            self.settings.reaction_rate_window_s,
            "reactions",
        )
        sid = str(session_id)
        status = self.facts.get(sid).status
        if status not in SessionStatus.ON_AIR:
            raise Conflict(
                "Reactions are open only while the session is live or paused",
                code="session_not_live",
                currentStatus=status,
            )
        counts = self.live_state.add_reaction(sid, reaction_type)
        self.live_state.mark_dirty(sid, REACTIONS)
        self.live_state.record_engagement(sid)
        if self._may_broadcast_reaction(sid):
            self.publisher.publish(sid, events.new_reaction(sid, reaction_type, user.id if user else None))
        return counts

    def click(
        self, session_id: uuid.UUID, product_id: uuid.UUID, user: User | None, connection_id: str
    ) -> None:
        """Count a click on one of the session's products while it is live: total, and unique per
        signed-in user or per anonymous connection."""
        self._limit(
            f"click:{connection_id}",
            self.settings.click_rate_count,
            self.settings.click_rate_window_s,
            "product clicks",
        )
        sid = str(session_id)
        facts = self.facts.get(sid)
        if facts.status != SessionStatus.LIVE:
            raise Conflict(
                "Product clicks are counted only while the session is live",
                code="session_not_live",
                currentStatus=facts.status,
            )
        if str(product_id) not in facts.product_ids:
            raise Invalid(
                "Invalid data: productId is not a product of this session",
                details={"productId": "is not a product of this session"},
            )
        self.live_state.record_click(sid, str(product_id), viewer_key(user, connection_id))
        self.live_state.mark_dirty(sid, CLICKS)

    def _limit(self, bucket: str, count: int, window_s: float, what: str) -> None:
        wait_s = self.live_state.hit(bucket, count, window_s)
        if wait_s:
            raise RateLimited(
                f"At most {count} {what} per {window_s:g} seconds, slow down", retry_after_s=wait_s
            )

    def _may_broadcast_reaction(self, room: str) -> bool:
        second = int(time.monotonic())
        budget = self._broadcasts.get(room)
        if budget is None or budget[0] != second:
            if len(self._broadcasts) > 1000:  # forget rooms that had no reaction this second
                self._broadcasts = {r: b for r, b in self._broadcasts.items() if b[0] == second}
            budget = self._broadcasts[room] = [second, 0]
        budget[1] += 1
        return budget[1] <= self.settings.reaction_broadcast_max_per_s
