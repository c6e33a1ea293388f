"""Helpers for indexer tests: what the outbox holds, what search answers."""

from __future__ import annotations

from bazaar.domain.models import SearchOutbox
from bazaar.infra import db
from tests.support.api_client import ApiClient


def outbox_rows() -> list[tuple[str, str]]:
    """(doc_type, doc_id) of every outbox row, oldest first."""
    with db.connection():
        return list(
            SearchOutbox.select(SearchOutbox.doc_type, SearchOutbox.doc_id).order_by(SearchOutbox.id).tuples()
        )


def meili_answer(api: ApiClient, path: str, params: dict) -> dict:
    """The body of a search that Meilisearch answered (not the database fallback)."""
    resp = api.get(path, params=params)
    assert resp.status == 200, resp
    assert resp.headers["X-Search-Backend"] == "meilisearch"
    return resp.json


def found_products(api: ApiClient, **params) -> list[str]:
    """Names of the products Meilisearch finds through GET /api/search/products."""
    return [product["name"] for product in meili_answer(api, "/api/search/products", params)["results"]]


def found_sessions(api: ApiClient, **params) -> list[str]:
    return [session["title"] for session in meili_answer(api, "/api/search/sessions", params)["results"]]


def products_total(api: ApiClient, **params) -> int:
    """`total` of GET /api/search/products: counts index matches, even those whose row is gone."""
    return meili_answer(api, "/api/search/products", params)["total"]
