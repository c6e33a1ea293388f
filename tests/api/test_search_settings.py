"""SEARCH_EXACT_COUNT_MAX and SEARCH_COUNT_CACHE_S reach the database search that make_search builds."""

from __future__ import annotations

import time

from bazaar.infra import db
from bazaar.infra.search import make_search
from bazaar.infra.search.query import ProductSearch
from tests.conftest import make_product

EARBUDS = ProductSearch(text="earbuds")


def total(backend) -> int:
    with db.connection():
        return backend.products(EARBUDS).total


def test_totals_above_search_exact_count_max_are_reused_and_below_it_counted_each_time(
    settings, services, creator, api
):
    capped = make_search(settings.with_overrides(search_exact_count_max=2), services.live_state)
    exact = make_search(settings.with_overrides(search_exact_count_max=1000), services.live_state)
    for n in range(4):
        make_product(api, creator, name=f"Earbuds {n}")
    assert (total(capped), total(exact)) == (4, 4)
    make_product(api, creator, name="Earbuds 4")
    assert (total(capped), total(exact)) == (4, 5)


def test_a_large_total_is_reused_for_search_count_cache_s(settings, services, creator, api):
    brief = make_search(
        settings.with_overrides(search_exact_count_max=2, search_count_cache_s=0.05), services.live_state
    )
    lasting = make_search(
        settings.with_overrides(search_exact_count_max=2, search_count_cache_s=60), services.live_state
    )
    for n in range(4):
        make_product(api, creator, name=f"Earbuds {n}")
    assert (total(brief), total(lasting)) == (4, 4)
    make_product(api, creator, name="Earbuds 4")
    deadline = time.monotonic() + 5
    while total(brief) != 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (total(brief), total(lasting)) == (5, 4)
