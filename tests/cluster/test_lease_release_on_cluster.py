"""Releasing leases (tests/realtime/test_lease_release.py) on a Redis Cluster, where the leases of one
worker lie on every shard: no script reaches them all, each shard gets its own."""

from __future__ import annotations

from tests.cluster.test_live_state_on_cluster import worker  # noqa: F401 — fixture
from tests.realtime import test_lease_release as semantics

# The lease stores' and the room jobs' tests, collected here again with the cluster's `worker`.
globals().update(
    {
        name: test
        for name, test in vars(semantics).items()
        if name
        in (
            "test_released_leases_can_be_taken_by_another_owner_at_once",
            "test_another_owners_lease_is_never_released",
            "test_a_stopping_worker_releases_the_leases_it_holds_and_no_other",
        )
    }
)


def test_leases_on_every_shard_are_released_at_once(worker, redis_cluster):  # noqa: F811
    first, second = worker(), worker()
    names = [f"click-stats:show-{n}" for n in range(30)]
    assert {redis_cluster.port_of(f"bazaar:lease:{name}") for name in names} == set(redis_cluster.ports)
    for name in names:
        assert first.acquire_lease(name, "worker-1", semantics.LONG_TTL_S)
    assert second.acquire_lease("click-stats:show-taken", "worker-2", semantics.LONG_TTL_S)

    assert first.release_leases([*names, "click-stats:show-taken"], "worker-1") == len(names)

    assert all(second.acquire_lease(name, "worker-2", semantics.LONG_TTL_S) for name in names)
    assert not first.acquire_lease("click-stats:show-taken", "worker-1", semantics.LONG_TTL_S)
