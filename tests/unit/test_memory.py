"""A worker gives the memory a burst freed back to the system (`bazaar.infra.memory`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bazaar.infra import memory

ROOT = Path(__file__).resolve().parents[2]

# Many small blocks (below malloc's mmap threshold, so they come from its heap), one kept in every
# hundred: the heap cannot shrink from its top, only whole free pages inside it can go back.
BURST = """
import sys
from bazaar.infra.memory import return_free_memory

def rss_kb():
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmRSS")).split()[1])

blocks = [bytes(3000) + bytes([i % 256]) for i in range(20000)]
kept = blocks[::100]
del blocks
before = rss_kb()
assert return_free_memory()
print(before - rss_kb())
"""


@pytest.mark.skipif(memory._MALLOC_TRIM is None, reason="this C library has no malloc_trim")
def test_memory_freed_by_a_burst_goes_back_to_the_system():
    result = subprocess.run(
        [sys.executable, "-c", BURST], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    returned_kb = int(result.stdout)
    assert returned_kb > 30_000  # of the ~60 MB freed
