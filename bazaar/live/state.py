"""Live state of rooms shared by every worker and host: presence, peak, reactions, clicks, rate limits,
leases.

`RedisLiveState` keeps it in Redis (keys prefixed `bazaar:`); `MemoryLiveState`
keeps it in this process for the embedded default. Same semantics, chosen once
by `make_live_state(settings)`.

Redis keys (`<sid>` a session id; `{<sid>}` is the room's hash tag: on a Redis Cluster every key of
a room lives in one slot, so each script and MULTI below touches one shard):
  bazaar:presence:{<sid>}              ZSET viewer key → expiry (epoch s); counted while unexpired
  bazaar:presence:{<sid>}:refs         HASH viewer key → open connections (two tabs count once)
  bazaar:live:{<sid>}:peak             exact peak viewer count
  bazaar:live:{<sid>}:viewers          SET of every viewer key that joined
  bazaar:live:{<sid>}:reactions        HASH type → count
  bazaar:live:{<sid>}:clicks           HASH product id → total clicks
  bazaar:live:{<sid>}:clickers         SET of clicker keys (any product)
  bazaar:live:{<sid>}:clickers:<pid>   SET of clicker keys of one product
  bazaar:live:{<sid>}:offsets          HASH of unique counts restored by `seed` (see there)
  bazaar:live:{<sid>}:dirty            HASH kind → 1 while a periodic broadcast is due
  bazaar:live:{<sid>}:engagement:<m>   engagement in epoch minute m (expires after the trending window)
  bazaar:live:{<sid>}:listed           set once the session is in bazaar:live:sessions
  bazaar:live:sessions                 SET of sessions with live counters (kept outside the rooms'
                                       scripts: it has a slot of its own)
  bazaar:lease:<name>                lease owner (PX ttl)
  bazaar:rate:<bucket>               rate-limit counter of the current window (PX window)
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import redis

from bazaar.infra.broker import redis_client
from config import Settings


@dataclass(frozen=True)
class OnAirCounts:
    """What a session shows while on air: its current viewers and its reactions by type."""

    viewers: int
    reactions: dict[str, int]


@dataclass
class LiveTotals:
    """Counters of one session as they stand (for checkpoints and end-stream)."""

    reactions: dict[str, int] = field(default_factory=dict)  # type → count
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

    def on_air_counts(self, session_ids: Iterable[str]) -> dict[str, OnAirCounts]:
        """Viewer and reaction counts of many sessions in one round trip (what session reads show)."""

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


def make_live_state(settings: Settings) -> LiveState:
    return RedisLiveState(settings) if settings.redis_url else MemoryLiveState(settings)


_ENGAGEMENT_BUCKET_S = 60


def _window_minutes(window_s: float) -> int:
    """How many per-minute engagement buckets make up the trending window (the current one included)."""
    return max(1, math.ceil(window_s / _ENGAGEMENT_BUCKET_S))


def _minutes(now: float, window_minutes: int) -> range:
    current = int(now // _ENGAGEMENT_BUCKET_S)
    return range(current - window_minutes + 1, current + 1)


# --------------------------------------------------------------------------------------------------
# In-process


@dataclass
class _Room:
    """One session's live state in memory, shaped like its Redis keys."""

    presence: dict[str, float] = field(default_factory=dict)  # viewer key → expiry
    refs: dict[str, int] = field(default_factory=dict)  # viewer key → open connections
    next_expiry: float = math.inf  # no presence expires before this
    peak: int = 0
    viewers: set[str] = field(default_factory=set)
    reactions: dict[str, int] = field(default_factory=dict)
    clicks: dict[str, int] = field(default_factory=dict)
    product_clickers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    clickers: set[str] = field(default_factory=set)
    offsets: dict[str, int] = field(default_factory=dict)  # see RedisLiveState.seed
    dirty: set[str] = field(default_factory=set)
    engagement: dict[int, int] = field(default_factory=dict)  # minute → weight

    def viewer_count(self, now: float) -> int:
        # Scanning only once something can have expired keeps a join storm linear.
        if now >= self.next_expiry:
            for key in [key for key, expiry in self.presence.items() if expiry <= now]:
                del self.presence[key]
                self.refs.pop(key, None)
            self.next_expiry = min(self.presence.values(), default=math.inf)
        return len(self.presence)

    def totals(self) -> LiveTotals:
        return LiveTotals(
            reactions=dict(self.reactions),
            clicks={
                pid: (total, len(self.product_clickers[pid]) + self.offsets.get("p:" + pid, 0))
                for pid, total in self.clicks.items()
            },
            unique_clickers=len(self.clickers) + self.offsets.get("clickers", 0),
            unique_viewers=len(self.viewers) + self.offsets.get("viewers", 0),
            peak_viewers=self.peak,
        )


