"""Operator work on the indexes: reindex, drift check and repair, status.

`reindex` never touches the live indexes until the fresh ones are complete: it
fills `<prefix>_sessions_new` / `<prefix>_products_new` from the database, swaps
both pairs in one atomic task, and deletes the old contents. Searches hit a
complete index at every moment. A crash anywhere leaves at worst a stale
`_new` index, which the next run deletes first. Changes made while it runs reach
the old index through the outbox, so after the swap a drift check re-enqueues
whatever the fresh index missed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bazaar.infra import db
from bazaar.infra.search.meili import INDEX_OF_DOC_TYPE
from search_indexer import documents, outbox
from search_indexer.indexes import Indexes, Unreachable

FRESH = "_new"

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


def apply_settings(indexes: Indexes, progress: Progress = _quiet) -> None:
    """Create missing indexes; (re)apply the shipped settings to both."""
    for name in indexes.config:
        indexes.create(name)
        progress(f"applied settings to {indexes.uid(name)}")


def reindex(indexes: Indexes, chunk_size: int, progress: Progress = _quiet) -> dict[str, int]:
    """Rebuild both indexes from the database and swap them in; documents written per index."""
    written: dict[str, int] = {}
    for doc_type in documents.DOC_TYPES:
        name = INDEX_OF_DOC_TYPE[doc_type]
        fresh = indexes.uid(name, FRESH)
        indexes.drop(fresh)  # a crashed run's leftovers
        indexes.create(name, FRESH)
        progress(f"created {fresh}")
        tasks, count = [], 0
        with db.connection():
            for chunk in documents.all_documents(doc_type, chunk_size):
                tasks.append(
                    indexes.submit(
                        lambda docs=chunk: indexes.client.index(fresh).add_documents(docs, primary_key="id")
                    )
                )
                count += len(chunk)
        for task_uid in tasks:
            indexes.wait(task_uid)
        written[name] = count
        progress(f"filled {fresh} with {count} document(s)")
    pairs = []
    for name in written:
        if not indexes.exists(indexes.uid(name)):
            indexes.create(name)  # a first indexing: swapping needs both sides
        pairs.append((indexes.uid(name), indexes.uid(name, FRESH)))
    indexes.swap(pairs)
    progress("swapped " + ", ".join(f"{fresh} into {live}" for live, fresh in pairs))
    for _, fresh in pairs:
        indexes.drop(fresh)
        progress(f"deleted the previous contents ({fresh})")
    caught_up = repair(find_drift(indexes, chunk_size))
    progress(f"enqueued {caught_up} document(s) changed during the rebuild")
    return written


@dataclass
class Drift:
    """Documents out of line with the database, per document type."""

    missing: list[str] = field(default_factory=list)  # a row without a document
    extra: list[str] = field(default_factory=list)  # a document without a row
    stale: list[str] = field(default_factory=list)  # a document that differs from its row

    def __len__(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.stale)

    def doc_ids(self) -> list[str]:
        return self.missing + self.extra + self.stale


def find_drift(indexes: Indexes, chunk_size: int) -> dict[str, Drift]:
    """Compare every row's document fingerprint with the one in the index (doc_type → Drift)."""
    drift = {}
    for doc_type in documents.DOC_TYPES:
        with db.connection():
            expected = {
                doc["id"]: doc["contentHash"]
                for chunk in documents.all_documents(doc_type, chunk_size)
                for doc in chunk
            }
        indexed = dict(indexes.fingerprints(indexes.uid_of_doc_type(doc_type)))
        drift[doc_type] = Drift(
            missing=sorted(expected.keys() - indexed.keys()),
            extra=sorted(indexed.keys() - expected.keys()),
            stale=sorted(
                doc_id
                for doc_id, digest in expected.items()
                if doc_id in indexed and indexed[doc_id] != digest
            ),
        )
    return drift


def repair(drift: dict[str, Drift]) -> int:
    """Enqueue an outbox row per drifted document; the indexer sends its current state (or deletes it)."""
    with db.connection():
        return sum(outbox.enqueue(doc_type, found.doc_ids()) for doc_type, found in drift.items())


@dataclass
class Status:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def status(indexes: Indexes, max_lag_s: float) -> Status:
    """Meilisearch health, the outbox backlog and lag, documents per index against database rows."""
    report = Status()
    try:
        report.lines.append(f"meilisearch: {indexes.health()} ({indexes.settings.meili_url})")
        meili_up = True
    except Unreachable as exc:
        report.lines.append(f"meilisearch: unreachable ({exc})")
        report.problems.append("Meilisearch is unreachable")
        meili_up = False
    try:
        with db.connection():
            backlog = outbox.backlog()
            rows = {doc_type: documents.row_count(doc_type) for doc_type in documents.DOC_TYPES}
    except db.UNAVAILABLE_ERRORS as exc:
        db.discard_broken_connection()
        report.lines.append(f"database: unreachable ({str(exc).strip()})")
        report.problems.append("the database is unreachable")
        return report
    report.lines.append(
        f"outbox: {backlog.pending} pending, {backlog.parked} parked, lag {backlog.lag_s:.1f} s"
    )
    if backlog.lag_s > max_lag_s:
        report.problems.append(f"lag {backlog.lag_s:.0f} s is over {max_lag_s:.0f} s")
    if backlog.parked:
        report.problems.append(f"{backlog.parked} parked outbox row(s)")
        for doc_type, doc_id, attempts, error in backlog.parked_errors:
            report.lines.append(f"  parked {doc_type} {doc_id} after {attempts} attempt(s): {error}")
    for doc_type, count in rows.items():
        uid = indexes.uid_of_doc_type(doc_type)
        indexed = indexes.document_count(uid) if meili_up else None
        if not meili_up:
            report.lines.append(f"{uid}: ? documents, {count} rows in the database")
        elif indexed is None:
            report.lines.append(f"{uid}: missing, {count} rows in the database")
            report.problems.append(f"index {uid} does not exist (run `search-indexer reindex`)")
        else:
            report.lines.append(f"{uid}: {indexed} documents, {count} rows in the database")
            if indexed != count and not backlog.pending:
                report.problems.append(
                    f"{uid} holds {indexed} documents for {count} rows (run `search-indexer check --repair`)"
                )
    return report
