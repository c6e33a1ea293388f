"""Coalesced broadcasts of a value that changes in bursts (a drop's remaining units), cluster-wide.

Per key, the sends take turns across every worker and host (`take_turn`, one per interval): a change after
a quiet interval is sent at once (by the caller that got the turn), later ones at most once per interval
(by a greenlet), and the last change of a burst is always followed by a send. Each send reads the value
afresh, so it carries the latest one. Callers `touch` after their transaction committed.

Why a turn and not a per-worker timer: the room's viewers get each send of every worker (the broker fans
it out), so with a timer per worker a room on N workers got N stock-updates per interval — 2,000 viewers
of a drop on 2 workers 12 frames each in a 1.5 s sale where 6 carry the same news.

A change that finds the turn taken is sent by a greenlet of this worker once it gets a turn (it asks
again each time the turn in the way is over), so every change is followed by a send that reads the value
after it: a burst on N workers ends with up to N sends, one per worker with changes left.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

import gevent

from bazaar.infra import db
from bazaar.live.state.leases import Leases

log = logging.getLogger("bazaar.live.coalesce")

# Past the end of a turn (an interval after it was taken, in Redis's whole milliseconds) before taking the
# next one: clocks and timers differ by about a millisecond, and asking early would find the old turn.
_TURN_OVER_S = 0.005


class Coalescer:
    def __init__(self, interval_s: float, turns: Leases):
        self.interval_s = interval_s
        self._turns = turns
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        self._scheduled: set[str] = set()
        self._last_sent: dict[str, float] = {}  # key → when this worker last took its turn

    def touch(self, key: str, send: Callable[[], None]) -> None:
        if key in self._scheduled:
            return  # the scheduled send reads the value when it runs: it carries this change too
        turn_over_at = self._last_sent.get(key, 0.0) + self.interval_s + _TURN_OVER_S
        if turn_over_at <= time.monotonic():
            if self._take_turn(key):
                self._send(key, send)  # quiet until now: at once, in the caller
                return
            turn_over_at = self._next_turn_at()
        self._scheduled.add(key)
        gevent.spawn(self._send_later, key, send, turn_over_at)

    def _take_turn(self, key: str) -> bool:
        try:
            taken = self._turns.take_turn(f"coalesce:{key}", self._owner, self.interval_s)
        except Exception as exc:  # an outage of the shared store: this worker sends on its own turns
            log.warning("coalesced broadcast %s: no turn from the shared store: %r", key, exc)
            taken = True
        if taken:
            now = time.monotonic()  # after the turn was taken: it is over an interval after this at most
            self._last_sent[key] = now
            if len(self._last_sent) > 1000:  # forget keys quiet for a whole interval
                self._last_sent = {k: t for k, t in self._last_sent.items() if t > now - self.interval_s}
        return taken

    def _next_turn_at(self) -> float:
        """When the turn another worker holds is over at the latest (it was taken before it was refused)."""
        return time.monotonic() + self.interval_s + _TURN_OVER_S

    def _send(self, key: str, send: Callable[[], None]) -> None:
        try:
            send()
        except Exception as exc:  # a broadcast lost to an outage; the next change sends again
            log.warning("coalesced broadcast %s failed: %r", key, exc)

    def _send_later(self, key: str, send: Callable[[], None], turn_over_at: float) -> None:
        try:
            while True:
                # A loop (not one sleep): a busy loop's timers run by its cached clock, which may lag.
                while (wait_s := turn_over_at - time.monotonic()) > 0:
                    gevent.sleep(wait_s)
                if self._take_turn(key):
                    break
                turn_over_at = self._next_turn_at()
            self._scheduled.discard(key)  # a change from here on may come after the read: a send of its own
            self._send(key, send)
        finally:
            self._scheduled.discard(key)
            db.release()  # a greenlet of its own: its connection goes back to the pool
