"""`check`: documents missing, extra or stale against the database, and `--repair`."""

from __future__ import annotations

from bazaar.domain.models import Product
from bazaar.infra import db
from search_indexer import maintenance
from tests.conftest import make_product

GHOST_ID = "00000000-0000-4000-8000-000000000000"


def drift_everywhere(api, indexer, indexes, creator) -> dict:
    """One product missing from the index, one extra document, one stale document."""
    missing = make_product(api, creator, name="Wireless Earbuds")
    stale = make_product(api, creator, name="Wireless Speaker")
    indexer.drain()
    products = indexes.uid("products")
    indexes.delete(products, [missing["id"]])
    indexes.upsert(products, [{"id": GHOST_ID, "name": "Ghost Earbuds"}])
    with db.connection():  # a write that bypassed the outbox
        Product.update(name="Wireless Soundbar").where(Product.id == stale["id"]).execute()
    return {"missing": missing["id"], "stale": stale["id"]}


def test_check_finds_missing_extra_and_stale_documents(api, indexer, indexes, creator):
    ids = drift_everywhere(api, indexer, indexes, creator)

    drift = maintenance.find_drift(indexes, chunk_size=1)

    assert drift["product"] == maintenance.Drift(
        missing=[ids["missing"]], extra=[GHOST_ID], stale=[ids["stale"]]
    )
    assert len(drift["session"]) == 0


def test_check_finds_nothing_when_the_index_is_in_line(api, indexer, indexes, creator):
    make_product(api, creator)
    api.post("/api/sessions", json={"title": "Late Night Audio"}, as_=creator)
    indexer.drain()

    assert sum(len(found) for found in maintenance.find_drift(indexes, chunk_size=1).values()) == 0


def test_repair_brings_the_index_back_in_line(api, search_api, indexer, indexes, creator):
    drift_everywhere(api, indexer, indexes, creator)

    maintenance.repair(maintenance.find_drift(indexes, chunk_size=100))
    indexer.drain()

    assert sum(len(found) for found in maintenance.find_drift(indexes, chunk_size=100).values()) == 0
    resp = search_api.get("/api/search/products", params={"q": "wireless", "sortBy": "name"})
    assert [p["name"] for p in resp.json["results"]] == ["Wireless Earbuds", "Wireless Soundbar"]
    assert resp.json["total"] == 2
