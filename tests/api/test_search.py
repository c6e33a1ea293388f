"""SPEC §8: search over sessions and products — full text, filters, sorts, pagination, 400s — on the
database backend.

Viewers and engagement are put into rooms through the app's own LiveState, as
the WebSocket layer does when people join and react.
"""

from __future__ import annotations

import pytest

from tests.conftest import make_product, register
from tests.support.shows import end, make_show, set_status, start

LIST_FIELDS = {"results", "total", "limit", "offset", "hasMore"}


def search(api, path: str, **params):
    resp = api.get("/api/search" + path, params=params)
    assert resp.status == 200, resp
    return resp.json


def names(body) -> list[str]:
    return [product["name"] for product in body["results"]]


def titles(body) -> list[str]:
    return [session["title"] for session in body["results"]]


def go_live(api, owner, show: dict) -> dict:
    start(api, owner, show)
    return show


def watch(services, show: dict, viewers: int) -> None:
    for n in range(viewers):
        services.live_state.join(show["id"], f"c:{show['id']}:{n}")


# products: full text -------------------------------------------------------------------------


def test_a_word_prefix_finds_a_product_while_typing(api, creator):
    make_product(api, creator, name="Wireless Earbuds")
    make_product(api, creator, name="Desk Lamp")
    assert names(search(api, "/products", q="earb")) == ["Wireless Earbuds"]


def test_words_match_in_any_order(api, creator):
    make_product(api, creator, name="Wireless Earbuds Pro")
    assert names(search(api, "/products", q="earbuds wirel")) == ["Wireless Earbuds Pro"]


def test_every_word_must_match(api, creator):
    make_product(api, creator, name="Wireless Earbuds")
    assert search(api, "/products", q="earbuds blender")["total"] == 0


def test_text_search_ignores_case(api, creator):
    make_product(api, creator, name="wireless earbuds")
    assert names(search(api, "/products", q="EARBUDS")) == ["wireless earbuds"]


def test_text_search_ignores_accents_both_ways(api, creator):
    make_product(api, creator, name="Café Grinder")
    make_product(api, creator, name="Creme Brulee Torch")
    assert names(search(api, "/products", q="cafe")) == ["Café Grinder"]
    assert names(search(api, "/products", q="crème brûlée")) == ["Creme Brulee Torch"]


def test_description_and_category_are_searched_too(api, creator):
    make_product(api, creator, name="Travel Case", description="Fits most earbuds")
    make_product(api, creator, name="Pouch", category="earbuds-accessories")
    assert sorted(names(search(api, "/products", q="earbuds"))) == ["Pouch", "Travel Case"]


def test_a_name_match_ranks_above_a_description_match(api, creator):
    make_product(api, creator, name="Travel Case", description="Earbuds earbuds earbuds: fits all earbuds")
    make_product(api, creator, name="Wireless Earbuds", description="Great sound")
    assert names(search(api, "/products", q="earbuds")) == ["Wireless Earbuds", "Travel Case"]


def test_punctuation_in_the_text_is_not_an_error(api, creator):
    make_product(api, creator, name="Wi-Fi Speaker")
    assert names(search(api, "/products", q="wi-fi 'speaker' & (|!:*")) == ["Wi-Fi Speaker"]


def test_a_text_without_words_matches_everything(api, creator):
    make_product(api, creator, name="Lamp")
    assert search(api, "/products", q="?!")["total"] == 1


def test_a_renamed_product_is_found_by_its_new_name_only(api, creator):
    product = make_product(api, creator, name="Desk Lamp")
    api.put(f"/api/products/{product['id']}", as_=creator, json={"name": "Floor Lamp"})
    assert names(search(api, "/products", q="floor")) == ["Floor Lamp"]
    assert search(api, "/products", q="desk")["total"] == 0


def test_a_deleted_product_is_no_longer_found(api, creator):
    product = make_product(api, creator, name="Desk Lamp")
    api.delete(f"/api/products/{product['id']}", as_=creator)
    assert search(api, "/products", q="lamp")["total"] == 0


# products: filters and sorts -----------------------------------------------------------------


