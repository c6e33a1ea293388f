"""Presence: who watches a room now. Each viewer counts once however many connections it has open, and
viewers no worker refreshes within `presence_ttl_s` (a crashed worker's) vanish from the count.

Joining also feeds the room's counters (its exact peak, its unique viewers) and lists the session among
those with live counters, in the same step.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

import redis

from bazaar.live.state.rooms import SESSIONS_KEY, MemoryRooms, RoomKeys, many_rooms_script, ms


class Presence(Protocol):
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


class MemoryPresence:
    """Presence in this process (the embedded default, one worker)."""

    def __init__(self, rooms: MemoryRooms, ttl_s: float):
        self._rooms = rooms
        self._ttl_s = ttl_s

    _now = staticmethod(time.monotonic)

    def join(self, session_id: str, viewer_key: str) -> int:
        now = self._now()
        with self._rooms.lock:
            room = self._rooms.room(session_id)
            room.viewer_count(now)  # drop expired presences first, as Redis does
            room.refs[viewer_key] = room.refs.get(viewer_key, 0) + 1
            room.presence[viewer_key] = now + self._ttl_s
            room.next_expiry = min(room.next_expiry, now + self._ttl_s)
            count = room.viewer_count(now)
            room.peak = max(room.peak, count)
            room.viewers.add(viewer_key)
            self._rooms.listed.add(str(session_id))
            return count

    def leave(self, session_id: str, viewer_key: str) -> int:
        now = self._now()
        with self._rooms.lock:
            room = self._rooms.rooms.get(str(session_id))
            if room is None:
                return 0
            room.viewer_count(now)
            refs = room.refs.get(viewer_key, 0) - 1
            if refs > 0:
                room.refs[viewer_key] = refs
            else:
                room.refs.pop(viewer_key, None)
                room.presence.pop(viewer_key, None)
            return room.viewer_count(now)

    def refresh(self, session_id: str, viewer_keys: Iterable[str]) -> None:
        expiry = self._now() + self._ttl_s
        with self._rooms.lock:
            room = self._rooms.room(session_id)
            for key in viewer_keys:
                room.presence[key] = expiry
            room.next_expiry = min(room.next_expiry, expiry)

    def viewer_count(self, session_id: str) -> int:
        return self.viewer_counts([session_id])[str(session_id)]

    def viewer_counts(self, session_ids: Iterable[str]) -> dict[str, int]:
        now = self._now()
        with self._rooms.lock:
            counts = {}
            for sid in map(str, session_ids):
                room = self._rooms.rooms.get(sid)
                counts[sid] = room.viewer_count(now) if room else 0
            return counts


# Expired presences (a crashed worker's viewers) are dropped lazily by join and leave, a bounded
# batch per call (Lua's unpack has a stack limit); ZCOUNT ignores whatever is left over.
_PRESENCE_LUA = """
local function purge(presence, refs, now)
  local expired = redis.call('ZRANGEBYSCORE', presence, '-inf', now, 'LIMIT', 0, 500)
  if #expired > 0 then
    redis.call('ZREM', presence, unpack(expired))
    redis.call('HDEL', refs, unpack(expired))
  end
end
local function viewer_count(presence, now)
  return redis.call('ZCOUNT', presence, '(' .. now, '+inf')
end
"""

# KEYS: presence, refs, peak, viewers, listed. ARGV: viewer key, now, expiry, ttl ms.
# Returns {viewer count, 1 when the session is to be added to the sessions set}.
_JOIN_LUA = (
    _PRESENCE_LUA
    + """
purge(KEYS[1], KEYS[2], ARGV[2])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
-- the room's presence keys vanish once nobody joins or refreshes for a whole TTL
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local count = viewer_count(KEYS[1], ARGV[2])
if count > tonumber(redis.call('GET', KEYS[3]) or 0) then
  redis.call('SET', KEYS[3], count)
end
redis.call('SADD', KEYS[4], ARGV[1])
return {count, redis.call('SET', KEYS[5], 1, 'NX') and 1 or 0}
"""
)

# KEYS: presence, refs. ARGV: viewer key, now.
_LEAVE_LUA = (
    _PRESENCE_LUA
    + """
purge(KEYS[1], KEYS[2], ARGV[2])
if redis.call('HINCRBY', KEYS[2], ARGV[1], -1) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return viewer_count(KEYS[1], ARGV[2])
"""
)


# KEYS: presence keys. ARGV: the exclusive lower bound of unexpired presences. Returns each viewer count.
_VIEWER_COUNTS_LUA = """
local counts = {}
for i, presence in ipairs(KEYS) do
  counts[i] = redis.call('ZCOUNT', presence, ARGV[1], '+inf')
end
return counts
"""


class RedisPresence:
    """Presence shared by every worker and host through Redis; each call is one round trip.

    Expiry scores are this host's epoch seconds: hosts need clocks in step (NTP) to well within
    presence_ttl_s - presence_refresh_s.
    """

    def __init__(self, client: redis.Redis, ttl_s: float):
        self._redis = client
        self._ttl_s = ttl_s
        self._join_script = client.register_script(_JOIN_LUA)
        self._leave_script = client.register_script(_LEAVE_LUA)
        self._counts_script = many_rooms_script(client, _VIEWER_COUNTS_LUA)

    def join(self, session_id: str, viewer_key: str) -> int:
        now = time.time()
        keys = RoomKeys(session_id)
        count, unlisted = self._join_script(
            keys=[keys.presence, keys.refs, keys.peak, keys.viewers, keys.listed],
            args=[viewer_key, now, now + self._ttl_s, ms(self._ttl_s)],
        )
        if unlisted:
            self._redis.sadd(SESSIONS_KEY, str(session_id))
        return count

    def leave(self, session_id: str, viewer_key: str) -> int:
        keys = RoomKeys(session_id)
        return self._leave_script(keys=[keys.presence, keys.refs], args=[viewer_key, time.time()])

    def refresh(self, session_id: str, viewer_keys: Iterable[str]) -> None:
        expiry = time.time() + self._ttl_s
        mapping = dict.fromkeys(viewer_keys, expiry)
        if not mapping:
            return
        keys = RoomKeys(session_id)
        # A plain ZADD (not XX) re-adds viewers lost to a Redis restart or a stalled worker; the
        # price is that a refresh racing the viewer's last leave keeps it counted for one TTL.
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(keys.presence, mapping)
        pipe.pexpire(keys.presence, ms(self._ttl_s))
        pipe.pexpire(keys.refs, ms(self._ttl_s))
        pipe.sadd(SESSIONS_KEY, str(session_id))  # again, should Redis (or its shard) have lost it
        pipe.execute()

    def viewer_count(self, session_id: str) -> int:
        return self._redis.zcount(RoomKeys(session_id).presence, f"({time.time()}", "+inf")

    def viewer_counts(self, session_ids: Iterable[str]) -> dict[str, int]:
        sids = [str(sid) for sid in session_ids]
        now = f"({time.time()}"
        keys = [RoomKeys(sid).presence for sid in sids]
        if self._counts_script is not None:  # one command instead of one per session
            return dict(zip(sids, self._counts_script(keys=keys, args=[now])))
        pipe = self._redis.pipeline(transaction=False)  # a cluster pipeline sends each shard its rooms
        for key in keys:
            pipe.zcount(key, now, "+inf")
        return dict(zip(sids, pipe.execute()))
