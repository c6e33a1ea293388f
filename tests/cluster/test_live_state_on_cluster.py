"""The live-state semantics (tests/realtime/test_live_state.py) on a Redis Cluster: every room's keys share
its hash tag, so its scripts and transactions run on one shard, while lists of sessions span shards."""

from __future__ import annotations

import pytest

from bazaar.live.state import RedisLiveState
from config import Settings
from tests.cluster.conftest import keys_on_every_master
from tests.realtime import test_live_state as semantics

# The same tests, collected here again with this module's `worker`. (Those about one Redis database's
# keys and about configuration stay there.)
globals().update(
    {
        name: test
        for name, test in vars(semantics).items()
        if name.startswith("test_")
        and name
        not in (
            "test_drain_leaves_no_redis_keys_behind",
            "test_make_live_state_uses_redis_only_when_configured",
        )
    }
)


@pytest.fixture
def worker(redis_cluster):
    """`worker(**settings)` → the LiveState of one more worker, on the emptied cluster."""
    redis_cluster.flush()

    def make(**overrides):
        return RedisLiveState(
            Settings().with_overrides(redis_url=redis_cluster.url, redis_cluster=True, **overrides)
        )

    return make


def test_sessions_on_every_shard_are_counted_and_listed(worker, redis_cluster):
    state = worker()
    sessions = keys_on_every_master(redis_cluster, "show-")  # their hash tags' slots too
    for n, sid in enumerate(sessions):
        for viewer in range(n + 1):
            state.join(sid, f"u:{viewer}")
        state.add_reaction(sid, "like")
        state.record_engagement(sid, n + 1)

    assert {sid: counts.viewers for sid, counts in state.on_air_counts(sessions).items()} == {
        sid: n + 1 for n, sid in enumerate(sessions)
    }
    assert state.engagement(sessions) == {sid: n + 1 for n, sid in enumerate(sessions)}
    assert state.live_sessions() == set(sessions)
    state.drain(sessions[0])
    assert state.live_sessions() == set(sessions[1:])
    assert redis_cluster.node(redis_cluster.port_of(sessions[0])).keys(f"*{{{sessions[0]}}}*") == []
