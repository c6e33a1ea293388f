"""Reads shared by the greenlets asking for the same key in the same turn of the event loop (`SharedReads`):
one read for all of them, sent after every one of them asked; a greenlet asking while a read runs reads
anew; errors are shared, an interrupted first asker is replaced; a key nobody else asks for is read at once.
"""

from __future__ import annotations

import threading

import gevent
import gevent.event
from gevent._hub_local import get_hub_if_exists

from bazaar.infra.shared_reads import SharedReads
from tests.support.waiting import wait_until


class SlowRead:
    """A read that waits until released, noting when it was sent among the asks (`log`)."""

    def __init__(self):
        self.log: list[str] = []
        self.calls = 0
        self.release = gevent.event.Event()
        self.failure: Exception | None = None

    def __call__(self, key):
        self.calls += 1
        number = self.calls
        self.log.append(f"read {key}")
        self.release.wait(5)
        if self.failure is not None:
            raise self.failure
        return {"key": key, "read": number}

    def ask(self, shared: SharedReads, key, name: str):
        self.log.append(f"ask {name}")
        try:
            return shared(key)
        except Exception as failure:
            return failure


def asking_at_once(read: SlowRead, shared: SharedReads, key, count: int) -> list[gevent.Greenlet]:
    """`count` greenlets asking for `key`, all started in the same turn of the loop."""
    askers = [gevent.spawn(read.ask, shared, key, str(n)) for n in range(count)]
    gevent.sleep(0.01)  # every one of them has asked
    return askers


def answers(askers: list[gevent.Greenlet]) -> list:
    gevent.joinall(askers, timeout=5)
    assert all(asker.ready() for asker in askers)
    return [asker.value for asker in askers]


def test_greenlets_asking_in_one_turn_share_a_read_sent_after_they_all_asked():
    read = SlowRead()
    shared = SharedReads(read)
    askers = asking_at_once(read, shared, "page", 5)
    read.release.set()
    first, *others = answers(askers)
    # The first asker found nobody asking: its read went at once. The others, asking in the same turn,
    # share one read, sent once all five had asked.
    assert read.log == ["ask 0", "read page", "ask 1", "ask 2", "ask 3", "ask 4", "read page"]
    assert first == {"key": "page", "read": 1}
    assert all(answer is others[0] for answer in others) and others[0] == {"key": "page", "read": 2}


def test_a_greenlet_asking_while_the_shared_read_runs_reads_anew():
    read = SlowRead()
    shared = SharedReads(read)
    askers = asking_at_once(read, shared, "page", 3)
    assert read.calls == 2  # both reads sent, neither answered
    late = gevent.spawn(read.ask, shared, "page", "late")
    gevent.sleep(0.01)
    read.release.set()
    assert answers(askers)[1:] == [{"key": "page", "read": 2}] * 2
    assert answers([late]) == [{"key": "page", "read": 3}]  # its own read, sent after it asked


def test_other_keys_are_read_apart():
    read = SlowRead()
    shared = SharedReads(read)
    pages = asking_at_once(read, shared, "page", 3)
    products = asking_at_once(read, shared, "product", 3)
    read.release.set()
    assert [a["key"] for a in answers(pages)] == ["page"] * 3
    assert [a["key"] for a in answers(products)] == ["product"] * 3
    assert read.calls == 4


def test_the_greenlets_sharing_a_failed_read_get_its_error_and_the_next_ask_reads_anew():
    read = SlowRead()
    read.failure = ConnectionError("the database is gone")
    shared = SharedReads(read)
    askers = asking_at_once(read, shared, "page", 4)
    read.release.set()
    assert answers(askers) == [read.failure] * 4 and read.calls == 2
    read.failure = None
    assert shared("page") == {"key": "page", "read": 3}


def test_when_the_greenlet_reading_for_the_others_is_killed_they_read_again():
    read = SlowRead()
    shared = SharedReads(read)
    askers = asking_at_once(read, shared, "page", 4)  # the second reads for the last three
    askers[1].kill()  # a client gone, a request's timeout: mid-read
    read.release.set()
    assert answers([askers[0], *askers[2:]]) == [
        {"key": "page", "read": 1},
        {"key": "page", "read": 3},
        {"key": "page", "read": 3},
    ]


def test_a_key_asked_for_once_per_turn_is_read_without_waiting_for_the_turn_to_end():
    hub = gevent.get_hub()
    turns = []
    shared = SharedReads(lambda key: turns.append(hub.loop.iteration))
    for _ in range(3):
        asked_in = hub.loop.iteration
        shared("product")
        assert turns[-1] == asked_in
        gevent.sleep(0.001)


def test_threads_without_an_event_loop_read_apart():
    """Without making an event loop for the thread (a hub and its epoll descriptor per thread)."""
    read_calls = []
    hubs_made = []
    release = threading.Event()

    def read(key):
        read_calls.append(key)
        hubs_made.append(get_hub_if_exists())
        release.wait(5)
        return key

    shared = SharedReads(read)
    threads = [threading.Thread(target=shared, args=("page",), daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(read_calls) == 3, timeout_s=5)  # all three reading at once, none joining another
    release.set()
    for thread in threads:
        thread.join(5)
    assert read_calls == ["page"] * 3
    assert hubs_made == [None] * 3