def test_results_are_bare_product_objects_in_the_list_shape(api, creator):
    product = make_product(api, creator)
    body = search(api, "/products", q="earbuds")
    assert set(body) == LIST_FIELDS
    assert body["results"] == [product]
    assert (body["total"], body["limit"], body["offset"], body["hasMore"]) == (1, 20, 0, False)


def test_category_filter_ignores_case(api, creator):
    make_product(api, creator, name="Earbuds", category="Audio")
    make_product(api, creator, name="Lamp", category="home")
    assert names(search(api, "/products", category="audio")) == ["Earbuds"]


@pytest.mark.parametrize("value, expected", [("true", ["Earbuds"]), ("false", ["Lamp"]), ("1", ["Earbuds"])])
def test_in_stock_filter(api, creator, value, expected):
    make_product(api, creator, name="Earbuds", inStock=True)
    make_product(api, creator, name="Lamp", inStock=False)
    assert names(search(api, "/products", inStock=value)) == expected


def test_price_range_is_inclusive(api, creator):
    for price in (5, 10, 20, 30):
        make_product(api, creator, name=f"Item {price}", price=price)
    body = search(api, "/products", minPrice="10", maxPrice="20.00", sortBy="price-asc")
    assert names(body) == ["Item 10", "Item 20"]


def test_seller_filter(api, creator, other_creator):
    make_product(api, creator, name="Mine")
    make_product(api, other_creator, name="Theirs")
    assert names(search(api, "/products", sellerId=str(other_creator.id))) == ["Theirs"]


def test_filters_combine_with_the_text(api, creator):
    make_product(api, creator, name="Cheap Earbuds", price=10, category="audio")
    make_product(api, creator, name="Fancy Earbuds", price=200, category="audio")
    make_product(api, creator, name="Cheap Lamp", price=10, category="audio")
    body = search(api, "/products", q="earbuds", maxPrice="50", category="audio")
    assert names(body) == ["Cheap Earbuds"]


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("price-asc", ["B 5", "C 10", "A 20"]),
        ("price-desc", ["A 20", "C 10", "B 5"]),
        ("name", ["A 20", "B 5", "C 10"]),
        ("newest", ["C 10", "B 5", "A 20"]),
        ("oldest", ["A 20", "B 5", "C 10"]),
        ("relevance", ["C 10", "B 5", "A 20"]),  # no text: newest first
    ],
)
def test_product_sorts(api, creator, sort, expected):
    for name in ("A 20", "B 5", "C 10"):
        make_product(api, creator, name=name, price=int(name.split()[1]))
    assert names(search(api, "/products", sortBy=sort)) == expected


def test_name_sort_ignores_case(api, creator):
    for name in ("banana", "Apple", "cherry"):
        make_product(api, creator, name=name)
    assert names(search(api, "/products", sortBy="name")) == ["Apple", "banana", "cherry"]


def test_a_sort_combines_with_the_text(api, creator):
    make_product(api, creator, name="Earbuds Max", price=300)
    make_product(api, creator, name="Earbuds Mini", price=30)
    make_product(api, creator, name="Lamp", price=1)
    assert names(search(api, "/products", q="earbuds", sortBy="price-asc")) == ["Earbuds Mini", "Earbuds Max"]


# pagination --------------------------------------------------------------------------------


def test_pages_walk_through_all_matches(api, creator):
    for n in range(5):
        make_product(api, creator, name=f"Earbuds {n}")
    first = search(api, "/products", q="earbuds", sortBy="oldest", limit="2")
    last = search(api, "/products", q="earbuds", sortBy="oldest", limit="2", offset="4")
    assert (names(first), first["total"], first["hasMore"]) == (["Earbuds 0", "Earbuds 1"], 5, True)
    assert (names(last), last["total"], last["hasMore"], last["offset"]) == (["Earbuds 4"], 5, False, 4)


def test_a_page_past_the_end_is_empty_but_keeps_the_total(api, creator):
    make_product(api, creator)
    body = search(api, "/products", offset="10")
    assert (body["results"], body["total"], body["hasMore"]) == ([], 1, False)


