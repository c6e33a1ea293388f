"""Counters of a room while on air: reactions by type, product clicks (total and unique), the engagement
that ranks trending sessions, and the marks that say a periodic broadcast of them is due.

The peak and unique viewers are counted by presence.py as viewers join; checkpoints.py reads and
restores all of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import redis

from bazaar.live.state.rooms import SESSIONS_KEY, MemoryRooms, RoomKeys, many_rooms_script

ENGAGEMENT_BUCKET_S = 60


@dataclass(frozen=True)
class OnAirCounts:
    """What a session shows while on air: its current viewers and its reactions by type."""

    viewers: int
    reactions: dict[str, int]


class Counters(Protocol):
    def add_reaction(self, session_id: str, reaction_type: str) -> dict[str, int]:
        """Count a reaction; returns the counts by type after it."""

    def reaction_counts(self, session_id: str) -> dict[str, int]: ...

    def on_air_counts(self, session_ids: Iterable[str]) -> dict[str, OnAirCounts]:
        """Viewer and reaction counts of many sessions in one round trip (what session reads show)."""

    def record_click(self, session_id: str, product_id: str, clicker_key: str) -> None:
        """Count a click: total per product, unique per (product, clicker), unique clickers per session."""

    def record_engagement(self, session_id: str, weight: int = 1) -> None:
        """Reactions and chat feed the trending rank (a sliding `trending_window_s`)."""

    def engagement(self, session_ids: Iterable[str]) -> dict[str, int]: ...

    def mark_dirty(self, session_id: str, kind: str) -> None:
        """Something of `kind` ("clicks", "reactions") changed; a periodic broadcast is due."""

    def take_dirty(self, session_id: str, kind: str) -> bool:
        """True once per mark (atomically cleared), whichever worker asks."""


def window_minutes(window_s: float) -> int:
    """How many per-minute engagement buckets make up the trending window (the current one included)."""
    return max(1, math.ceil(window_s / ENGAGEMENT_BUCKET_S))


def window(now: float, minutes: int) -> range:
    """The epoch minutes of the trending window ending now."""
    current = int(now // ENGAGEMENT_BUCKET_S)
    return range(current - minutes + 1, current + 1)


class MemoryCounters:
    """Counters in this process (the embedded default, one worker)."""

    def __init__(self, rooms: MemoryRooms, trending_window_s: float):
        self._rooms = rooms
        self._window_minutes = window_minutes(trending_window_s)

    _now = staticmethod(time.monotonic)

    def add_reaction(self, session_id: str, reaction_type: str) -> dict[str, int]:
        with self._rooms.lock:
            room = self._rooms.room(session_id)
            room.reactions[reaction_type] = room.reactions.get(reaction_type, 0) + 1
            self._rooms.listed.add(str(session_id))
            return dict(room.reactions)

    def reaction_counts(self, session_id: str) -> dict[str, int]:
        return self.on_air_counts([session_id])[str(session_id)].reactions

    def on_air_counts(self, session_ids: Iterable[str]) -> dict[str, OnAirCounts]:
        now = self._now()
        with self._rooms.lock:
            rooms = {sid: self._rooms.rooms.get(sid) for sid in map(str, session_ids)}
            return {
                sid: OnAirCounts(room.viewer_count(now), dict(room.reactions)) if room else OnAirCounts(0, {})
                for sid, room in rooms.items()
            }

    def record_click(self, session_id: str, product_id: str, clicker_key: str) -> None:
        product_id = str(product_id)
        with self._rooms.lock:
            room = self._rooms.room(session_id)
            room.clicks[product_id] = room.clicks.get(product_id, 0) + 1
            room.product_clickers[product_id].add(clicker_key)
            room.clickers.add(clicker_key)
            self._rooms.listed.add(str(session_id))

    def record_engagement(self, session_id: str, weight: int = 1) -> None:
        minutes = window(time.time(), self._window_minutes)
        with self._rooms.lock:
            buckets = self._rooms.room(session_id).engagement
            for minute in [m for m in buckets if m < minutes.start]:
                del buckets[minute]
            buckets[minutes[-1]] = buckets.get(minutes[-1], 0) + weight

    def engagement(self, session_ids: Iterable[str]) -> dict[str, int]:
        minutes = window(time.time(), self._window_minutes)
        with self._rooms.lock:
            result = {}
            for sid in map(str, session_ids):
                room = self._rooms.rooms.get(sid)
                result[sid] = sum(w for m, w in room.engagement.items() if m in minutes) if room else 0
            return result

    def mark_dirty(self, session_id: str, kind: str) -> None:
        with self._rooms.lock:
            self._rooms.room(session_id).dirty.add(kind)

    def take_dirty(self, session_id: str, kind: str) -> bool:
        with self._rooms.lock:
            room = self._rooms.rooms.get(str(session_id))
            if room is None or kind not in room.dirty:
                return False
            room.dirty.discard(kind)
            return True


# KEYS: the presence and reactions keys of each session in turn. ARGV: the exclusive lower bound of unexpired
# presences. Returns, per session, its viewer count and its reactions as a flat field/value list.
_ON_AIR_COUNTS_LUA = """
local counts = {}
for i = 1, #KEYS, 2 do
  counts[#counts + 1] = redis.call('ZCOUNT', KEYS[i], ARGV[1], '+inf')
  counts[#counts + 1] = redis.call('HGETALL', KEYS[i + 1])
end
return counts
"""


class RedisCounters:
    """Counters shared by every worker and host through Redis; each call is one round trip."""

    def __init__(self, client: redis.Redis, trending_window_s: float):
        self._redis = client
        self._window_minutes = window_minutes(trending_window_s)
        self._on_air_script = many_rooms_script(client, _ON_AIR_COUNTS_LUA)

    def add_reaction(self, session_id: str, reaction_type: str) -> dict[str, int]:
        keys = RoomKeys(session_id)
        pipe = self._redis.pipeline()  # MULTI: the counts returned are exactly those after this one
        pipe.hincrby(keys.reactions, reaction_type, 1)
        pipe.hgetall(keys.reactions)
        pipe.set(keys.listed, 1, nx=True)
        _, counts, unlisted = pipe.execute()
        if unlisted:
            self._redis.sadd(SESSIONS_KEY, str(session_id))
        return {kind: int(n) for kind, n in counts.items()}

    def reaction_counts(self, session_id: str) -> dict[str, int]:
        return self.on_air_counts([session_id])[str(session_id)].reactions

    def on_air_counts(self, session_ids: Iterable[str]) -> dict[str, OnAirCounts]:
        sids = [str(sid) for sid in session_ids]
        now = f"({time.time()}"
        rooms = [RoomKeys(sid) for sid in sids]
        if self._on_air_script is not None:  # one command, where 2 per session cost redis-py 1.5x the CPU
            replies = self._on_air_script(
                keys=[key for room in rooms for key in (room.presence, room.reactions)], args=[now]
            )
            reactions = [zip(flat[::2], flat[1::2]) for flat in replies[1::2]]
        else:  # a cluster pipeline sends each shard its sessions' commands
            pipe = self._redis.pipeline(transaction=False)
            for room in rooms:
                pipe.zcount(room.presence, now, "+inf")
                pipe.hgetall(room.reactions)
            replies = pipe.execute()
            reactions = [counts.items() for counts in replies[1::2]]
        return {
            sid: OnAirCounts(viewers, {kind: int(n) for kind, n in counts})
            for sid, viewers, counts in zip(sids, replies[::2], reactions)
        }

    def record_click(self, session_id: str, product_id: str, clicker_key: str) -> None:
        keys = RoomKeys(session_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hincrby(keys.clicks, str(product_id), 1)
        pipe.sadd(keys.product_clickers(product_id), clicker_key)
        pipe.sadd(keys.clickers, clicker_key)
        pipe.sadd(SESSIONS_KEY, str(session_id))
        pipe.execute()

    def engagement_keys(self, session_id) -> list[str]:
        """The keys of the trending window's minutes, the current one last."""
        keys = RoomKeys(session_id)
        return [keys.engagement(minute) for minute in window(time.time(), self._window_minutes)]

    def record_engagement(self, session_id: str, weight: int = 1) -> None:
        key = self.engagement_keys(session_id)[-1]
        pipe = self._redis.pipeline(transaction=False)
        pipe.incrby(key, weight)
        pipe.expire(key, (self._window_minutes + 1) * ENGAGEMENT_BUCKET_S)
        pipe.execute()

    def engagement(self, session_ids: Iterable[str]) -> dict[str, int]:
        sids = [str(sid) for sid in session_ids]
        if not sids:
            return {}
        keys = [self.engagement_keys(sid) for sid in sids]
        pipe = self._redis.pipeline(transaction=False)  # GETs: a cluster pipeline refuses MGET
        for key in (key for session_keys in keys for key in session_keys):
            pipe.get(key)
        values = iter(pipe.execute())
        return {
            sid: sum(int(next(values) or 0) for _ in session_keys) for sid, session_keys in zip(sids, keys)
        }

    def mark_dirty(self, session_id: str, kind: str) -> None:
        self._redis.hset(RoomKeys(session_id).dirty, kind, 1)

    def take_dirty(self, session_id: str, kind: str) -> bool:
        # HDEL answers whether the field was there: exactly one worker sees each mark.
        return self._redis.hdel(RoomKeys(session_id).dirty, kind) == 1