class MemoryLiveState:
    """LiveState of one process (the embedded default, one worker): Redis's semantics, kept in dicts."""

    def __init__(self, settings: Settings):
        self._ttl_s = settings.presence_ttl_s
        self._window_minutes = _window_minutes(settings.trending_window_s)
        # Greenlets (or threads in tests) share this state; no method blocks while holding the lock.
        self._lock = threading.Lock()
        self._rooms: dict[str, _Room] = {}
        self._live: set[str] = set()
        self._leases: dict[str, tuple[str, float]] = {}  # name → (owner, expiry)
        self._buckets: dict[str, list] = {}  # rate bucket → [hits, window end]
        self._next_bucket_sweep = 0.0

    _now = staticmethod(time.monotonic)

    def _room(self, session_id) -> _Room:
        return self._rooms.setdefault(str(session_id), _Room())

    # presence ---------------------------------------------------------------------------------
    def join(self, session_id: str, viewer_key: str) -> int:
        now = self._now()
        with self._lock:
            room = self._room(session_id)
            room.viewer_count(now)  # drop expired presences first, as Redis does
            room.refs[viewer_key] = room.refs.get(viewer_key, 0) + 1
            room.presence[viewer_key] = now + self._ttl_s
            room.next_expiry = min(room.next_expiry, now + self._ttl_s)
            count = room.viewer_count(now)
            room.peak = max(room.peak, count)
            room.viewers.add(viewer_key)
            self._live.add(str(session_id))
            return count

    def leave(self, session_id: str, viewer_key: str) -> int:
        now = self._now()
        with self._lock:
            room = self._rooms.get(str(session_id))
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
        with self._lock:
            room = self._room(session_id)
            for key in viewer_keys:
                room.presence[key] = expiry
            room.next_expiry = min(room.next_expiry, expiry)

    def viewer_count(self, session_id: str) -> int:
        return self.viewer_counts([session_id])[str(session_id)]

    def viewer_counts(self, session_ids: Iterable[str]) -> dict[str, int]:
        now = self._now()
        with self._lock:
            counts = {}
            for sid in map(str, session_ids):
                room = self._rooms.get(sid)
                counts[sid] = room.viewer_count(now) if room else 0
            return counts

    # counters ---------------------------------------------------------------------------------
    def add_reaction(self, session_id: str, reaction_type: str) -> dict[str, int]:
        with self._lock:
            room = self._room(session_id)
            room.reactions[reaction_type] = room.reactions.get(reaction_type, 0) + 1
            self._live.add(str(session_id))
            return dict(room.reactions)

    def reaction_counts(self, session_id: str) -> dict[str, int]:
        return self.on_air_counts([session_id])[str(session_id)].reactions

    def on_air_counts(self, session_ids: Iterable[str]) -> dict[str, OnAirCounts]:
        now = self._now()
        with self._lock:
            rooms = {sid: self._rooms.get(sid) for sid in map(str, session_ids)}
            return {
                sid: OnAirCounts(room.viewer_count(now), dict(room.reactions)) if room else OnAirCounts(0, {})
                for sid, room in rooms.items()
            }

    def record_click(self, session_id: str, product_id: str, clicker_key: str) -> None:
        product_id = str(product_id)
        with self._lock:
            room = self._room(session_id)
            room.clicks[product_id] = room.clicks.get(product_id, 0) + 1
            room.product_clickers[product_id].add(clicker_key)
            room.clickers.add(clicker_key)
            self._live.add(str(session_id))

    def record_engagement(self, session_id: str, weight: int = 1) -> None:
        minutes = _minutes(time.time(), self._window_minutes)
        with self._lock:
            buckets = self._room(session_id).engagement
            for minute in [m for m in buckets if m < minutes.start]:
                del buckets[minute]
            buckets[minutes[-1]] = buckets.get(minutes[-1], 0) + weight

    def engagement(self, session_ids: Iterable[str]) -> dict[str, int]:
        minutes = _minutes(time.time(), self._window_minutes)
        with self._lock:
            result = {}
            for sid in map(str, session_ids):
                room = self._rooms.get(sid)
                result[sid] = sum(w for m, w in room.engagement.items() if m in minutes) if room else 0
            return result

    def totals(self, session_id: str) -> LiveTotals:
        with self._lock:
            room = self._rooms.get(str(session_id))
            return room.totals() if room else LiveTotals()

    def seed(self, session_id: str, totals: LiveTotals) -> None:
        with self._lock:
            room = self._room(session_id)
            for kind, count in totals.reactions.items():
                room.reactions[kind] = max(room.reactions.get(kind, 0), count)
            for pid, (total, unique) in totals.clicks.items():
                pid = str(pid)
                room.clicks[pid] = max(room.clicks.get(pid, 0), total)
                _raise_offset(room.offsets, "p:" + pid, unique - len(room.product_clickers[pid]))
            _raise_offset(room.offsets, "clickers", totals.unique_clickers - len(room.clickers))
            _raise_offset(room.offsets, "viewers", totals.unique_viewers - len(room.viewers))
            room.peak = max(room.peak, totals.peak_viewers)
            self._live.add(str(session_id))

    def drain(self, session_id: str) -> LiveTotals:
        with self._lock:
            room = self._rooms.pop(str(session_id), None)
            self._live.discard(str(session_id))
            return room.totals() if room else LiveTotals()

    # coordination -----------------------------------------------------------------------------
    def mark_dirty(self, session_id: str, kind: str) -> None:
        with self._lock:
            self._room(session_id).dirty.add(kind)

    def take_dirty(self, session_id: str, kind: str) -> bool:
        with self._lock:
            room = self._rooms.get(str(session_id))
            if room is None or kind not in room.dirty:
                return False
            room.dirty.discard(kind)
            return True

    def acquire_lease(self, name: str, owner: str, ttl_s: float) -> bool:
        now = self._now()
        with self._lock:
            lease = self._leases.get(name)
            if lease is not None and lease[0] != owner and lease[1] > now:
                return False
            self._leases[name] = (owner, now + ttl_s)
            return True

    def hit(self, bucket: str, limit: int, window_s: float) -> float:
        now = self._now()
        with self._lock:
            if now >= self._next_bucket_sweep:  # one bucket per connection: forget finished windows
                self._buckets = {b: v for b, v in self._buckets.items() if v[1] > now}
                self._next_bucket_sweep = now + 60
            state = self._buckets.get(bucket)
            if state is None or state[1] <= now:
                state = self._buckets[bucket] = [0, now + window_s]
            state[0] += 1
            return 0.0 if state[0] <= limit else state[1] - now

    def live_sessions(self) -> set[str]:
        with self._lock:
            return set(self._live)

    def ping(self) -> None:
        """Always reachable: it is this process."""


