"""Live state of rooms shared by every worker and host, one module per concern, each with its Redis and its
in-process implementation side by side:

  presence.py     who watches a room now (viewer counts, heartbeats)
  counters.py     reactions, product clicks, trending engagement, broadcast-due marks
  checkpoints.py  a room's counters as they stand: read, restored on resume, drained at the end
  rate_limits.py  N events per window per bucket
  leases.py       named jobs one worker at a time does
  rooms.py        where a room's state is kept: its Redis key names, its in-memory shape

Services take one `LiveState` holding all five; `make_live_state(settings)` chooses Redis (REDIS_URL) or
this process (the embedded default, one worker) once. Same semantics either way.
"""

from __future__ import annotations

from typing import Protocol

import redis

from bazaar.infra.broker import redis_client
from bazaar.live.state.checkpoints import Checkpoints, LiveTotals, MemoryCheckpoints, RedisCheckpoints
from bazaar.live.state.counters import Counters, MemoryCounters, OnAirCounts, RedisCounters
from bazaar.live.state.leases import Leases, MemoryLeases, RedisLeases
from bazaar.live.state.presence import MemoryPresence, Presence, RedisPresence
from bazaar.live.state.rate_limits import MemoryRateLimits, RateLimits, RedisRateLimits
from bazaar.live.state.rooms import MemoryRooms
from config import Settings


class LiveState(Presence, Counters, Checkpoints, RateLimits, Leases, Protocol):
    def ping(self) -> None:
        """Raise if the backing store is unreachable."""


class _Assembled:
    """The five parts as one object. Each method is the part's own, bound: a call costs no extra hop."""

    def __init__(
        self,
        presence: Presence,
        counters: Counters,
        checkpoints: Checkpoints,
        limits: RateLimits,
        leases: Leases,
    ):
        self.join, self.leave, self.refresh = presence.join, presence.leave, presence.refresh
        self.viewer_count, self.viewer_counts = presence.viewer_count, presence.viewer_counts
        self.add_reaction, self.reaction_counts = counters.add_reaction, counters.reaction_counts
        self.on_air_counts, self.record_click = counters.on_air_counts, counters.record_click
        self.record_engagement, self.engagement = counters.record_engagement, counters.engagement
        self.mark_dirty, self.take_dirty = counters.mark_dirty, counters.take_dirty
        self.totals, self.seed, self.drain = checkpoints.totals, checkpoints.seed, checkpoints.drain
        self.live_sessions = checkpoints.live_sessions
        self.hit = limits.hit
        self.acquire_lease, self.release_leases = leases.acquire_lease, leases.release_leases
        self.take_turn = leases.take_turn


class MemoryLiveState(_Assembled):
    """LiveState of one process (the embedded default, one worker): Redis's semantics, kept in dicts."""

    def __init__(self, settings: Settings):
        rooms = MemoryRooms()
        super().__init__(
            MemoryPresence(rooms, settings.presence_ttl_s),
            MemoryCounters(rooms, settings.trending_window_s),
            MemoryCheckpoints(rooms),
            MemoryRateLimits(),
            MemoryLeases(),
        )

    def ping(self) -> None:
        """Always reachable: it is this process."""


class RedisLiveState(_Assembled):
    """LiveState shared by every worker and host through Redis.

    `client`, when given, must decode responses (`decode_responses=True`).
    """

    def __init__(self, settings: Settings, client: redis.Redis | None = None):
        self.redis = client or redis_client(settings, decode_responses=True)
        super().__init__(
            RedisPresence(self.redis, settings.presence_ttl_s),
            RedisCounters(self.redis, settings.trending_window_s),
            RedisCheckpoints(self.redis, settings.trending_window_s),
            RedisRateLimits(self.redis),
            RedisLeases(self.redis),
        )

    def ping(self) -> None:
        self.redis.ping()


def make_live_state(settings: Settings) -> LiveState:
    return RedisLiveState(settings) if settings.redis_url else MemoryLiveState(settings)


__all__ = ["LiveState", "LiveTotals", "MemoryLiveState", "OnAirCounts", "RedisLiveState", "make_live_state"]
