"""A session's room: where its live state is kept, in Redis and in this process.

Redis keys of a room (`<sid>` a session id). `{<sid>}` is the room's hash tag: on a Redis Cluster every
key of a room lives in one slot, so each script and MULTI touches one shard.
  bazaar:presence:{<sid>}              ZSET viewer key → expiry (epoch s); counted while unexpired
  bazaar:presence:{<sid>}:refs         HASH viewer key → open connections (two tabs count once)
  bazaar:live:{<sid>}:peak             exact peak viewer count
  bazaar:live:{<sid>}:viewers          SET of every viewer key that joined
  bazaar:live:{<sid>}:reactions        HASH type → count
  bazaar:live:{<sid>}:clicks           HASH product id → total clicks
  bazaar:live:{<sid>}:clickers         SET of clicker keys (any product)
  bazaar:live:{<sid>}:clickers:<pid>   SET of clicker keys of one product
  bazaar:live:{<sid>}:offsets          HASH of unique counts restored by `seed`, and its WHOLE mark
                                       (checkpoints.py)
  bazaar:live:{<sid>}:dirty            HASH kind → 1 while a periodic broadcast is due
  bazaar:live:{<sid>}:engagement:<m>   engagement in epoch minute m (expires after the trending window)
  bazaar:live:{<sid>}:listed           set once the session is in bazaar:live:sessions
  bazaar:live:sessions                 SET of sessions with live counters (kept outside the rooms'
                                       scripts: it has a slot of its own)
Every name is made here (`RoomKeys`); the scripts are handed their keys, and build a product's clicker
set from `clickers` as `product_clickers` does.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass, field

import redis
from redis.commands.core import Script

SESSIONS_KEY = "bazaar:live:sessions"


class RoomKeys:
    """The Redis key names of one session's room."""

    def __init__(self, session_id):
        self.presence = f"bazaar:presence:{{{session_id}}}"
        self.refs = self.presence + ":refs"
        self.live = f"bazaar:live:{{{session_id}}}"
        self.peak = self.live + ":peak"
        self.viewers = self.live + ":viewers"
        self.reactions = self.live + ":reactions"
        self.clicks = self.live + ":clicks"
        self.clickers = self.live + ":clickers"
        self.offsets = self.live + ":offsets"
        self.dirty = self.live + ":dirty"
        self.listed = self.live + ":listed"

    def product_clickers(self, product_id) -> str:
        return f"{self.clickers}:{product_id}"

    def engagement(self, minute: int) -> str:
        return f"{self.live}:engagement:{minute}"


def ms(seconds: float) -> int:
    """Redis expiries and windows are whole milliseconds, at least one."""
    return max(1, int(seconds * 1000))


def many_rooms_script(client: redis.Redis | redis.RedisCluster, source: str) -> Script | None:
    """A script reading or writing many rooms' keys in one command, or None on a Redis Cluster: a script
    reaches one shard's keys only, so there the caller pipelines a command per room instead."""
    return None if isinstance(client, redis.RedisCluster) else client.register_script(source)


@dataclass
class Room:
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
    offsets: dict[str, int] = field(default_factory=dict)  # see checkpoints.py, seed
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


class MemoryRooms:
    """The rooms of this process. Greenlets (or threads in tests) share them: hold `lock` while reading
    or changing a room, and block on nothing meanwhile."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rooms: dict[str, Room] = {}
        self.listed: set[str] = set()  # sessions with live counters (bazaar:live:sessions)

    def room(self, session_id) -> Room:
        return self.rooms.setdefault(str(session_id), Room())
