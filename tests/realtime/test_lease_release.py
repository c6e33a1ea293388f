"""A worker that stops gives back the room leases it holds (click stats, reaction stats): another worker
with members in those rooms takes their broadcasts over at its next interval, instead of once the leases
have expired (up to one and a half intervals of silence after every deploy).

The lease stores run in memory and on the unit tests' Redis (as in test_live_state.py); the last test
runs two server instances on the shared PostgreSQL and Redis (postgres mode only).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import gevent
import pytest

from bazaar.entry.jobs.rooms import RealtimeJobs
from bazaar.infra.broker import MemoryBroker
from bazaar.live.hub import Hub
from bazaar.live.state import RedisLiveState
from config import Settings
from tests.load.chaos import PrivateRedis
from tests.realtime.conftest import launch
from tests.realtime.test_live_state import OTHER_SHOW, SHOW, worker  # noqa: F401 — fixture
from tests.support import databases
from tests.support.waiting import wait_until
from tests.support.ws_client import WsClient

LONG_TTL_S = 60.0  # longer than any test: such a lease is free again only because it was released
CLICKS = f"click-stats:{SHOW}"
REACTIONS = f"reaction-stats:{SHOW}"
OTHER_CLICKS = f"click-stats:{OTHER_SHOW}"


# the lease stores -----------------------------------------------------------------------------------


def test_released_leases_can_be_taken_by_another_owner_at_once(worker):  # noqa: F811
    first, second = worker(), worker()
    for name in (CLICKS, REACTIONS, OTHER_CLICKS):
        assert first.acquire_lease(name, "worker-1", LONG_TTL_S)
        assert not second.acquire_lease(name, "worker-2", LONG_TTL_S)

    assert first.release_leases([CLICKS, REACTIONS, OTHER_CLICKS], "worker-1") == 3

    assert [
        second.acquire_lease(name, "worker-2", LONG_TTL_S) for name in (CLICKS, REACTIONS, OTHER_CLICKS)
    ] == [True] * 3


def test_another_owners_lease_is_never_released(worker):  # noqa: F811
    first, second, third = worker(), worker(), worker()
    assert first.acquire_lease(CLICKS, "worker-1", LONG_TTL_S)
    assert second.release_leases([CLICKS], "worker-2") == 0
    assert not second.acquire_lease(CLICKS, "worker-2", LONG_TTL_S)

    # A lease its first owner let lapse, and that went to another worker meanwhile, stays with that worker
    # when the first one stops.
    assert first.acquire_lease(OTHER_CLICKS, "worker-1", 0.2)
    assert wait_until(lambda: second.acquire_lease(OTHER_CLICKS, "worker-2", LONG_TTL_S), timeout_s=5)
    assert first.release_leases([OTHER_CLICKS, REACTIONS], "worker-1") == 0
    assert not third.acquire_lease(OTHER_CLICKS, "worker-3", LONG_TTL_S)
    assert first.release_leases([CLICKS], "worker-1") == 1  # its own, still held, goes
    assert third.acquire_lease(CLICKS, "worker-3", LONG_TTL_S)


# a worker's room jobs ---------------------------------------------------------------------------------


class Member:
    """A local member of a room, as the hub sees it."""

    def enqueue(self, frame) -> bool:
        return True

    def overflow(self) -> None:
        pass


def room_jobs(live_state, *rooms: str, **settings) -> RealtimeJobs:
    """The room jobs of a worker with a member in each of `rooms` (nothing changed there: no broadcast, so
    no publisher nor sessions are needed)."""
    hub = Hub(MemoryBroker())
    for room in rooms:
        hub.join(room, Member())
    return RealtimeJobs(
        Settings().with_overrides(**settings), hub, live_state, None, None, None, None, connections=set()
    )


def test_a_stopping_worker_releases_the_leases_it_holds_and_no_other(worker):  # noqa: F811
    state, other_state = worker(), worker()
    assert other_state.acquire_lease(OTHER_CLICKS, "another-worker", LONG_TTL_S)
    stopping = room_jobs(state, SHOW, OTHER_SHOW)
    stopping.broadcast_click_stats()
    stopping.broadcast_reaction_stats()
    assert not other_state.acquire_lease(CLICKS, "another-worker", LONG_TTL_S)

    stopping.stop()

    assert other_state.acquire_lease(CLICKS, "another-worker", LONG_TTL_S)
    assert other_state.acquire_lease(REACTIONS, "another-worker", LONG_TTL_S)
    assert not worker().acquire_lease(OTHER_CLICKS, "a-third-worker", LONG_TTL_S)  # never the stopping one's


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs a redis-server of its own to stop")
def test_a_stop_during_a_redis_outage_ends_at_once_and_logs_it_once(caplog):
    redis = PrivateRedis()
    try:
        state = RedisLiveState(Settings().with_overrides(redis_url=redis.url))
        stopping = room_jobs(state, SHOW, OTHER_SHOW)
        stopping.broadcast_click_stats()
        stopping.broadcast_reaction_stats()
    finally:
        redis.stop()
    caplog.set_level(logging.WARNING, logger="bazaar.entry.jobs.rooms")

    started = time.monotonic()
    stopping.stop()

    assert time.monotonic() - started < 2  # click stats' lease lasts 3 s by default
    [logged] = [r.getMessage() for r in caplog.records if r.name == "bazaar.entry.jobs.rooms"]
    assert "releasing 4 room lease(s) failed" in logged


def test_a_store_that_does_not_answer_holds_up_the_stop_no_longer_than_a_lease_lasts(worker, caplog):  # noqa: F811
    state = worker()
    stopping = room_jobs(state, SHOW, click_stats_interval_s=0.4, reaction_stats_interval_s=0.2)
    stopping.broadcast_click_stats()
    stopping.live_state.release_leases = lambda names, owner: gevent.sleep(LONG_TTL_S)
    caplog.set_level(logging.WARNING, logger="bazaar.entry.jobs.rooms")

    started = time.monotonic()
    stopping.stop()

    assert time.monotonic() - started < LONG_TTL_S / 4  # the wait ends with the longest lease, 0.6 s
    [logged] = [r.getMessage() for r in caplog.records if r.name == "bazaar.entry.jobs.rooms"]
    assert "no answer within 0.6 s" in logged


# across instances -----------------------------------------------------------------------------------

# The stopping instance's click-stats interval: its lease lasts 1.5 of them (9 s) from its last renewal.
# The test stops it right after one of its broadcasts, i.e. right after a renewal; the other instance
# (CLICK_STATS_INTERVAL_S 1) must broadcast well before the lease would have expired.
HOLDER_INTERVAL_S = 6
HOLDER_LEASE_S = HOLDER_INTERVAL_S * 1.5


@pytest.mark.skipif(not databases.postgres_mode(), reason="two instances share the leases through Redis only")
def test_viewers_keep_getting_click_stats_when_the_broadcasting_instance_stops(
    connect, server, server_env, live_show, product
):
    holder = launch({**server_env, "CLICK_STATS_INTERVAL_S": str(HOLDER_INTERVAL_S)}, "lease-holder")
    click = {"sessionId": live_show["id"], "productId": product["id"]}
    clicking = threading.Event()
    try:
        # The holder's worker takes the room's lease: it is the only one with a member there.
        holder_member = WsClient(holder.ws_url).connect()
        holder_member.join(live_show)
        holder_member.send("product-click", click)
        holder_member.expect("product-click-stats", timeout_s=HOLDER_INTERVAL_S + 5)

        watcher = connect(on=server)
        watcher.join(live_show)

        def keep_clicking():
            while not clicking.wait(0.25):  # four a second, under the per-connection limit
                watcher.send("product-click", click)

        threading.Thread(target=keep_clicking, daemon=True).start()
        watcher.expect("product-click-stats", timeout_s=HOLDER_INTERVAL_S + 5)  # the holder's, just renewed

        with ThreadPoolExecutor(1) as pool:
            stopped_at = time.monotonic()
            stopping = pool.submit(holder.stop)
            watcher.expect("product-click-stats", timeout_s=HOLDER_LEASE_S + 5)
            silence_s = time.monotonic() - stopped_at
            assert stopping.result() == 0

        assert silence_s < HOLDER_LEASE_S / 2, f"click stats paused {silence_s:.1f} s after the stop"
    finally:
        clicking.set()
        holder.kill()