def test_lists_return_twenty_by_default(api, creator):
    for n in range(21):
        make_product(api, creator, name=f"Item {n}")
    body = search(api, "/products")
    assert (len(body["results"]), body["limit"], body["total"], body["hasMore"]) == (20, 20, 21, True)


# bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, params, field",
    [
        ("/products", {"sortBy": "cheapest"}, "sortBy"),
        ("/products", {"inStock": "maybe"}, "inStock"),
        ("/products", {"minPrice": "abc"}, "minPrice"),
        ("/products", {"minPrice": "-1"}, "minPrice"),
        ("/products", {"maxPrice": "1e999"}, "maxPrice"),
        ("/products", {"minPrice": "20", "maxPrice": "10"}, "minPrice"),
        ("/products", {"sellerId": "me"}, "sellerId"),
        ("/products", {"sellerId": "0"}, "sellerId"),
        ("/products", {"limit": "0"}, "limit"),
        ("/products", {"limit": "101"}, "limit"),
        ("/products", {"limit": "ten"}, "limit"),
        ("/products", {"offset": "-1"}, "offset"),
        ("/products", {"q": "x" * 201}, "q"),
        ("/sessions", {"sortBy": "popular"}, "sortBy"),
        ("/sessions", {"status": "archived"}, "status"),
        ("/sessions", {"creatorId": "abc"}, "creatorId"),
        ("/sessions", {"limit": "1000"}, "limit"),
        ("/sessions/live", {"offset": "x"}, "offset"),
        ("/sessions/upcoming", {"limit": "0"}, "limit"),
        ("/sessions/trending", {"limit": "-5"}, "limit"),
        ("/sessions/creator/1", {"offset": "-1"}, "offset"),
        ("", {"q": "a", "limit": "101"}, "limit"),
    ],
)
def test_bad_query_values_are_400_naming_the_parameter(api, path, params, field):
    resp = api.get("/api/search" + path, params=params)
    assert resp.status == 400
    assert resp.json["success"] is False
    assert resp.json["error"] == "validation_error"
    assert field in resp.json["details"]


@pytest.mark.parametrize("params", [{}, {"q": "   "}])
def test_search_everything_needs_a_text(api, params):
    resp = api.get("/api/search", params=params)
    assert resp.status == 400
    assert "q" in resp.json["details"]


def test_a_creator_id_that_is_not_a_number_is_not_a_route(api):
    assert api.get("/api/search/sessions/creator/abc").status == 404


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/sessions",
        "/sessions/live",
        "/sessions/upcoming",
        "/sessions/trending",
        "/sessions/creator/1",
        "/products",
    ],
)
def test_every_search_answer_names_the_database_backend(api, path):
    ok = api.get("/api/search" + path, params={"q": "lamp"})
    bad = api.get("/api/search" + path, params={"q": "lamp", "limit": "0"})
    assert (ok.status, bad.status) == (200, 400)
    assert ok.headers["X-Search-Backend"] == bad.headers["X-Search-Backend"] == "database"


# sessions ----------------------------------------------------------------------------------


def test_sessions_are_found_by_title_prefix_with_their_creator(api, creator):
    make_show(api, creator, title="Sneaker Drop Friday")
    make_show(api, creator, title="Cooking with Ana")
    body = search(api, "/sessions", q="sneak fri")
    assert set(body) == LIST_FIELDS
    assert titles(body) == ["Sneaker Drop Friday"]
    assert body["results"][0]["creator"] == {"id": creator.id, "username": creator.username}
    assert "streamKey" not in body["results"][0]


def test_session_tags_category_and_description_are_searched(api, creator):
    make_show(api, creator, title="A", tags=["vintage", "denim"])
    make_show(api, creator, title="B", category="Électronique")
    make_show(api, creator, title="C", description="Unboxing new phones")
    assert titles(search(api, "/sessions", q="denim")) == ["A"]
    assert titles(search(api, "/sessions", q="electronique")) == ["B"]
    assert titles(search(api, "/sessions", q="UNBOX")) == ["C"]


