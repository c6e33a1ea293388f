"""Search answered by Meilisearch: the same answers as the database backend for every filter, sort
and page of SPEC §8, and the database answering instead whenever Meilisearch cannot."""

from __future__ import annotations

import pytest

from bazaar.infra.search import make_search
from bazaar.infra.search.query import ProductSearch
from bazaar.live.state import make_live_state
from tests.conftest import make_product

# The indexer tests' fixtures: settings naming this run's indexes, the indexer, the Meilisearch-backed API.
from tests.indexer.conftest import (  # noqa: F401
    fresh_indexes,
    indexer,
    meili_settings,
    search_api,
    search_app,
)


@pytest.fixture
def catalogue(api, indexer, creator, other_creator):  # noqa: F811
    """Products and sessions with varied fields, indexed."""
    make_product(api, creator, name="Wireless Earbuds", price=49.99, category="Audio")
    make_product(api, creator, name="Wireless Speaker", price=89.00, category="audio", inStock=False)
    make_product(
        api, creator, name="Desk Lamp", price=25.50, category="Home", description="warm wireless glow"
    )
    make_product(api, other_creator, name="Floor Lamp", price=120.00, category="Home")
    make_product(api, other_creator, name="Wireless Charger", price=19.99, category="Tech")
    shows = [
        (creator, {"title": "Gadget Night", "category": "Tech", "scheduledAt": "2031-01-03T20:00:00Z"}),
        (creator, {"title": "audio deep dive", "category": "Audio", "tags": ["gadgets"]}),
        (other_creator, {"title": "Lamp Lovers", "category": "Home", "scheduledAt": "2031-01-01T20:00:00Z"}),
        (
            other_creator,
            {"title": "Cables and Gadgets", "category": "tech", "scheduledAt": "2031-01-02T20:00:00Z"},
        ),
        (other_creator, {"title": "Someday Unboxing"}),  # scheduled, no date yet: last among the upcoming
    ]
    ids = []
    for owner, body in shows:
        resp = api.post("/api/sessions", json=body, as_=owner)
        assert resp.status == 201, resp
        ids.append(resp.data["id"])
    api.patch(f"/api/sessions/{ids[1]}/status", json={"status": "ended"}, as_=creator)
    indexer.drain()
    return {"creator": creator, "other_creator": other_creator}


def answers(api, path: str, params: dict) -> tuple[list[str], int, str]:
    resp = api.get(path, params=params)
    assert resp.status == 200, resp
    return [item["id"] for item in resp.json["results"]], resp.json["total"], resp.headers["X-Search-Backend"]


PRODUCT_QUERIES = [
    {},
    {"sortBy": "oldest"},
    {"sortBy": "name"},
    {"sortBy": "price-asc"},
    {"sortBy": "price-desc"},
    {"category": "AUDIO"},
    {"inStock": "false"},
    {"minPrice": "20", "maxPrice": "90"},
    {"q": "wireless", "sortBy": "price-asc"},
    {"q": "lamp", "category": "home", "sortBy": "newest"},
    {"sortBy": "price-asc", "limit": "2", "offset": "1"},
    {"sortBy": "name", "limit": "2", "offset": "4"},
]


@pytest.mark.parametrize(
    "params", PRODUCT_QUERIES, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()) or "all"
)
def test_product_searches_answer_like_the_database(api, search_api, catalogue, params):  # noqa: F811
    found, total, backend = answers(search_api, "/api/search/products", params)

    assert backend == "meilisearch"
    assert (found, total) == answers(api, "/api/search/products", params)[:2]


def test_products_filtered_by_seller_are_that_sellers(api, search_api, catalogue):  # noqa: F811
    params = {"sellerId": str(catalogue["other_creator"].id), "sortBy": "name"}

    assert (
        answers(search_api, "/api/search/products", params)[:2]
        == answers(api, "/api/search/products", params)[:2]
    )


def test_a_text_search_finds_the_same_products_as_the_database(api, search_api, catalogue):  # noqa: F811
    found, total, _ = answers(search_api, "/api/search/products", {"q": "wireless"})

    expected, expected_total, _ = answers(api, "/api/search/products", {"q": "wireless"})
    assert (sorted(found), total) == (sorted(expected), expected_total)


def test_name_matches_rank_above_description_matches(search_api, catalogue):  # noqa: F811
    resp = search_api.get("/api/search/products", params={"q": "wireless"})

    assert resp.json["results"][-1]["name"] == "Desk Lamp"  # "wireless" only in its description