def _raise_offset(offsets: dict[str, int], name: str, missing: int) -> None:
    if missing > offsets.get(name, 0):
        offsets[name] = missing


# --------------------------------------------------------------------------------------------------
# Redis

_SESSIONS_KEY = "bazaar:live:sessions"

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

# Per-product clicker sets are found through the clicks hash, so this script derives their keys
# from the session prefix (all in the room's hash slot, as on a Redis Cluster they must be).
# KEYS: session prefix, presence, refs, engagement buckets... ARGV: session id, drain (0/1).
# Returns {reactions (flat), products (flat pid, total, unique), unique clickers, unique viewers, peak}.
_TOTALS_LUA = """
local p = KEYS[1]
local offsets = {}
local flat = redis.call('HGETALL', p .. ':offsets')
for i = 1, #flat, 2 do offsets[flat[i]] = tonumber(flat[i + 1]) end
local products, doomed = {}, {}
local clicks = redis.call('HGETALL', p .. ':clicks')
for i = 1, #clicks, 2 do
  local clickers = p .. ':clickers:' .. clicks[i]
  table.insert(products, clicks[i])
  table.insert(products, tonumber(clicks[i + 1]))
  table.insert(products, redis.call('SCARD', clickers) + (offsets['p:' .. clicks[i]] or 0))
  table.insert(doomed, clickers)
end
local result = {
  redis.call('HGETALL', p .. ':reactions'),
  products,
  redis.call('SCARD', p .. ':clickers') + (offsets['clickers'] or 0),
  redis.call('SCARD', p .. ':viewers') + (offsets['viewers'] or 0),
  tonumber(redis.call('GET', p .. ':peak') or 0),
}
if ARGV[2] == '1' then
  for _, suffix in ipairs({
    ':peak', ':viewers', ':reactions', ':clicks', ':clickers', ':offsets', ':dirty', ':listed'}) do
    table.insert(doomed, p .. suffix)
  end
  for i = 2, #KEYS do table.insert(doomed, KEYS[i]) end
  redis.call('DEL', unpack(doomed))
end
return result
"""

