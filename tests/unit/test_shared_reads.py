"""Live counts read once for the pages that ask for them at the same time (`SharedReads`, database search):
callers arriving while a read runs get its answer or its error; a caller arriving after it reads anew."""

from __future__ import annotations

import threading
import time

from bazaar.infra.search.database import SharedReads


class SlowCounts:
    """A read that waits until released, counting its calls."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.failure: Exception | None = None

    def __call__(self, key):
        self.calls.append(key)
        self.started.set()
        assert self.release.wait(5)
        if self.failure is not None:
            raise self.failure
        return {session: len(self.calls) for session in key}


def ask_in_threads(shared: SharedReads, key, count: int) -> tuple[list, list[threading.Thread]]:
    answers: list = []

    def ask():
        try:
            answers.append(shared(key))
        except Exception as failure:
            answers.append(failure)

    threads = [threading.Thread(target=ask, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)  # time to reach the shared read
    return answers, threads


def test_callers_asking_while_a_read_runs_share_its_answer_and_later_callers_read_anew():
    counts = SlowCounts()
    shared = SharedReads(counts)
    first, [leader] = ask_in_threads(shared, ("a", "b"), 1)
    assert counts.started.wait(5)
    joined, threads = ask_in_threads(shared, ("a", "b"), 3)
    other, [other_thread] = ask_in_threads(shared, ("c",), 1)  # another key is read apart
    counts.release.set()
    for thread in [leader, *threads, other_thread]:
        thread.join(5)
    assert len(first + joined) == 4 and all(answer is first[0] for answer in joined)
    assert sorted(counts.calls) == [("a", "b"), ("c",)]
    assert shared(("a", "b")) == {"a": 3, "b": 3}  # after the read ended: read again


def test_callers_sharing_a_failed_read_get_its_error():
    counts = SlowCounts()
    counts.failure = ConnectionError("redis is gone")
    shared = SharedReads(counts)
    first, [leader] = ask_in_threads(shared, ("a",), 1)
    assert counts.started.wait(5)
    joined, threads = ask_in_threads(shared, ("a",), 2)
    counts.release.set()
    for thread in [leader, *threads]:
        thread.join(5)
    assert first + joined == [counts.failure] * 3 and counts.calls == [("a",)]
    counts.failure = None
    assert shared(("a",)) == {"a": 2}  # the next caller reads anew
