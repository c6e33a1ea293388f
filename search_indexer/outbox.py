"""Claiming search outbox rows, and settling them once the search index has the outcome.

PostgreSQL: a claim is a transaction. It locks due rows with
`SELECT … FOR UPDATE SKIP LOCKED` and takes a transaction-scoped advisory lock per
document, so two indexers never work on the same rows, nor send two versions of
one document in an order that could leave the older one in the index. The
transaction stays open while the batch is sent: if the process dies, the locks
go with it and the rows are claimed again (at-least-once; sending a document
twice is harmless). Rows a writer adds while a batch is in flight are not
claimed by it, so they survive the batch and the newer state is sent again.

SQLite: no row locks exist; a claim is a plain read and each outcome its own
short write, so API writers are never blocked by a batch in flight. Run one
indexer at a time against a SQLite database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import peewee as pw

from bazaar.domain.clock import now
from bazaar.domain.models import SearchOutbox
from bazaar.infra.db import database, is_postgres
from bazaar.infra.search_outbox import record

MAX_ERROR_CHARS = 1000


@dataclass
class Batch:
    """Claimed rows grouped per document: (doc_type, doc_id) → row ids, and the most attempts among them."""

    rows: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    attempts: dict[tuple[str, str], int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def ids_of(self, doc_type: str) -> list[str]:
        return [doc_id for (kind, doc_id) in self.rows if kind == doc_type]


@dataclass(frozen=True)
class Backoff:
    base_s: float
    max_s: float
    max_attempts: int

    def delay_s(self, attempts: int) -> float:
        return min(self.base_s * 2 ** max(attempts - 1, 0), self.max_s)


def _due(moment: datetime) -> pw.Expression:
    return (SearchOutbox.parked == False) & (SearchOutbox.next_attempt_at <= moment)  # noqa: E712


def _group(rows) -> Batch:
    batch = Batch()
    grouped: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row in rows:
        key = (row.doc_type, row.doc_id)
        grouped[key].append(row.id)
        batch.attempts[key] = max(batch.attempts.get(key, 0), row.attempts)
    batch.rows = dict(grouped)
    return batch


def _lock_documents(batch: Batch) -> Batch:
    """Keep the documents whose advisory lock this transaction got; another indexer is sending the rest."""
    keys = [f"search:{kind}:{doc_id}" for (kind, doc_id) in batch.rows]
    cursor = database.execute_sql(
        "SELECT k FROM unnest(%s::text[]) AS k WHERE pg_try_advisory_xact_lock(hashtextextended(k, 0))",
        (keys,),
    )
    locked = {row[0] for row in cursor.fetchall()}
    kept = {key: ids for key, ids in batch.rows.items() if f"search:{key[0]}:{key[1]}" in locked}
    return Batch(kept, {key: batch.attempts[key] for key in kept})


@contextmanager
def claim(limit: int) -> Iterator[Batch]:
    """Up to `limit` due rows, grouped per document. Settle them with `acknowledge` / `retry_later`
    inside the block; an exception leaves every claimed row as it was."""
    query = (
        SearchOutbox.select(
            SearchOutbox.id, SearchOutbox.doc_type, SearchOutbox.doc_id, SearchOutbox.attempts
        )
        .where(_due(now()))
        .order_by(SearchOutbox.id)
        .limit(limit)
    )
    if not is_postgres():
        yield _group(query)
        return
    with database.atomic():
        batch = _group(query.for_update(skip_locked=True))
        yield _lock_documents(batch) if batch.rows else batch


def acknowledge(batch: Batch, keys) -> None:
    """The index holds these documents' current state: drop the claimed rows, and parked rows of
    the same documents (they were written before this state was read). Rows added meanwhile stay."""
    keys = list(keys)
    ids = [row_id for key in keys for row_id in batch.rows[key]]
    for start in range(0, len(ids), 500):
        SearchOutbox.delete().where(SearchOutbox.id.in_(ids[start : start + 500])).execute()
    for doc_type in {kind for kind, _ in keys}:
        doc_ids = [doc_id for kind, doc_id in keys if kind == doc_type]
        for start in range(0, len(doc_ids), 500):
            (
                SearchOutbox.delete()
                .where(
                    SearchOutbox.parked
                    & (SearchOutbox.doc_type == doc_type)
                    & SearchOutbox.doc_id.in_(doc_ids[start : start + 500])
                )
                .execute()
            )


def retry_later(
    batch: Batch, failures: dict[tuple[str, str], str], backoff: Backoff
) -> list[tuple[str, str]]:
    """Count a failed attempt for each document; past `max_attempts` its rows are parked. Returns the
    parked."""
    parked = []
    moment = now()
    for key, error in failures.items():
        attempts = batch.attempts[key] + 1
        park = attempts >= backoff.max_attempts
        if park:
            parked.append(key)
        (
            SearchOutbox.update(
                attempts=attempts,
                last_error=error[:MAX_ERROR_CHARS],
                parked=park,
                next_attempt_at=moment + timedelta(seconds=backoff.delay_s(attempts)),
            )
            .where(SearchOutbox.id.in_(batch.rows[key]))
            .execute()
        )
    return parked


def enqueue(doc_type: str, doc_ids) -> int:
    """Outbox rows for documents found out of date (by `check --repair`)."""
    doc_ids = list(doc_ids)
    for start in range(0, len(doc_ids), 500):
        with database.atomic():
            record(doc_type, doc_ids[start : start + 500])
    return len(doc_ids)


def retry_parked() -> int:
    """Put every parked row back in line (after the cause was fixed)."""
    return (
        SearchOutbox.update(parked=False, attempts=0, next_attempt_at=now())
        .where(SearchOutbox.parked)
        .execute()
    )


def seconds_until_due() -> float | None:
    """Seconds until the next row is due (0 when one is due now), None when nothing is pending."""
    earliest = (
        SearchOutbox.select(pw.fn.MIN(SearchOutbox.next_attempt_at)).where(~SearchOutbox.parked).scalar()
    )
    if earliest is None:
        return None
    return max((earliest - now()).total_seconds(), 0.0)


@dataclass
class Backlog:
    pending: int
    parked: int
    oldest_pending_at: datetime | None
    parked_errors: list[tuple[str, str, int, str]]  # doc_type, doc_id, attempts, last_error

    @property
    def lag_s(self) -> float:
        return (now() - self.oldest_pending_at).total_seconds() if self.oldest_pending_at else 0.0


def backlog(parked_shown: int = 10) -> Backlog:
    pending, oldest = (
        SearchOutbox.select(pw.fn.COUNT(SearchOutbox.id), pw.fn.MIN(SearchOutbox.created_at))
        .where(~SearchOutbox.parked)
        .tuples()
        .get()
    )
    parked = SearchOutbox.select().where(SearchOutbox.parked).count()
    errors = list(
        SearchOutbox.select(
            SearchOutbox.doc_type, SearchOutbox.doc_id, SearchOutbox.attempts, SearchOutbox.last_error
        )
        .where(SearchOutbox.parked)
        .order_by(SearchOutbox.id)
        .limit(parked_shown)
        .tuples()
    )
    return Backlog(pending, parked, oldest, errors)