# Seeding never lowers a live count (the keys may have survived, and be ahead of the checkpoint).
# KEYS: session prefix. ARGV: session id, peak, unique viewers, unique clickers,
# number of reaction types, then type, count pairs, then product id, total, unique triples.
_SEED_LUA = """
local p = KEYS[1]
local function raise(key, field, value)
  if tonumber(redis.call('HGET', key, field) or 0) < tonumber(value) then
    redis.call('HSET', key, field, value)
  end
end
local function raise_offset(field, set, unique)
  raise(p .. ':offsets', field, tonumber(unique) - redis.call('SCARD', set))
end
if tonumber(redis.call('GET', p .. ':peak') or 0) < tonumber(ARGV[2]) then
  redis.call('SET', p .. ':peak', ARGV[2])
end
raise_offset('viewers', p .. ':viewers', ARGV[3])
raise_offset('clickers', p .. ':clickers', ARGV[4])
local first_product = 6 + 2 * tonumber(ARGV[5])
for i = 6, first_product - 1, 2 do raise(p .. ':reactions', ARGV[i], ARGV[i + 1]) end
for i = first_product, #ARGV, 3 do
  raise(p .. ':clicks', ARGV[i], ARGV[i + 1])
  raise_offset('p:' .. ARGV[i], p .. ':clickers:' .. ARGV[i], ARGV[i + 2])
end
redis.call('SET', p .. ':listed', 1)
"""

# KEYS: lease. ARGV: owner, ttl ms. Taking a free lease and renewing one's own are the same SET.
_LEASE_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# A fixed window opened by its first hit. KEYS: bucket. ARGV: window ms, limit. Returns ms to wait.
_HIT_LUA = """
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if hits <= tonumber(ARGV[2]) then return 0 end
return math.max(redis.call('PTTL', KEYS[1]), 1)
"""


def _presence_key(session_id) -> str:
    return f"bazaar:presence:{{{session_id}}}"


