"""Checkpoints: a room's counters as they stand (persisted periodically and at the end of a show), put back
when a show resumes after the live state lost them, and drained when it ends."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import redis

from bazaar.live.state.counters import window, window_minutes
from bazaar.live.state.rooms import SESSIONS_KEY, MemoryRooms, Room, RoomKeys


@dataclass
class LiveTotals:
    """Counters of one session as they stand (for checkpoints and end-stream)."""

    reactions: dict[str, int] = field(default_factory=dict)  # type → count
    clicks: dict[str, tuple[int, int]] = field(default_factory=dict)  # product id → (total, unique)
    unique_clickers: int = 0
    unique_viewers: int = 0
    peak_viewers: int = 0


class Checkpoints(Protocol):
    def totals(self, session_id: str) -> LiveTotals:
        """Everything counted so far for the session (checkpoints read this)."""

    def seed(self, session_id: str, totals: LiveTotals) -> None:
        """Restore persisted counters: when a session goes live (again), and at each checkpoint, so that
        counters the live state lost (a Redis or process restart) come back before the next write."""

    def drain(self, session_id: str) -> LiveTotals:
        """The final totals; the session's live keys are removed (end-stream)."""

    def live_sessions(self) -> set[str]:
        """Sessions with live counters (checkpointing walks these)."""


# Unique viewers and clickers are sets; only their sizes are persisted. Seeding brings the sizes back as
# offsets added to the (new) sets, so someone who clicked before the restart and clicks again is counted
# twice: unique counts can run high after a resume, never low.
# The first seed of a room marks it whole (WHOLE among its offsets). A whole room holds everything since
# then, so it is ahead of any checkpoint: seeding merges (max per counter) and never lowers a live count.
# A room without the mark lost what it held (Redis restarted empty, the process restarted) or never had
# any: what it counted since then comes on top of the persisted totals, so only what came in after the
# last checkpoint and before the loss is lost, and a checkpoint never writes less than the one before.
WHOLE = "whole"


class MemoryCheckpoints:
    """Checkpoints of the rooms in this process (the embedded default, one worker)."""

    def __init__(self, rooms: MemoryRooms):
        self._rooms = rooms

    def totals(self, session_id: str) -> LiveTotals:
        with self._rooms.lock:
            room = self._rooms.rooms.get(str(session_id))
            return _totals_of(room) if room else LiveTotals()

    def seed(self, session_id: str, totals: LiveTotals) -> None:
        with self._rooms.lock:
            room = self._rooms.room(session_id)
            if room.offsets.get(WHOLE):
                for kind, count in totals.reactions.items():
                    room.reactions[kind] = max(room.reactions.get(kind, 0), count)
                for pid, (total, unique) in totals.clicks.items():
                    pid = str(pid)
                    room.clicks[pid] = max(room.clicks.get(pid, 0), total)
                    _raise_offset(room.offsets, "p:" + pid, unique - len(room.product_clickers[pid]))
                _raise_offset(room.offsets, "clickers", totals.unique_clickers - len(room.clickers))
                _raise_offset(room.offsets, "viewers", totals.unique_viewers - len(room.viewers))
            else:
                for kind, count in totals.reactions.items():
                    room.reactions[kind] = room.reactions.get(kind, 0) + count
                for pid, (total, unique) in totals.clicks.items():
                    pid = str(pid)
                    room.clicks[pid] = room.clicks.get(pid, 0) + total
                    room.offsets["p:" + pid] = unique
                room.offsets.update(clickers=totals.unique_clickers, viewers=totals.unique_viewers)
                room.offsets[WHOLE] = 1
            room.peak = max(room.peak, totals.peak_viewers)
            self._rooms.listed.add(str(session_id))

    def drain(self, session_id: str) -> LiveTotals:
        with self._rooms.lock:
            room = self._rooms.rooms.pop(str(session_id), None)
            self._rooms.listed.discard(str(session_id))
            return _totals_of(room) if room else LiveTotals()

    def live_sessions(self) -> set[str]:
        with self._rooms.lock:
            return set(self._rooms.listed)


def _totals_of(room: Room) -> LiveTotals:
    return LiveTotals(
        reactions=dict(room.reactions),
        clicks={
            pid: (total, len(room.product_clickers[pid]) + room.offsets.get("p:" + pid, 0))
            for pid, total in room.clicks.items()
        },
        unique_clickers=len(room.clickers) + room.offsets.get("clickers", 0),
        unique_viewers=len(room.viewers) + room.offsets.get("viewers", 0),
        peak_viewers=room.peak,
    )


def _raise_offset(offsets: dict[str, int], name: str, missing: int) -> None:
    if missing > offsets.get(name, 0):
        offsets[name] = missing


