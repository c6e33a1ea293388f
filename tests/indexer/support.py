"""Helpers for indexer tests: what the outbox holds, what search answers."""
from __future__ import annotations

from bazaar import db
from bazaar.models import SearchOutbox
from tests.support.api_client import ApiClient


def outbox_rows() -> list[tuple[str, str]]:
    """(doc_type, doc_id) of every outbox row, oldest first."""
    with db.connection():
        return list(SearchOutbox.select(SearchOutbox.doc_type, SearchOutbox.doc_id)
                    .order_by(SearchOutbox.id).tuples())


def found_products(api: ApiClient, **params) -> list[str]:
    """Names of the products GET /api/search/products answers with (asserting it answered)."""
    resp = api.get("/api/search/products", params=params)
    assert resp.status == 200, resp
    return [product["name"] for product in resp.json["results"]]


def found_sessions(api: ApiClient, **params) -> list[str]:
    resp = api.get("/api/search/sessions", params=params)
    assert resp.status == 200, resp
    return [session["title"] for session in resp.json["results"]]


def products_total(api: ApiClient, **params) -> int:
    """`total` of GET /api/search/products: counts index matches, even those whose row is gone."""
    resp = api.get("/api/search/products", params=params)
    assert resp.status == 200, resp
    return resp.json["total"]
