"""`reindex`: fresh indexes filled from the database, swapped in atomically, safe to re-run."""

from __future__ import annotations

from bazaar.domain.models import SearchOutbox
from bazaar.infra import db
from search_indexer import maintenance
from search_indexer.indexes import load_index_settings
from tests.conftest import make_product
from tests.indexer.support import found_products, found_sessions, products_total


def forget_outbox() -> None:
    """Rows that existed before search was set up never went through an indexer."""
    with db.connection():
        SearchOutbox.delete().execute()


def test_a_first_reindex_indexes_every_existing_row(api, search_api, indexes, creator):
    product = make_product(api, creator, name="Wireless Earbuds")
    api.post("/api/sessions", json={"title": "Late Night Audio", "productIds": [product["id"]]}, as_=creator)
    forget_outbox()

    written = maintenance.reindex(indexes, chunk_size=1)

    assert written == {"sessions": 1, "products": 1}
    assert found_products(search_api, q="earbuds") == ["Wireless Earbuds"]
    assert found_sessions(search_api, q="earbuds") == ["Late Night Audio"]


def test_search_keeps_answering_from_meilisearch_at_every_step_of_a_reindex(
    api, search_api, indexer, indexes, creator
):
    make_product(api, creator, name="Wireless Earbuds")
    indexer.drain()
    answers = []

    def search_now(step: str) -> None:
        resp = search_api.get("/api/search/products", params={"q": "earbuds"})
        answers.append((step, resp.status, resp.headers["X-Search-Backend"], resp.json["total"]))

    maintenance.reindex(indexes, chunk_size=100, progress=search_now)

    assert len(answers) >= 5
    assert all(answer[1:] == (200, "meilisearch", 1) for answer in answers), answers


def test_a_reindex_replaces_what_the_old_index_held(api, search_api, indexer, indexes, creator):
    make_product(api, creator, name="Wireless Earbuds")
    indexer.drain()
    indexes.upsert(
        indexes.uid("products"), [{"id": "00000000-0000-4000-8000-000000000000", "name": "Ghost Earbuds"}]
    )

    maintenance.reindex(indexes, chunk_size=100)

    assert found_products(search_api, q="earbuds") == ["Wireless Earbuds"]
    assert products_total(search_api, q="earbuds") == 1


def test_a_reindex_rerun_after_a_crash_starts_over(api, search_api, indexes, creator):
    make_product(api, creator, name="Wireless Earbuds")
    forget_outbox()
    leftover = indexes.create("products", maintenance.FRESH)  # a crashed run's half-filled index
    indexes.upsert(leftover, [{"id": "00000000-0000-4000-8000-000000000000", "name": "Ghost Earbuds"}])

    maintenance.reindex(indexes, chunk_size=100)

    assert products_total(search_api, q="earbuds") == 1
    assert not indexes.exists(leftover)


def test_a_reindex_applies_the_index_settings(indexes):
    maintenance.reindex(indexes, chunk_size=100)

    shipped = load_index_settings()["products"]["settings"]
    applied = indexes.client.index(indexes.uid("products")).get_settings()
    assert sorted(applied["filterableAttributes"]) == sorted(shipped["filterableAttributes"])
    assert sorted(applied["sortableAttributes"]) == sorted(shipped["sortableAttributes"])
    assert applied["rankingRules"] == shipped["rankingRules"]


def test_changes_made_during_a_reindex_are_caught_up_afterwards(api, search_api, indexer, indexes, creator):
    product = make_product(api, creator, name="Wireless Earbuds")
    indexer.drain()

    def delete_while_filling(step: str) -> None:
        if step.startswith("filled") and "products" in step:
            api.delete(f"/api/products/{product['id']}", as_=creator)
            indexer.drain()  # the running indexer deletes it from the index about to be replaced

    maintenance.reindex(indexes, chunk_size=100, progress=delete_while_filling)
    indexer.drain()

    assert products_total(search_api, q="earbuds") == 0
