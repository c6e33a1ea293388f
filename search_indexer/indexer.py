"""The indexer loop: claim outbox rows, build the documents, send them, settle the rows.

Delivery is at least once and idempotent (documents are replaced by primary
key). A batch's rows are deleted only once Meilisearch reports its tasks
succeeded; documents Meilisearch refuses are isolated by splitting the batch, and
only their rows are retried with exponential backoff and finally parked. When
Meilisearch cannot be reached no attempt is counted: the indexer waits (doubling
up to `indexer_backoff_max_s`) and the outbox simply grows until it is back.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import time

import psycopg2

from bazaar.infra import db
from bazaar.infra.search_outbox import NOTIFY_CHANNEL
from config import Settings
from search_indexer import documents, outbox
from search_indexer.indexes import Indexes, TaskFailed, Unreachable

log = logging.getLogger("search_indexer")


class Wakeup:
    """Sleeps until the outbox has news (a NOTIFY on PostgreSQL), a timeout, or `stop()`.

    `stop()` is safe from a signal handler: it only writes a byte to a pipe.
    """

    def __init__(self, database_url: str | None):
        self.database_url = database_url  # None: polling only (SQLite)
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._listener = None

    def stop(self) -> None:
        try:
            os.write(self._write, b"x")
        except BlockingIOError:  # a wake-up is already pending
            pass

    def listen(self) -> bool:
        """LISTEN (again, after a lost connection); False when only polling is possible."""
        return self._connect() is not None

    def wait(self, timeout_s: float, *, notifications: bool = True) -> None:
        sources = [self._read]
        listener = None
        if notifications:
            reconnecting = self._listener is None
            listener = self._connect()
            if reconnecting and listener is not None:
                return  # a change committed before LISTEN took effect sent no NOTIFY: look now
            if listener is not None:
                sources.append(listener)
        ready, _, _ = select.select(sources, [], [], max(timeout_s, 0.0))
        if listener is not None and listener in ready:
            try:
                listener.poll()
                listener.notifies.clear()
            except psycopg2.Error as exc:
                log.warning("lost the LISTEN connection (%s); polling until it is back", exc)
                self._close()

    def _connect(self):
        if not self.database_url:
            return None
        if self._listener is None or self._listener.closed:
            try:
                self._listener = psycopg2.connect(self.database_url, connect_timeout=3)
                self._listener.autocommit = True
                self._listener.cursor().execute(f"LISTEN {NOTIFY_CHANNEL}")
            except psycopg2.Error as exc:
                log.warning("cannot LISTEN for outbox news (%s); polling instead", str(exc).strip())
                self._listener = None
        return self._listener

    def _close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self._listener = None

    def close(self) -> None:
        self._close()
        os.close(self._read)
        os.close(self._write)


class Indexer:
    def __init__(self, settings: Settings, indexes: Indexes | None = None):
        self.settings = settings
        self.indexes = indexes or Indexes(settings)
        self.backoff = outbox.Backoff(
            settings.indexer_backoff_base_s, settings.indexer_backoff_max_s, settings.indexer_max_attempts
        )
        self.stopping = False
        self._indexes_ready = False
        self._wakeup: Wakeup | None = None

    # one batch ---------------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim one batch of due rows and settle it; the number of documents handled (0: none due).
        Raises Unreachable when Meilisearch cannot take the batch (its rows stay as they were)."""
        with db.connection():
            if not self._indexes_ready:
                self.indexes.ensure()
                self._indexes_ready = True
            with outbox.claim(self.settings.indexer_batch_size) as batch:
                if not batch:
                    return 0
                started = time.monotonic()
                try:
                    failures = self.send(batch)
                except Unreachable:
                    self._indexes_ready = False  # it may have lost its indexes too
                    raise
                self.acknowledge(batch, [key for key in batch.rows if key not in failures])
                if failures:
                    parked = outbox.retry_later(batch, failures, self.backoff)
                    for doc_type, doc_id in parked:
                        log.error(
                            "parked %s %s after %d attempts: %s",
                            doc_type,
                            doc_id,
                            self.settings.indexer_max_attempts,
                            failures[(doc_type, doc_id)],
                        )
                log.info(
                    "indexed %d document(s) in %.0f ms (%d failed)",
                    len(batch),
                    (time.monotonic() - started) * 1000,
                    len(failures),
                )
                return len(batch)

    def drain(self) -> int:
        """Run batches until nothing is due; the number of documents handled."""
        handled = 0
        while not self.stopping:
            count = self.run_once()
            if not count:
                break
            handled += count
        return handled

    def send(self, batch: outbox.Batch) -> dict[tuple[str, str], str]:
        """Send every document of the batch; (doc_type, doc_id) → error for those that failed."""
        failures: dict[tuple[str, str], str] = {}
        for doc_type in sorted({kind for kind, _ in batch.rows}):
            built = documents.build(doc_type, batch.ids_of(doc_type))
            failures.update({(doc_type, doc_id): error for doc_id, error in built.failures.items()})
            if doc_type not in documents.DOC_TYPES:
                continue
            uid = self.indexes.uid_of_doc_type(doc_type)
            refused = {
                **self._isolating(
                    list(built.upserts.items()),
                    lambda items: self.indexes.upsert(uid, [doc for _, doc in items]),
                ),
                **self._isolating(
                    [(doc_id, doc_id) for doc_id in built.deletes],
                    lambda items: self.indexes.delete(uid, [doc_id for doc_id, _ in items]),
                ),
            }
            failures.update({(doc_type, doc_id): error for doc_id, error in refused.items()})
        return failures

    def _isolating(self, items: list[tuple[str, object]], send) -> dict[str, str]:
        """Send `items`; when Meilisearch refuses them, halve until the refused documents are alone."""
        if not items:
            return {}
        try:
            send(items)
            return {}
        except TaskFailed as exc:
            if len(items) == 1:
                return {items[0][0]: str(exc)}
            half = len(items) // 2
            return {**self._isolating(items[:half], send), **self._isolating(items[half:], send)}

    def acknowledge(self, batch: outbox.Batch, keys: list[tuple[str, str]]) -> None:
        """The index has these documents: their claimed rows are done."""
        outbox.acknowledge(batch, keys)

    # the process -------------------------------------------------------------------------
    def stop(self) -> None:
        """Finish the batch in flight, then leave `run_forever`."""
        self.stopping = True
        if self._wakeup is not None:
            self._wakeup.stop()

    def run_forever(self) -> None:
        """Drain the outbox as changes arrive until SIGTERM/SIGINT or `stop()`."""
        self._wakeup = Wakeup(self.settings.database_url if self.settings.db_kind == "postgresql" else None)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())
        self._wakeup.listen()  # before the first look at the outbox, so that no change goes unnoticed
        outage_s = 0.0
        try:
            while not self.stopping:
                try:
                    handled = self.run_once()
                except Unreachable as exc:
                    outage_s = self._outage(outage_s, f"Meilisearch is unreachable: {exc}")
                    continue
                except db.UNAVAILABLE_ERRORS as exc:
                    db.discard_broken_connection()
                    outage_s = self._outage(outage_s, f"the database is unreachable: {str(exc).strip()}")
                    continue
                if outage_s:
                    log.info("connected again; sending the outbox")
                    outage_s = 0.0
                if not handled:
                    self._wakeup.wait(self._idle_wait_s())
        finally:
            self._wakeup.close()
            self._wakeup = None
        log.info("stopped")

    def _outage(self, waited_s: float, message: str) -> float:
        delay = min(
            max(waited_s * 2, self.settings.indexer_backoff_base_s), self.settings.indexer_backoff_max_s
        )
        log.warning("%s; retrying in %.0f s", message, delay)
        self._wakeup.wait(delay, notifications=False)
        return delay

    def _idle_wait_s(self) -> float:
        """Until the next row in backoff is due, at most the listen timeout (poll interval on SQLite).
        Rows due now that this indexer did not get are another indexer's: look again after a poll interval."""
        longest = (
            self.settings.indexer_listen_timeout_s
            if self._wakeup.listen()
            else self.settings.indexer_poll_interval_s
        )
        with db.connection():
            due = outbox.seconds_until_due()
        return longest if due is None else min(due or self.settings.indexer_poll_interval_s, longest)
