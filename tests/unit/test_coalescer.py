"""Coalesced broadcasts across workers: the workers of a cluster (here two coalescers sharing one store of
turns, as workers share Redis) send a key at most once per interval between them, and the last change is
always followed by a send that reads it."""

from __future__ import annotations

import time

import gevent

from bazaar.live.coalesce import Coalescer
from bazaar.live.state.leases import MemoryLeases

INTERVAL_S = 0.1


class _Unreachable:
    def take_turn(self, name: str, owner: str, period_s: float) -> bool:
        raise ConnectionError("the shared store is down")


def _changes(workers: list[Coalescer], seconds: float, sent: list[int]) -> tuple[list[int], float]:
    """Each worker in turn changes the value and touches the key, every 5 ms for `seconds`; the value."""
    value = [0]
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        for worker in workers:
            value[0] += 1
            worker.touch("stock:show:lamp", lambda: sent.append(value[0]))
            gevent.sleep(0.005)
    return value, time.monotonic() - started


def test_the_workers_send_once_per_interval_between_them_and_the_last_value_always():
    turns = MemoryLeases()
    workers = [Coalescer(INTERVAL_S, turns) for _ in range(2)]
    sent: list[int] = []
    value, elapsed = _changes(workers, 1.0, sent)
    gevent.sleep(4 * INTERVAL_S)  # every pending send has gone out
    assert sent[-1] == value[0]
    # One per interval, and at the end one more per worker that had changes left. A coalescer per worker
    # sent about twice as many (each its own per interval).
    assert len(sent) <= elapsed / INTERVAL_S + 1 + len(workers)
    assert sent == sorted(sent)


def test_a_quiet_key_is_sent_at_once():
    workers = [Coalescer(INTERVAL_S, MemoryLeases()) for _ in range(2)]
    sent: list[str] = []
    workers[0].touch("stock:show:lamp", lambda: sent.append("now"))
    assert sent == ["now"]


def test_without_the_shared_store_each_worker_still_sends_the_last_value():
    workers = [Coalescer(INTERVAL_S, _Unreachable()) for _ in range(2)]
    sent: list[int] = []
    value, _ = _changes(workers, 0.3, sent)
    gevent.sleep(4 * INTERVAL_S)
    assert sent[-1] == value[0]
