"""Giving a worker's freed memory back to the system after a burst.

glibc's malloc keeps the pages of freed blocks for later allocations. After thousands of WebSocket
connections closed at once (a show's audience leaving), a worker kept ~10 MB of such pages it no longer
used; `malloc_trim(0)` returns every whole free page. Where the C library has no `malloc_trim` (musl,
macOS) there is nothing to call.
"""

from __future__ import annotations

import ctypes


def _find_malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _find_malloc_trim()


def return_free_memory() -> bool:
    """Return the allocator's whole free pages to the system; False where the C library cannot."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
