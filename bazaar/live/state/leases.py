"""Leases: named jobs (a room's periodic broadcast, the checkpoint walk) that one worker at a time does.

Redis keys: bazaar:lease:<name>   the lease's owner (expires after the lease's ttl)
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis

from bazaar.live.state.rooms import ms


class Leases(Protocol):
    def acquire_lease(self, name: str, owner: str, ttl_s: float) -> bool:
        """Hold (or renew) a named lease for `ttl_s`; only one owner at a time cluster-wide."""


def _lease_key(name: str) -> str:
    return f"bazaar:lease:{name}"


class MemoryLeases:
    """Leases of this process (the embedded default, one worker)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._leases: dict[str, tuple[str, float]] = {}  # name → (owner, expiry)

    _now = staticmethod(time.monotonic)

    def acquire_lease(self, name: str, owner: str, ttl_s: float) -> bool:
        now = self._now()
        with self._lock:
            lease = self._leases.get(name)
            if lease is not None and lease[0] != owner and lease[1] > now:
                return False
            self._leases[name] = (owner, now + ttl_s)
            return True


# KEYS: lease. ARGV: owner, ttl ms. Taking a free lease and renewing one's own are the same SET.
_LEASE_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class RedisLeases:
    """Leases in Redis: one round trip per acquisition or renewal."""

    def __init__(self, client: redis.Redis):
        self._lease_script = client.register_script(_LEASE_LUA)

    def acquire_lease(self, name: str, owner: str, ttl_s: float) -> bool:
        return self._lease_script(keys=[_lease_key(name)], args=[owner, ms(ttl_s)]) == 1