def test_a_title_match_ranks_above_a_description_match(api, creator):
    make_show(api, creator, title="Kitchen talk", description="We try sneakers, sneakers and sneakers")
    make_show(api, creator, title="Sneakers live", description="Kicks")
    assert titles(search(api, "/sessions", q="sneakers")) == ["Sneakers live", "Kitchen talk"]


def test_sessions_filter_by_status_category_and_creator(api, creator, other_creator):
    live = go_live(api, creator, make_show(api, creator, title="Live fashion", category="Fashion"))
    make_show(api, creator, title="Later fashion", category="fashion")
    make_show(api, other_creator, title="Their fashion", category="fashion")
    assert titles(search(api, "/sessions", status="live")) == ["Live fashion"]
    assert titles(
        search(api, "/sessions", category="FASHION", creatorId=str(creator.id), sortBy="oldest")
    ) == ["Live fashion", "Later fashion"]
    assert search(api, "/sessions", status="live")["results"][0]["id"] == live["id"]


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("newest", ["cherry", "Banana", "apple"]),
        ("oldest", ["apple", "Banana", "cherry"]),
        ("title", ["apple", "Banana", "cherry"]),
    ],
)
def test_session_sorts(api, creator, sort, expected):
    for title in ("apple", "Banana", "cherry"):
        make_show(api, creator, title=title)
    assert titles(search(api, "/sessions", sortBy=sort)) == expected


def test_viewers_sort_puts_the_biggest_live_audience_first(api, services, creator):
    quiet = go_live(api, creator, make_show(api, creator, title="Quiet"))
    busy = go_live(api, creator, make_show(api, creator, title="Busy"))
    make_show(api, creator, title="Not yet")
    watch(services, quiet, 1)
    watch(services, busy, 3)
    body = search(api, "/sessions", sortBy="viewers")
    assert titles(body) == ["Busy", "Quiet", "Not yet"]
    assert [s.get("viewerCount") for s in body["results"]] == [3, 1, None]


def test_viewers_sort_pages_across_live_and_other_sessions(api, services, creator):
    for title in ("Old", "Newer"):
        make_show(api, creator, title=title)
    watch(services, go_live(api, creator, make_show(api, creator, title="Live")), 2)
    first = search(api, "/sessions", sortBy="viewers", limit="2")
    second = search(api, "/sessions", sortBy="viewers", limit="2", offset="2")
    assert (titles(first), first["total"], first["hasMore"]) == (["Live", "Newer"], 3, True)
    assert (titles(second), second["total"], second["hasMore"]) == (["Old"], 3, False)


def test_live_lists_live_sessions_most_viewers_first(api, services, creator):
    small = go_live(api, creator, make_show(api, creator, title="Small"))
    big = go_live(api, creator, make_show(api, creator, title="Big"))
    paused = go_live(api, creator, make_show(api, creator, title="Paused"))
    set_status(api, creator, paused, "paused")
    make_show(api, creator, title="Scheduled")
    watch(services, small, 1)
    watch(services, big, 2)
    body = search(api, "/sessions/live")
    assert titles(body) == ["Big", "Small"]
    assert [s["viewerCount"] for s in body["results"]] == [2, 1]
    assert body["total"] == 2


def test_upcoming_lists_scheduled_sessions_soonest_first(api, creator):
    make_show(api, creator, title="Next week", scheduledAt="2031-01-08T10:00:00Z")
    make_show(api, creator, title="Tomorrow", scheduledAt="2031-01-02T10:00:00Z")
    make_show(api, creator, title="Some day")
    go_live(api, creator, make_show(api, creator, title="Live", scheduledAt="2031-01-01T10:00:00Z"))
    assert titles(search(api, "/sessions/upcoming")) == ["Tomorrow", "Next week", "Some day"]


def test_trending_ranks_by_viewers_then_recent_engagement(api, services, creator):
    calm = go_live(api, creator, make_show(api, creator, title="Calm"))
    lively = go_live(api, creator, make_show(api, creator, title="Lively"))
    crowded = go_live(api, creator, make_show(api, creator, title="Crowded"))
    make_show(api, creator, title="Scheduled")
    for show in (calm, lively):
        watch(services, show, 1)
    watch(services, crowded, 5)
    services.live_state.record_engagement(lively["id"], 10)
    services.live_state.record_engagement(calm["id"], 2)
    assert titles(search(api, "/sessions/trending")) == ["Crowded", "Lively", "Calm"]


