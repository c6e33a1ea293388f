"""Live state of rooms shared by every worker and host: presence, peak, reactions, clicks, rate limits, leases.

`RedisLiveState` keeps it in Redis (keys prefixed `bazaar:`); `MemoryLiveState`
keeps it in this process for the embedded default. Same semantics, chosen once
by `make_live_state(settings)`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Protocol


@dataclass
class LiveTotals:
    """Counters of one session as they stand (for checkpoints and end-stream)."""

    reactions: dict[str, int] = field(default_factory=dict)          # type → count
    clicks: dict[str, tuple[int, int]] = field(default_factory=dict)  # product id → (total, unique)
    unique_clickers: int = 0
    unique_viewers: int = 0
    peak_viewers: int = 0


class LiveState(Protocol):
    # presence -----------------------------------------------------------------
    def join(self, session_id: str, viewer_key: str) -> int:
        """Count one more connection of `viewer_key` (a user "u:<id>" or an anonymous
        connection "c:<id>") in the room; updates the exact peak; returns the viewer count."""

    def leave(self, session_id: str, viewer_key: str) -> int:
        """One connection of `viewer_key` left; the viewer leaves the count when it was the
        last one (anywhere in the cluster). Returns the viewer count."""

    def refresh(self, session_id: str, viewer_keys: Iterable[str]) -> None:
        """Heartbeat: these viewers are still here. Viewers not refreshed within
        `presence_ttl_s` vanish from the count (a crashed worker's members)."""

    def viewer_count(self, session_id: str) -> int: ...

    def viewer_counts(self, session_ids: Iterable[str]) -> dict[str, int]: ...

    # counters -----------------------------------------------------------------
    def add_reaction(self, session_id: str, reaction_type: str) -> dict[str, int]:
        """Count a reaction; returns the counts by type after it."""

    def reaction_counts(self, session_id: str) -> dict[str, int]: ...

    def record_click(self, session_id: str, product_id: str, clicker_key: str) -> None:
        """Count a click: total per product, unique per (product, clicker), unique clickers per session."""

    def record_engagement(self, session_id: str, weight: int = 1) -> None:
        """Reactions and chat feed the trending rank (a sliding `trending_window_s`)."""

    def engagement(self, session_ids: Iterable[str]) -> dict[str, int]: ...

    def totals(self, session_id: str) -> LiveTotals:
        """Everything counted so far for the session (checkpoints read this)."""

    def seed(self, session_id: str, totals: LiveTotals) -> None:
        """Restore persisted counters when a session goes live again (resume after a restart)."""

    def drain(self, session_id: str) -> LiveTotals:
        """The final totals; the session's live keys are removed (end-stream)."""

    # coordination -------------------------------------------------------------
    def mark_dirty(self, session_id: str, kind: str) -> None:
        """Something of `kind` ("clicks", "reactions") changed; a periodic broadcast is due."""

    def take_dirty(self, session_id: str, kind: str) -> bool:
        """True once per mark (atomically cleared), whichever worker asks."""

    def acquire_lease(self, name: str, owner: str, ttl_s: float) -> bool:
        """Hold (or renew) a named lease for `ttl_s`; only one owner at a time cluster-wide."""

    def hit(self, bucket: str, limit: int, window_s: float) -> float:
        """Rate limit: count one event in `bucket`; 0.0 when allowed, else seconds until allowed."""

    def live_sessions(self) -> set[str]:
        """Sessions with live counters (checkpointing walks these)."""

    def ping(self) -> None:
        """Raise if the backing store is unreachable."""
