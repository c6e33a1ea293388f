"""Search answered by Meilisearch (official client), with the database backend as its fallback.

Meilisearch finds and orders the matching ids (typo-tolerant, prefix matching,
the index settings in `config/search_index.json`); the page's rows are then read
from the database in one query, so results always have the public shape and
current values. When Meilisearch cannot answer (unreachable, timing out, or
answering an error) the database backend answers instead, and keeps answering
for `meili_retry_after_s` before Meilisearch is tried again, so an outage does
not add a timeout to every search.

Orders by live audience (`sortBy=viewers`, the live and trending lists) come from
viewer counts that live in `LiveState`, not in the index: the database backend
answers those.

The documents are written by `search_indexer` (see `search_indexer.documents`).
"""

from __future__ import annotations

import logging
import time
import uuid

import meilisearch
import requests
from meilisearch.errors import MeilisearchError

from bazaar.domain.models import Product
from bazaar.domain.views import product_view
from bazaar.infra.search.database import DatabaseSearch
from bazaar.infra.search.query import (
    RELEVANCE,
    SOONEST,
    TRENDING,
    Hits,
    Overview,
    OverviewHits,
    ProductSearch,
    SessionSearch,
)
from config import Settings

log = logging.getLogger("bazaar.search")

SESSIONS, PRODUCTS = "sessions", "products"
INDEX_OF_DOC_TYPE = {"session": SESSIONS, "product": PRODUCTS}
# What "Meilisearch could not answer" looks like through the client.
MEILI_ERRORS = (MeilisearchError, requests.RequestException)

_AUDIENCE_ORDERS = ("viewers", TRENDING)
_SESSION_SORTS = {
    "newest": ["createdAt:desc"],
    "oldest": ["createdAt:asc"],
    "title": ["titleSort:asc"],
    SOONEST: ["scheduledAt:asc", "createdAt:asc"],
}
_PRODUCT_SORTS = {
    "newest": ["createdAt:desc"],
    "oldest": ["createdAt:asc"],
    "price-asc": ["price:asc", "createdAt:desc"],
    "price-desc": ["price:desc", "createdAt:desc"],
    "name": ["nameSort:asc"],
}


def index_uid(settings: Settings, name: str) -> str:
    """`name` is SESSIONS or PRODUCTS."""
    return f"{settings.meili_index_prefix}_{name}"


def meili_client(settings: Settings, timeout_s: float | None = None) -> meilisearch.Client:
    return meilisearch.Client(
        settings.meili_url,
        settings.meili_master_key,
        timeout=timeout_s if timeout_s is not None else settings.meili_timeout_s,
    )


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sort(sorts: dict, sort: str, text: str) -> list[str] | None:
    """Best match first when there is a text to match; newest first stands in for relevance without one."""
    if sort == RELEVANCE:
        return None if text.strip() else sorts["newest"]
    return sorts[sort]


def session_query(search: SessionSearch) -> dict:
    filters = []
    if search.status is not None:
        filters.append(f"status = {_quoted(search.status)}")
    if search.category is not None:
        filters.append(f"categoryKey = {_quoted(search.category.lower())}")
    if search.creator_id is not None:
        filters.append(f"creatorId = {int(search.creator_id)}")
    return _query(search.text, filters, _sort(_SESSION_SORTS, search.sort, search.text), search.page)


def product_query(search: ProductSearch) -> dict:
    filters = []
    if search.category is not None:
        filters.append(f"categoryKey = {_quoted(search.category.lower())}")
    if search.in_stock is not None:
        filters.append(f"inStock = {'true' if search.in_stock else 'false'}")
    if search.min_price is not None:
        filters.append(f"price >= {search.min_price}")
    if search.max_price is not None:
        filters.append(f"price <= {search.max_price}")
    if search.seller_id is not None:
        filters.append(f"sellerId = {int(search.seller_id)}")
    return _query(search.text, filters, _sort(_PRODUCT_SORTS, search.sort, search.text), search.page)


def _query(text: str, filters: list[str], sort: list[str] | None, page) -> dict:
    query = {"q": text, "offset": page.offset, "limit": page.limit, "attributesToRetrieve": ["id"]}
    if filters:
        query["filter"] = " AND ".join(filters)
    if sort:
        query["sort"] = sort
    return query


class MeiliSearch:
    name = "meilisearch"

    def __init__(self, settings: Settings, fallback: DatabaseSearch):
        self.fallback = fallback
        self.client = meili_client(settings)
        self.sessions_uid = index_uid(settings, SESSIONS)
        self.products_uid = index_uid(settings, PRODUCTS)
        self.retry_after_s = settings.meili_retry_after_s
        self._bypass_until = 0.0

    def ping(self) -> None:
        self.client.health()

    def sessions(self, search: SessionSearch) -> Hits:
        if search.sort in _AUDIENCE_ORDERS:
            return self.fallback.sessions(search)
        return self._answer(lambda: self._sessions(search), lambda: self.fallback.sessions(search))

    def products(self, search: ProductSearch) -> Hits:
        return self._answer(lambda: self._products(search), lambda: self.fallback.products(search))

    def overview(self, overview: Overview) -> OverviewHits:
        return self._answer(lambda: self._overview(overview), lambda: self.fallback.overview(overview))

    # answering ---------------------------------------------------------------------------
    def _answer(self, ask_meili, ask_database):
        if time.monotonic() < self._bypass_until:
            return ask_database()
        try:
            answer = ask_meili()
        except MEILI_ERRORS as exc:
            if not self._bypass_until:
                log.warning("Meilisearch cannot answer searches, the database answers instead: %s", exc)
            self._bypass_until = time.monotonic() + self.retry_after_s
            return ask_database()
        if self._bypass_until:
            log.info("Meilisearch answers searches again")
            self._bypass_until = 0.0
        return answer

    def _sessions(self, search: SessionSearch) -> Hits:
        found = self.client.index(self.sessions_uid).search(search.text, session_query(search))
        return self._session_hits(found, search)

    def _products(self, search: ProductSearch) -> Hits:
        found = self.client.index(self.products_uid).search(search.text, product_query(search))
        return self._product_hits(found, search)

    def _overview(self, overview: Overview) -> OverviewHits:
        """Both indexes in one round trip."""
        sessions, products = overview.sessions(), overview.products()
        answers = self.client.multi_search(
            [
                {"indexUid": self.sessions_uid, **session_query(sessions)},
                {"indexUid": self.products_uid, **product_query(products)},
            ]
        )["results"]
        return OverviewHits(
            self._session_hits(answers[0], sessions), self._product_hits(answers[1], products)
        )

    def _session_hits(self, found: dict, search: SessionSearch) -> Hits:
        ids = [uuid.UUID(hit["id"]) for hit in found["hits"]]
        return Hits(self.fallback.session_views(ids), found["estimatedTotalHits"], search.page, self.name)

    def _product_hits(self, found: dict, search: ProductSearch) -> Hits:
        ids = [uuid.UUID(hit["id"]) for hit in found["hits"]]
        rows = {p.id: p for p in Product.select().where(Product.id.in_(ids))} if ids else {}
        # A row deleted since it was indexed is left out; the indexer removes its document shortly.
        results = [product_view(rows[i]) for i in ids if i in rows]
        return Hits(results, found["estimatedTotalHits"], search.page, self.name)
