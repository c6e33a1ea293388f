"""Coalesced broadcasts of a value that changes in bursts (a drop's remaining units).

Per worker and key: a change after a quiet interval is sent at once (by the caller), later ones at
most once per interval (by a greenlet), and the last change of a burst is always followed by a send.
Each send reads the value afresh, so it carries the latest one. Callers `touch` after their
transaction committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable

import gevent

from bazaar.infra import db

log = logging.getLogger("bazaar.live.coalesce")


class Coalescer:
    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self._scheduled: set[Hashable] = set()
        self._last_sent: dict[Hashable, float] = {}

    def touch(self, key: Hashable, send: Callable[[], None]) -> None:
        if key in self._scheduled:
            return  # the scheduled send reads the value when it runs: it carries this change too
        wait_s = self._last_sent.get(key, 0.0) + self.interval_s - time.monotonic()
        if wait_s <= 0:
            self._send(key, send)  # quiet until now: at once, in the caller
            return
        self._scheduled.add(key)
        gevent.spawn_later(wait_s, self._send_later, key, send)

    def _send(self, key: Hashable, send: Callable[[], None]) -> None:
        now = time.monotonic()
        self._last_sent[key] = now
        if len(self._last_sent) > 1000:  # forget keys quiet for a whole interval
            self._last_sent = {k: t for k, t in self._last_sent.items() if t > now - self.interval_s}
        try:
            send()
        except Exception as exc:  # a broadcast lost to an outage; the next change sends again
            log.warning("coalesced broadcast %s failed: %r", key, exc)

    def _send_later(self, key: Hashable, send: Callable[[], None]) -> None:
        self._scheduled.discard(key)
        try:
            self._send(key, send)
        finally:
            db.release()  # a greenlet of its own: its connection goes back to the pool
