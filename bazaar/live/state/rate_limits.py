"""Rate limits shared by every worker: N events per fixed window, the window opened by its first event.

Redis keys: bazaar:rate:<bucket>   the bucket's count in the current window (expires with it)
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis

from bazaar.live.state.rooms import ms


class RateLimits(Protocol):
    def hit(self, bucket: str, limit: int, window_s: float) -> float:
        """Count one event in `bucket`; 0.0 when allowed, else seconds until allowed."""


def _bucket_key(bucket: str) -> str:
    return f"bazaar:rate:{bucket}"


class MemoryRateLimits:
    """Rate limits of this process (the embedded default, one worker)."""

    _SWEEP_EVERY_S = 60

    def __init__(self):
        self._lock = threading.Lock()
        self._buckets: dict[str, list] = {}  # bucket → [hits, window end]
        self._next_sweep = 0.0

    _now = staticmethod(time.monotonic)

    def hit(self, bucket: str, limit: int, window_s: float) -> float:
        now = self._now()
        with self._lock:
            if now >= self._next_sweep:  # one bucket per connection: forget finished windows
                self._buckets = {b: v for b, v in self._buckets.items() if v[1] > now}
                self._next_sweep = now + self._SWEEP_EVERY_S
            state = self._buckets.get(bucket)
            if state is None or state[1] <= now:
                state = self._buckets[bucket] = [0, now + window_s]
            state[0] += 1
            return 0.0 if state[0] <= limit else state[1] - now


# KEYS: bucket. ARGV: window ms, limit. Returns ms to wait.
_HIT_LUA = """
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if hits <= tonumber(ARGV[2]) then return 0 end
return math.max(redis.call('PTTL', KEYS[1]), 1)
"""


class RedisRateLimits:
    """Rate limits in Redis: one round trip per event."""

    def __init__(self, client: redis.Redis):
        self._hit_script = client.register_script(_HIT_LUA)

    def hit(self, bucket: str, limit: int, window_s: float) -> float:
        return self._hit_script(keys=[_bucket_key(bucket)], args=[ms(window_s), limit]) / 1000.0