def test_creator_sessions_newest_first_whatever_their_status(api, creator, other_creator):
    first = go_live(api, creator, make_show(api, creator, title="First"))
    end(api, creator, first)
    make_show(api, creator, title="Second")
    make_show(api, other_creator, title="Not mine")
    body = search(api, f"/sessions/creator/{creator.id}")
    assert titles(body) == ["Second", "First"]
    assert body["results"][1]["status"] == "ended"


def test_an_unknown_creator_has_no_sessions(api):
    assert search(api, "/sessions/creator/999999")["total"] == 0


def test_session_lists_page(api, creator):
    for n in range(3):
        make_show(api, creator, title=f"Show {n}")
    body = search(api, f"/sessions/creator/{creator.id}", limit="2", offset="1")
    assert (titles(body), body["total"], body["hasMore"]) == (["Show 1", "Show 0"], 3, False)


# everything --------------------------------------------------------------------------------


def test_search_everything_returns_sessions_and_products_with_counts(api, creator):
    make_show(api, creator, title="Earbuds unboxing")
    make_product(api, creator, name="Wireless Earbuds")
    make_product(api, creator, name="Earbuds Case")
    make_product(api, creator, name="Lamp")
    body = api.get("/api/search", params={"q": "earbuds"}).json
    assert set(body) == {"sessions", "products", "total", "counts"}
    assert [s["title"] for s in body["sessions"]] == ["Earbuds unboxing"]
    assert sorted(p["name"] for p in body["products"]) == ["Earbuds Case", "Wireless Earbuds"]
    assert (body["total"], body["counts"]) == (3, {"sessions": 1, "products": 2})


def test_search_everything_returns_ten_of_each_by_default_and_counts_all(api, creator):
    for n in range(11):
        make_product(api, creator, name=f"Earbuds {n}")
    body = api.get("/api/search", params={"q": "earbuds"}).json
    assert (len(body["products"]), body["counts"]["products"]) == (10, 11)
    assert len(api.get("/api/search", params={"q": "earbuds", "limit": "3"}).json["products"]) == 3


def test_search_is_public(api, creator):
    make_product(api, creator)
    viewer = register(api)
    assert api.get("/api/search/products", params={"q": "earbuds"}, as_=viewer).json["total"] == 1


def test_relevance_pages_run_from_name_matches_into_the_others(api, creator):
    for name, description in (
        ("Earbuds A1", ""),
        ("Earbuds A2", ""),
        ("Case D1", "for earbuds"),
        ("Case D2", "for earbuds"),
    ):
        make_product(api, creator, name=name, description=description)
    assert names(search(api, "/products", q="earbuds", limit="3")) == ["Earbuds A2", "Earbuds A1", "Case D2"]
    assert names(search(api, "/products", q="earbuds", limit="2", offset="1")) == ["Earbuds A1", "Case D2"]
    assert names(search(api, "/products", q="earbuds", limit="3", offset="3")) == ["Case D1"]


# totals ------------------------------------------------------------------------------------


def test_large_totals_are_exact_then_reused_for_a_while(services, creator, api):
    from bazaar.infra import db
    from bazaar.infra.search.database import DatabaseSearch
    from bazaar.infra.search.query import ProductSearch

    backend = DatabaseSearch(
        services.live_state, postgres=db.is_postgres(), exact_count_max=2, count_cache_s=60
    )
    for n in range(4):
        make_product(api, creator, name=f"Earbuds {n}")
    with db.connection():
        first = backend.products(ProductSearch(text="earbuds"))
        make_product(api, creator, name="Earbuds 5")
        second = backend.products(ProductSearch(text="earbuds"))
        small = backend.products(ProductSearch(text="earbuds 5"))
    assert (first.total, second.total, small.total) == (4, 4, 1)
    assert len(second.results) == 5