# A product's clicker set is `<clickers>:<product id>` (RoomKeys.product_clickers), found through the
# clicks hash. KEYS: offsets, clicks, clickers, reactions, viewers, peak, then, to drain, every other key of
# the room. ARGV: drain (0/1).
# Returns {reactions (flat), products (flat pid, total, unique), unique clickers, unique viewers, peak}.
_TOTALS_LUA = """
local offsets = {}
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do offsets[flat[i]] = tonumber(flat[i + 1]) end
local products, doomed = {}, {}
local clicks = redis.call('HGETALL', KEYS[2])
for i = 1, #clicks, 2 do
  local clickers = KEYS[3] .. ':' .. clicks[i]
  table.insert(products, clicks[i])
  table.insert(products, tonumber(clicks[i + 1]))
  table.insert(products, redis.call('SCARD', clickers) + (offsets['p:' .. clicks[i]] or 0))
  table.insert(doomed, clickers)
end
local result = {
  redis.call('HGETALL', KEYS[4]),
  products,
  redis.call('SCARD', KEYS[3]) + (offsets['clickers'] or 0),
  redis.call('SCARD', KEYS[5]) + (offsets['viewers'] or 0),
  tonumber(redis.call('GET', KEYS[6]) or 0),
}
if ARGV[1] == '1' then
  for i = 1, #KEYS do table.insert(doomed, KEYS[i]) end
  redis.call('DEL', unpack(doomed))
end
return result
"""

# KEYS: peak, viewers, clickers, offsets, reactions, clicks, listed. ARGV: the WHOLE field, peak, unique
# viewers, unique clickers, number of reaction types, then type, count pairs, then product id, total,
# unique triples. A room not yet whole gets the totals added, a whole one raised to them.
_SEED_LUA = """
local whole_field = table.remove(ARGV, 1)
local whole = redis.call('HEXISTS', KEYS[4], whole_field) == 1
local function merge(key, field, value)
  if not whole then
    redis.call('HINCRBY', key, field, value)
  elseif tonumber(redis.call('HGET', key, field) or 0) < tonumber(value) then
    redis.call('HSET', key, field, value)
  end
end
local function merge_offset(field, set, unique)
  if whole then unique = tonumber(unique) - redis.call('SCARD', set) end
  merge(KEYS[4], field, unique)
end
if tonumber(redis.call('GET', KEYS[1]) or 0) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
end
merge_offset('viewers', KEYS[2], ARGV[2])
merge_offset('clickers', KEYS[3], ARGV[3])
local first_product = 5 + 2 * tonumber(ARGV[4])
for i = 5, first_product - 1, 2 do merge(KEYS[5], ARGV[i], ARGV[i + 1]) end
for i = first_product, #ARGV, 3 do
  merge(KEYS[6], ARGV[i], ARGV[i + 1])
  merge_offset('p:' .. ARGV[i], KEYS[3] .. ':' .. ARGV[i], ARGV[i + 2])
end
redis.call('HSET', KEYS[4], whole_field, 1)
redis.call('SET', KEYS[7], 1)
"""


class RedisCheckpoints:
    """Checkpoints of the rooms in Redis; each call is one round trip (and one more to (un)list)."""

    def __init__(self, client: redis.Redis, trending_window_s: float):
        self._redis = client
        self._window_minutes = window_minutes(trending_window_s)
        self._totals_script = client.register_script(_TOTALS_LUA)
        self._seed_script = client.register_script(_SEED_LUA)

    def _read(self, session_id, drain: bool) -> LiveTotals:
        keys = RoomKeys(session_id)
        read = [keys.offsets, keys.clicks, keys.clickers, keys.reactions, keys.viewers, keys.peak]
        if drain:
            read += [keys.dirty, keys.listed, keys.presence, keys.refs]
            read += [keys.engagement(minute) for minute in window(time.time(), self._window_minutes)]
        reactions, products, clickers, viewers, peak = self._totals_script(keys=read, args=[int(drain)])
        if drain:
            self._redis.srem(SESSIONS_KEY, str(session_id))
        return LiveTotals(
            reactions={reactions[i]: int(reactions[i + 1]) for i in range(0, len(reactions), 2)},
            clicks={
                products[i]: (int(products[i + 1]), int(products[i + 2])) for i in range(0, len(products), 3)
            },
            unique_clickers=clickers,
            unique_viewers=viewers,
            peak_viewers=peak,
        )

    def totals(self, session_id: str) -> LiveTotals:
        return self._read(session_id, drain=False)

    def seed(self, session_id: str, totals: LiveTotals) -> None:
        args = [
            WHOLE,
            totals.peak_viewers,
            totals.unique_viewers,
            totals.unique_clickers,
            len(totals.reactions),
        ]
        for kind, count in totals.reactions.items():
            args += [kind, count]
        for pid, (total, unique) in totals.clicks.items():
            args += [str(pid), total, unique]
        keys = RoomKeys(session_id)
        self._seed_script(
            keys=[
                keys.peak,
                keys.viewers,
                keys.clickers,
                keys.offsets,
                keys.reactions,
                keys.clicks,
                keys.listed,
            ],
            args=args,
        )
        self._redis.sadd(SESSIONS_KEY, str(session_id))

    def drain(self, session_id: str) -> LiveTotals:
        return self._read(session_id, drain=True)

    def live_sessions(self) -> set[str]:
        return set(self._redis.smembers(SESSIONS_KEY))
