"""Input the outside probe found answered with 500s; what it gets now: a clear 4xx, or the right answer."""

from __future__ import annotations

import pytest

MODIFIER_APOSTROPHES = ["ʼ", "ʹ", "ʻ", "ʽ", "ˈ", "ŉ", "пʼять"]  # U+02BC (Ukrainian), U+02B9, U+02BB, …


@pytest.mark.parametrize("route", ["/api/search", "/api/search/products", "/api/search/sessions"])
@pytest.mark.parametrize("text", MODIFIER_APOSTROPHES)
def test_search_for_modifier_letter_apostrophes_answers(api, route, text):
    resp = api.get(route, params={"q": text})
    assert resp.status == 200, resp


def test_a_product_named_with_a_modifier_apostrophe_is_found_by_it(api, creator):
    api.post("/api/products", as_=creator, json={"name": "Пʼять ложок", "price": 5, "category": "kitchen"})
    resp = api.get("/api/search/products", params={"q": "пʼять"})
    assert resp.status == 200, resp
    assert [hit["name"] for hit in resp.json["results"]] == ["Пʼять ложок"]
