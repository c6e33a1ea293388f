"""Leases and turns: named jobs that one worker at a time does.

A lease (a room's periodic broadcast) stays with its owner while it renews it, until it releases it (a
worker stopping); a turn (the checkpoint walk) goes to the first worker that asks once the previous
turn's period is over, whoever took that one, so a dead worker never holds it past its period.

Redis keys: bazaar:lease:<name>   the lease's owner, or the turn's taker (expires after the ttl / period)
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis

from bazaar.live.state.rooms import many_rooms_script, ms


class Leases(Protocol):
    def acquire_lease(self, name: str, owner: str, ttl_s: float) -> bool:
        """Hold (or renew) a named lease for `ttl_s`; only one owner at a time cluster-wide."""

    def release_leases(self, names: list[str], owner: str) -> int:
        """Give up the named leases `owner` holds, at once: another owner may take them straight away.
        Leases held by someone else stay theirs. Returns how many were released."""

    def take_turn(self, name: str, owner: str, period_s: float) -> bool:
        """True for one caller cluster-wide per `period_s` (counted from the turn taken): the caller does
        the named job now. Taking the turn again needs the period over, for its taker too."""


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

    def release_leases(self, names: list[str], owner: str) -> int:
        with self._lock:
            held = [name for name in names if name in self._leases and self._leases[name][0] == owner]
            for name in held:
                del self._leases[name]
            return len(held)

    def take_turn(self, name: str, owner: str, period_s: float) -> bool:
        now = self._now()
        with self._lock:
            turn = self._leases.get(name)
            if turn is not None and turn[1] > now:
                return False
            self._leases[name] = (owner, now + period_s)
            return True


# KEYS: lease. ARGV: owner, ttl ms. Taking a free lease and renewing one's own are the same SET.
_LEASE_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


# KEYS: leases. ARGV: owner. Compare and delete: a lease someone else took meanwhile stays theirs.
_RELEASE_LUA = """
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    released = released + redis.call('DEL', key)
  end
end
return released
"""


class RedisLeases:
    """Leases in Redis: one round trip per acquisition or renewal, and for releasing many."""

    def __init__(self, client: redis.Redis | redis.RedisCluster):
        self._client = client
        self._lease_script = client.register_script(_LEASE_LUA)
        self._release_script = many_rooms_script(client, _RELEASE_LUA)

    def acquire_lease(self, name: str, owner: str, ttl_s: float) -> bool:
        return self._lease_script(keys=[_lease_key(name)], args=[owner, ms(ttl_s)]) == 1

    def release_leases(self, names: list[str], owner: str) -> int:
        keys = [_lease_key(name) for name in names]
        if self._release_script is not None:
            return self._release_script(keys=keys, args=[owner])
        # One script per lease; a cluster pipeline sends each shard its own. EVAL with the text: a cluster
        # pipeline refuses EVALSHA (and ClusterPipeline.eval takes no script).
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("EVAL", _RELEASE_LUA, 1, key, owner)
        return sum(pipe.execute())

    def take_turn(self, name: str, owner: str, period_s: float) -> bool:
        return bool(self._client.set(_lease_key(name), owner, nx=True, px=ms(period_s)))
