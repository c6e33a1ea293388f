"""Search outbox: a row per changed search document, written in the caller's transaction.

On PostgreSQL a NOTIFY rides along; PostgreSQL delivers it only on commit, so the
indexer wakes exactly when the change is visible.
"""

from __future__ import annotations

from collections.abc import Iterable

from bazaar.domain.models import SearchOutbox
from bazaar.infra.db import database, is_postgres

NOTIFY_CHANNEL = "bazaar_search_outbox"
SESSION = "session"
PRODUCT = "product"


def record(doc_type: str, doc_ids: Iterable) -> None:
    rows = [{"doc_type": doc_type, "doc_id": str(doc_id)} for doc_id in dict.fromkeys(doc_ids)]
    if not rows:
        return
    SearchOutbox.insert_many(rows).execute()
    if is_postgres():
        database.execute_sql(f"NOTIFY {NOTIFY_CHANNEL}")


def record_session(*session_ids) -> None:
    record(SESSION, session_ids)


def record_product(*product_ids) -> None:
    record(PRODUCT, product_ids)
