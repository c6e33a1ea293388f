"""Search documents, built in bulk from the CURRENT rows (never from what the outbox row said).

A document that no longer has a row is a delete. Every document carries a
`contentHash` of its other fields, so `check` can tell a stale document from a
fresh one by fetching two fields per document.

Fields hold what the Meilisearch read side (`bazaar.infra.search.meili`) filters and
sorts on: lower-cased keys for the case-insensitive category filter and the
title/name sorts, and times as epoch microseconds (sortable numbers, exact in a double, as
fine-grained as the rows so that orders by time match the database's).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bazaar.domain.models import Product, Session, User, money
from bazaar.infra.search_outbox import PRODUCT, SESSION
from bazaar.infra.session_reads import session_products_of

DOC_TYPES = (SESSION, PRODUCT)
_MODELS = {SESSION: Session, PRODUCT: Product}


@dataclass
class Built:
    """What a set of outbox documents turned into: documents to upsert, ids to delete, ids that failed."""

    upserts: dict[str, dict] = field(default_factory=dict)  # doc id → document
    deletes: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # doc id → why it could not be built


_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime | None) -> int | None:
    """Naive UTC (see `bazaar.domain.clock`) → epoch microseconds, exactly."""
    return None if moment is None else (moment - _EPOCH) // _MICROSECOND


def with_hash(document: dict) -> dict:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    document["contentHash"] = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return document


def _lower(text: str | None) -> str | None:
    return text.lower() if text else None


def session_document(session: Session, product_names: list[str]) -> dict:
    """`session.creator` must come joined."""
    return with_hash(
        {
            "id": str(session.id),
            "title": session.title,
            "titleSort": session.title.lower(),
            "description": session.description,
            "category": session.category,
            "categoryKey": _lower(session.category),
            "tags": session.tags or [],
            "status": session.status,
            "creatorId": session.creator_id,
            "creatorUsername": session.creator.username,
            "productNames": product_names,
            "scheduledAt": micros(session.scheduled_at),
            "startedAt": micros(session.started_at),
            "endedAt": micros(session.ended_at),
            "createdAt": micros(session.created_at),
            "updatedAt": micros(session.updated_at),
        }
    )


def product_document(product: Product) -> dict:
    return with_hash(
        {
            "id": str(product.id),
            "name": product.name,
            "nameSort": product.name.lower(),
            "description": product.description,
            "category": product.category,
            "categoryKey": _lower(product.category),
            "inStock": product.in_stock,
            "price": money(product.price),
            "sellerId": product.seller_id,
            "createdAt": micros(product.created_at),
            "updatedAt": micros(product.updated_at),
        }
    )


def _session_documents(sessions: list[Session]) -> list[dict]:
    links = session_products_of([s.id for s in sessions]) if sessions else {}
    # Sorted: the display order is not searchable, so reordering must not make a document stale.
    return [session_document(s, sorted(link.product.name for link in links.get(s.id, []))) for s in sessions]


def _sessions_query():
    return Session.select(Session, User).join(User, on=Session.creator)


def build(doc_type: str, doc_ids: Iterable[str]) -> Built:
    """Documents for `doc_ids` from the current rows: two queries for sessions, one for products."""
    built = Built()
    if doc_type not in DOC_TYPES:
        built.failures = {doc_id: f"unknown document type {doc_type!r}" for doc_id in doc_ids}
        return built
    wanted: dict[uuid.UUID, str] = {}
    for doc_id in doc_ids:
        try:
            wanted[uuid.UUID(doc_id)] = doc_id
        except ValueError:
            built.failures[doc_id] = f"{doc_id!r} is not a {doc_type} id (a UUID)"
    if not wanted:
        return built
    if doc_type == SESSION:
        documents = _session_documents(list(_sessions_query().where(Session.id.in_(list(wanted)))))
    else:
        documents = [product_document(p) for p in Product.select().where(Product.id.in_(list(wanted)))]
    for document in documents:
        built.upserts[wanted[uuid.UUID(document["id"])]] = document
    built.deletes = [doc_id for doc_id in wanted.values() if doc_id not in built.upserts]
    return built


def all_documents(doc_type: str, chunk_size: int) -> Iterator[list[dict]]:
    """Every document of a type, in chunks read by primary-key ranges (no OFFSET scans)."""
    model = _MODELS[doc_type]
    last = None
    while True:
        query = _sessions_query() if doc_type == SESSION else Product.select()
        if last is not None:
            query = query.where(model.id > last)
        rows = list(query.order_by(model.id).limit(chunk_size))
        if not rows:
            return
        yield _session_documents(rows) if doc_type == SESSION else [product_document(p) for p in rows]
        last = rows[-1].id


def row_count(doc_type: str) -> int:
    return _MODELS[doc_type].select().count()
