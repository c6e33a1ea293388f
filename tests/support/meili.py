"""Where tests find a Meilisearch: a real one (``MEILI_URL``) or the in-process emulator.

    with meili_endpoint() as ep:          # also unpacks: url, key = ep
        client = meilisearch.Client(ep.url, ep.master_key)
        uid = unique_uid("products")      # prefixed per test run
        ...
        if ep.emulated: ep.emulator.pause()

Set ``MEILI_URL`` (and ``MEILI_MASTER_KEY`` if the instance has one) to run the
same tests against a real Meilisearch; every index a test creates carries the
run prefix :data:`RUN_PREFIX`, so runs never collide and can be cleaned up with
:func:`delete_run_indexes`.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "MeiliEndpoint",
    "RUN_PREFIX",
    "delete_run_indexes",
    "meili_endpoint",
    "unique_uid",
    "wait_task",
]

#: Prefix of every index uid created through :func:`unique_uid` in this process.
RUN_PREFIX = f"t{uuid.uuid4().hex[:10]}_"
_counter = itertools.count(1)


class MeiliEndpoint(tuple):
    """``(url, master_key)`` plus ``.emulator`` (the :class:`MeiliEmulator`, or None for a real server)."""

    def __new__(cls, url: str, master_key: str | None, emulator: Any = None) -> MeiliEndpoint:
        self = super().__new__(cls, (url, master_key))
        self.emulator = emulator
        return self

    @property
    def url(self) -> str:
        return self[0]

    @property
    def master_key(self) -> str | None:
        return self[1]

    @property
    def emulated(self) -> bool:
        return self.emulator is not None


@contextmanager
def meili_endpoint() -> Iterator[MeiliEndpoint]:
    """Yield a real Meilisearch from ``MEILI_URL``/``MEILI_MASTER_KEY``, else a fresh emulator."""
    url = os.environ.get("MEILI_URL", "").strip()
    if url:
        yield MeiliEndpoint(url.rstrip("/"), os.environ.get("MEILI_MASTER_KEY") or None)
        return
    from tests.support.meili_emulator import MeiliEmulator

    with MeiliEmulator() as emulator:
        yield MeiliEndpoint(emulator.url, emulator.master_key, emulator)


def unique_uid(name: str = "idx") -> str:
    """An index uid unique to this test run: ``<RUN_PREFIX><name>_<n>`` (valid Meilisearch uid chars only)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:80] or "idx"
    return f"{RUN_PREFIX}{safe}_{next(_counter)}"


def wait_task(client: Any, task: Any, timeout_s: float = 10.0) -> Any:
    """``client.wait_for_task`` with a test-friendly timeout and poll interval; accepts a TaskInfo or uid.

    Like the client, returns failed tasks without raising: check ``.status``/``.error``.
    """
    uid = task if isinstance(task, int) else task.task_uid
    return client.wait_for_task(uid, timeout_in_ms=int(timeout_s * 1000), interval_in_ms=5)


def delete_run_indexes(client: Any, prefix: str = RUN_PREFIX) -> list[int]:
    """Enqueue deletion of every index whose uid starts with ``prefix``; returns the task uids."""
    uids: list[str] = []
    offset = 0
    while True:
        page = client.get_raw_indexes({"offset": offset, "limit": 100})
        uids.extend(i["uid"] for i in page["results"] if i["uid"].startswith(prefix))
        offset += len(page["results"])
        if not page["results"] or offset >= page["total"]:
            break
    return [client.delete_index(uid).task_uid for uid in uids]
