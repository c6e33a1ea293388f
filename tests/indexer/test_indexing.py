"""API writes → the indexer → the Meilisearch-backed search API finds them (and stops finding deleted
ones)."""

from __future__ import annotations

from tests.conftest import make_product
from tests.indexer.support import (
    found_products,
    found_sessions,
    meili_answer,
    outbox_rows,
    products_total,
)


def make_show(api, owner, **fields) -> dict:
    resp = api.post("/api/sessions", json={"title": "Friday Night Gadgets", **fields}, as_=owner)
    assert resp.status == 201, resp
    return resp.data


def test_a_new_product_is_found_once_the_indexer_ran(api, search_api, indexer, creator):
    indexer.drain()  # the indexes exist, empty
    make_product(api, creator, name="Wireless Earbuds")
    assert found_products(search_api, q="earbuds") == []  # Meilisearch answers: not indexed yet

    indexer.drain()

    resp = search_api.get("/api/search/products", params={"q": "earbuds"})
    assert [p["name"] for p in resp.json["results"]] == ["Wireless Earbuds"]
    assert resp.headers["X-Search-Backend"] == "meilisearch"


def test_the_indexer_empties_the_outbox(api, indexer, creator):
    make_product(api, creator)
    make_product(api, creator)

    assert indexer.drain() == 2
    assert outbox_rows() == []


def test_indexed_products_are_found_despite_a_typo(api, search_api, indexer, creator):
    make_product(api, creator, name="Wireless Earbuds")
    indexer.drain()

    assert found_products(search_api, q="wireles earbds") == ["Wireless Earbuds"]


def test_a_deleted_product_is_no_longer_found(api, search_api, indexer, creator):
    product = make_product(api, creator, name="Wireless Earbuds")
    indexer.drain()

    assert api.delete(f"/api/products/{product['id']}", as_=creator).status == 204
    indexer.drain()

    assert products_total(search_api, q="earbuds") == 0


def test_a_renamed_product_is_found_by_its_new_name_only(api, search_api, indexer, creator):
    product = make_product(api, creator, name="Wireless Earbuds")
    indexer.drain()

    api.put(f"/api/products/{product['id']}", json={"name": "Studio Headset"}, as_=creator)
    indexer.drain()

    assert found_products(search_api, q="studio") == ["Studio Headset"]
    assert found_products(search_api, q="wireless") == []


def test_stock_changes_reach_the_in_stock_filter(api, search_api, indexer, creator):
    product = make_product(api, creator, name="Wireless Earbuds")
    indexer.drain()

    api.put(f"/api/products/{product['id']}", json={"inStock": False}, as_=creator)
    indexer.drain()

    assert found_products(search_api, q="earbuds", inStock="true") == []
    assert found_products(search_api, q="earbuds", inStock="false") == ["Wireless Earbuds"]


def test_a_session_is_found_by_the_names_of_its_products(api, search_api, indexer, creator):
    product = make_product(api, creator, name="Wireless Earbuds")
    make_show(api, creator, title="Late Night Audio", productIds=[product["id"]])
    indexer.drain()

    assert found_sessions(search_api, q="earbuds") == ["Late Night Audio"]


def test_renaming_a_product_reaches_the_sessions_showing_it(api, search_api, indexer, creator):
    product = make_product(api, creator, name="Wireless Earbuds")
    make_show(api, creator, title="Late Night Audio", productIds=[product["id"]])
    indexer.drain()

    api.put(f"/api/products/{product['id']}", json={"name": "Studio Headset"}, as_=creator)
    indexer.drain()

    assert found_sessions(search_api, q="headset") == ["Late Night Audio"]
    assert found_sessions(search_api, q="earbuds") == []


def test_a_creator_rename_reaches_their_sessions(api, search_api, indexer, creator):
    make_show(api, creator, title="Late Night Audio")
    indexer.drain()

    api.put(f"/api/users/{creator.id}", json={"username": "audiophile_anna"}, as_=creator)
    indexer.drain()

    assert found_sessions(search_api, q="audiophile") == ["Late Night Audio"]


def test_a_status_change_reaches_the_status_filter(api, search_api, indexer, creator):
    show = make_show(api, creator, title="Late Night Audio")
    indexer.drain()

    api.patch(f"/api/sessions/{show['id']}/status", json={"status": "ended"}, as_=creator)
    indexer.drain()

    assert found_sessions(search_api, q="audio", status="ended") == ["Late Night Audio"]
    assert found_sessions(search_api, q="audio", status="scheduled") == []


def test_a_deleted_session_is_no_longer_found(api, search_api, indexer, creator):
    show = make_show(api, creator, title="Late Night Audio")
    indexer.drain()

    assert api.delete(f"/api/sessions/{show['id']}", as_=creator).status == 200
    indexer.drain()

    assert meili_answer(search_api, "/api/search/sessions", {"q": "audio"})["total"] == 0


def test_the_overview_search_finds_sessions_and_products(api, search_api, indexer, creator):
    product = make_product(api, creator, name="Wireless Earbuds")
    make_show(api, creator, title="Earbuds Marathon", productIds=[product["id"]])
    indexer.drain()

    resp = search_api.get("/api/search", params={"q": "earbuds"})

    assert resp.headers["X-Search-Backend"] == "meilisearch"
    assert [s["title"] for s in resp.json["sessions"]] == ["Earbuds Marathon"]
    assert [p["name"] for p in resp.json["products"]] == ["Wireless Earbuds"]
    assert resp.json["counts"] == {"sessions": 1, "products": 1}