SESSION_QUERIES = [
    ("/api/search/sessions", {}),
    ("/api/search/sessions", {"sortBy": "oldest"}),
    ("/api/search/sessions", {"sortBy": "title"}),
    ("/api/search/sessions", {"status": "ended"}),
    ("/api/search/sessions", {"category": "TECH", "sortBy": "newest"}),
    ("/api/search/sessions", {"q": "gadget", "sortBy": "title"}),
    ("/api/search/sessions", {"sortBy": "title", "limit": "2", "offset": "1"}),
    ("/api/search/sessions/upcoming", {}),
]


@pytest.mark.parametrize(
    "path,params",
    SESSION_QUERIES,
    ids=lambda v: v if isinstance(v, str) else "&".join(f"{k}={x}" for k, x in v.items()),
)
def test_session_searches_answer_like_the_database(api, search_api, catalogue, path, params):  # noqa: F811
    found, total, backend = answers(search_api, path, params)

    assert backend == "meilisearch"
    assert (found, total) == answers(api, path, params)[:2]


def test_a_creators_sessions_answer_like_the_database(api, search_api, catalogue):  # noqa: F811
    path = f"/api/search/sessions/creator/{catalogue['creator'].id}"

    assert answers(search_api, path, {})[:2] == answers(api, path, {})[:2]


def test_sessions_carry_the_same_public_shape_as_from_the_database(api, search_api, catalogue):  # noqa: F811
    from_meili = search_api.get("/api/search/sessions", params={"q": "lamp"}).json["results"]
    from_database = api.get("/api/search/sessions", params={"q": "lamp"}).json["results"]

    assert [s["title"] for s in from_meili] == ["Lamp Lovers"]
    assert from_meili == from_database


@pytest.mark.parametrize(
    "path,params",
    [
        ("/api/search/sessions/live", {}),
        ("/api/search/sessions/trending", {}),
        ("/api/search/sessions", {"sortBy": "viewers"}),
    ],
)
def test_orders_by_live_audience_are_answered_by_the_database(search_api, catalogue, path, params):  # noqa: F811
    resp = search_api.get(path, params=params)

    assert resp.status == 200
    assert resp.headers["X-Search-Backend"] == "database"


def test_bad_parameters_are_refused_before_any_backend_is_asked(search_api):  # noqa: F811
    resp = search_api.get("/api/search/products", params={"sortBy": "cheapest"})

    assert resp.status == 400
    assert resp.json["success"] is False


# --- falling back ---------------------------------------------------------------------------


def test_before_the_first_indexing_the_database_answers(api, search_api, creator):  # noqa: F811
    make_product(api, creator, name="Wireless Earbuds")  # no index exists yet

    resp = search_api.get("/api/search/products", params={"q": "earbuds"})

    assert resp.status == 200
    assert resp.headers["X-Search-Backend"] == "database"
    assert [p["name"] for p in resp.json["results"]] == ["Wireless Earbuds"]


def test_meilisearch_answering_errors_makes_the_database_answer(api, search_api, catalogue, meili_emulator):  # noqa: F811
    meili_emulator.set_unavailable(True)  # 503 to everything

    resp = search_api.get("/api/search", params={"q": "lamp"})

    assert resp.status == 200
    assert resp.headers["X-Search-Backend"] == "database"
    assert {p["name"] for p in resp.json["products"]} == {"Desk Lamp", "Floor Lamp"}


def test_ready_reports_search_while_meilisearch_errors(search_api, meili_emulator):  # noqa: F811
    meili_emulator.set_unavailable(True)

    resp = search_api.get("/ready")

    assert resp.status == 503
    assert resp.json["checks"]["search"] == "unavailable"
    assert "search" in resp.json["message"]


def test_ready_reports_search_ok_when_meilisearch_is_healthy(search_api):  # noqa: F811
    resp = search_api.get("/ready")

    assert resp.json["checks"]["search"] == "ok"


def test_after_a_failure_meilisearch_is_left_alone_for_a_while(  # noqa: F811
    api, catalogue, meili_settings, meili_emulator
):
    settings = meili_settings.with_overrides(meili_retry_after_s=60)
    search = make_search(settings, make_live_state(settings))
    meili_emulator.set_unavailable(True)
    assert search.products(ProductSearch(text="lamp")).backend == "database"

    meili_emulator.set_unavailable(False)

    assert search.products(ProductSearch(text="lamp")).backend == "database"  # not retried yet
