"""Reads shared by the greenlets that ask for the same thing in the same turn of the event loop.

Under load a worker's greenlets often ask for exactly the same rows at once (a popular search page, the
product every viewer of a show opens): each asking PostgreSQL (or Redis) for its own copy cost a round
trip, the server's work on the statement and the driver's decoding of the rows, once per request.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import gevent
import gevent.event
from gevent._hub_local import get_hub_if_exists  # what gevent.get_hub() uses, without making a hub

_T = TypeVar("_T")


class SharedReads(Generic[_T]):
    """`shared(key)`: `read(key)`, once for the greenlets that ask for the same key in the same turn.

    A key asked for more than once in this turn of the loop or the last is in demand: its asker lets the
    loop run the other greenlets that are ready first (`gevent.sleep(0)` comes back after them, before the
    loop polls again), then reads for all who asked meanwhile. The read is sent after every one of them
    asked, so each gets an answer as fresh as a read of its own: none joins a read already sent (a greenlet
    asking while one runs gathers the next). They share its answer (never change it) or its error. When
    the first is interrupted (a timeout, a kill) before its read ends, the others gather again. Any other
    key is read at once: waiting for the turn to end would delay a read that nobody shares. Greenlets of
    different threads (hubs) never share, and a thread without an event loop always reads at once.
    """

    _REMEMBERED = 1024  # keys whose last turn is remembered (all forgotten when full)

    def __init__(self, read: Callable[[Hashable], _T]):
        self._read = read
        self._gathering: dict[tuple, _Gathering] = {}  # (hub, key) → the read being gathered
        self._asked: dict[tuple, tuple[int, bool]] = {}  # (hub, key) → (last turn asked in, more than once)

    def __call__(self, key: Hashable) -> _T:
        hub = get_hub_if_exists()
        if hub is None:
            return self._read(key)
        slot = (hub, key)
        in_demand = self._asked_in(slot, hub.loop.iteration)
        while True:
            gathering = self._gathering.get(slot)
            if gathering is None:
                return self._lead(slot, key) if in_demand else self._read(key)
            gathering.done.wait()
            if gathering.failure is not None:
                raise gathering.failure
            if gathering.answered:
                return gathering.answer

    def _asked_in(self, slot: tuple, turn: int) -> bool:
        """Note an ask in `turn`; whether the key is in demand (asked more than once in this turn or the
        last)."""
        last_turn, repeated = self._asked.get(slot, (-2, False))
        if len(self._asked) >= self._REMEMBERED:
            self._asked.clear()
        self._asked[slot] = (turn, last_turn == turn)
        return last_turn == turn or (repeated and last_turn == turn - 1)

    def _lead(self, slot: tuple, key: Hashable) -> _T:
        gathering = self._gathering[slot] = _Gathering()
        try:
            try:
                gevent.sleep(0)
            finally:
                del self._gathering[slot]  # whoever asks from now on gathers the next read
            gathering.answer = self._read(key)
            gathering.answered = True
        except Exception as failure:
            gathering.failure = failure
            raise
        finally:
            gathering.done.set()  # unanswered and without a failure: interrupted, the others gather again
        return gathering.answer


class _Gathering:
    __slots__ = ("done", "answer", "answered", "failure")

    def __init__(self):
        self.done = gevent.event.Event()
        self.answer = None
        self.answered = False
        self.failure: Exception | None = None