def _live_prefix(session_id) -> str:
    return f"bazaar:live:{{{session_id}}}"


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisLiveState:
    """LiveState shared by every worker and host through Redis; each call is one round trip.

    `client`, when given, must decode responses (`decode_responses=True`).
    """

    def __init__(self, settings: Settings, client: redis.Redis | None = None):
        self._redis = client or redis_client(settings, decode_responses=True)
        self._ttl_s = settings.presence_ttl_s
        self._window_minutes = _window_minutes(settings.trending_window_s)
        self._join = self._redis.register_script(_JOIN_LUA)
        self._leave = self._redis.register_script(_LEAVE_LUA)
        self._totals = self._redis.register_script(_TOTALS_LUA)
        self._seed = self._redis.register_script(_SEED_LUA)
        self._lease = self._redis.register_script(_LEASE_LUA)
        self._hit = self._redis.register_script(_HIT_LUA)

    # presence ---------------------------------------------------------------------------------
    # Expiry scores are this host's epoch seconds: hosts need clocks in step (NTP) to well within
    # presence_ttl_s - presence_refresh_s.
    def join(self, session_id: str, viewer_key: str) -> int:
        now = time.time()
        presence = _presence_key(session_id)
        live = _live_prefix(session_id)
        count, unlisted = self._join(
            keys=[presence, presence + ":refs", live + ":peak", live + ":viewers", live + ":listed"],
            args=[viewer_key, now, now + self._ttl_s, _ms(self._ttl_s)],
        )
        if unlisted:
            self._redis.sadd(_SESSIONS_KEY, str(session_id))
        return count

    def leave(self, session_id: str, viewer_key: str) -> int:
        presence = _presence_key(session_id)
        return self._leave(keys=[presence, presence + ":refs"], args=[viewer_key, time.time()])

    def refresh(self, session_id: str, viewer_keys: Iterable[str]) -> None:
        expiry = time.time() + self._ttl_s
        mapping = dict.fromkeys(viewer_keys, expiry)
        if not mapping:
            return
        presence = _presence_key(session_id)
        # A plain ZADD (not XX) re-adds viewers lost to a Redis restart or a stalled worker; the
        # price is that a refresh racing the viewer's last leave keeps it counted for one TTL.
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(presence, mapping)
        pipe.pexpire(presence, _ms(self._ttl_s))
        pipe.pexpire(presence + ":refs", _ms(self._ttl_s))
        pipe.sadd(_SESSIONS_KEY, str(session_id))  # again, should Redis (or its shard) have lost it
        pipe.execute()

    def viewer_count(self, session_id: str) -> int:
        return self._redis.zcount(_presence_key(session_id), f"({time.time()}", "+inf")

    def viewer_counts(self, session_ids: Iterable[str]) -> dict[str, int]:
        sids = [str(sid) for sid in session_ids]
        now = f"({time.time()}"
        pipe = self._redis.pipeline(transaction=False)
        for sid in sids:
            pipe.zcount(_presence_key(sid), now, "+inf")
        return dict(zip(sids, pipe.execute()))

    # counters ---------------------------------------------------------------------------------
    def add_reaction(self, session_id: str, reaction_type: str) -> dict[str, int]:
        live = _live_prefix(session_id)
        pipe = self._redis.pipeline()  # MULTI: the counts returned are exactly those after this one
        pipe.hincrby(live + ":reactions", reaction_type, 1)
        pipe.hgetall(live + ":reactions")
        pipe.set(live + ":listed", 1, nx=True)
        _, counts, unlisted = pipe.execute()
        if unlisted:
            self._redis.sadd(_SESSIONS_KEY, str(session_id))
        return {kind: int(n) for kind, n in counts.items()}

    def reaction_counts(self, session_id: str) -> dict[str, int]:
        return self.on_air_counts([session_id])[str(session_id)].reactions

    def on_air_counts(self, session_ids: Iterable[str]) -> dict[str, OnAirCounts]:
        sids = [str(sid) for sid in session_ids]
        now = f"({time.time()}"
        pipe = self._redis.pipeline(transaction=False)
        for sid in sids:
            pipe.zcount(_presence_key(sid), now, "+inf")
            pipe.hgetall(_live_prefix(sid) + ":reactions")
        replies = pipe.execute()
        return {
            sid: OnAirCounts(viewers, {kind: int(n) for kind, n in reactions.items()})
            for sid, viewers, reactions in zip(sids, replies[::2], replies[1::2])
        }

    def record_click(self, session_id: str, product_id: str, clicker_key: str) -> None:
        live = _live_prefix(session_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hincrby(live + ":clicks", str(product_id), 1)
        pipe.sadd(f"{live}:clickers:{product_id}", clicker_key)
        pipe.sadd(live + ":clickers", clicker_key)
        pipe.sadd(_SESSIONS_KEY, str(session_id))
        pipe.execute()

    def _engagement_keys(self, session_id) -> list[str]:
        live = _live_prefix(session_id)
        return [f"{live}:engagement:{minute}" for minute in _minutes(time.time(), self._window_minutes)]

    def record_engagement(self, session_id: str, weight: int = 1) -> None:
        key = self._engagement_keys(session_id)[-1]
        pipe = self._redis.pipeline(transaction=False)
        pipe.incrby(key, weight)
        pipe.expire(key, (self._window_minutes + 1) * _ENGAGEMENT_BUCKET_S)
        pipe.execute()

    def engagement(self, session_ids: Iterable[str]) -> dict[str, int]:
        sids = [str(sid) for sid in session_ids]
        if not sids:
            return {}
        keys = [self._engagement_keys(sid) for sid in sids]
        pipe = self._redis.pipeline(transaction=False)  # GETs: a cluster pipeline refuses MGET
        for key in (key for session_keys in keys for key in session_keys):
            pipe.get(key)
        values = iter(pipe.execute())
        return {
            sid: sum(int(next(values) or 0) for _ in session_keys) for sid, session_keys in zip(sids, keys)
        }

    def _read_totals(self, session_id, drain: bool) -> LiveTotals:
        presence = _presence_key(session_id)
        keys = [_live_prefix(session_id), presence, presence + ":refs"]
        if drain:
            keys += self._engagement_keys(session_id)
        reactions, products, clickers, viewers, peak = self._totals(
            keys=keys, args=[str(session_id), int(drain)]
        )
        if drain:
            self._redis.srem(_SESSIONS_KEY, str(session_id))
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
        return self._read_totals(session_id, drain=False)

    def seed(self, session_id: str, totals: LiveTotals) -> None:
        # Unique viewers and clickers were sets; only their sizes were persisted. The sizes come back
        # as offsets added to the (new) sets, so someone who clicked before the restart and clicks
        # again is counted twice: unique counts can run high after a resume, never low.
        args = [
            str(session_id),
            totals.peak_viewers,
            totals.unique_viewers,
            totals.unique_clickers,
            len(totals.reactions),
        ]
        for kind, count in totals.reactions.items():
            args += [kind, count]
        for pid, (total, unique) in totals.clicks.items():
            args += [str(pid), total, unique]
        self._seed(keys=[_live_prefix(session_id)], args=args)
        self._redis.sadd(_SESSIONS_KEY, str(session_id))

    def drain(self, session_id: str) -> LiveTotals:
        return self._read_totals(session_id, drain=True)

    # coordination -----------------------------------------------------------------------------
    def mark_dirty(self, session_id: str, kind: str) -> None:
        self._redis.hset(_live_prefix(session_id) + ":dirty", kind, 1)

    def take_dirty(self, session_id: str, kind: str) -> bool:
        # HDEL answers whether the field was there: exactly one worker sees each mark.
        return self._redis.hdel(_live_prefix(session_id) + ":dirty", kind) == 1

    def acquire_lease(self, name: str, owner: str, ttl_s: float) -> bool:
        return self._lease(keys=[f"bazaar:lease:{name}"], args=[owner, _ms(ttl_s)]) == 1

    def hit(self, bucket: str, limit: int, window_s: float) -> float:
        return self._hit(keys=[f"bazaar:rate:{bucket}"], args=[_ms(window_s), limit]) / 1000.0

    def live_sessions(self) -> set[str]:
        return set(self._redis.smembers(_SESSIONS_KEY))

    def ping(self) -> None:
        self._redis.ping()
