"""Waiting for a thing to happen instead of sleeping for a guess."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout_s: float = 10.0, interval_s: float = 0.01) -> bool:
    """True as soon as `predicate()` is true; False if it is still false after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
    return True
