"""Round trips per search page on the database backend: a page of a small catalogue is one SQL statement
(its rows, both relevance tiers, the total, and for sessions their creator and showcased product joined)
once its words have been searched before; on PostgreSQL the first search for new words reads their
tsquery first."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import gevent
import pytest

from tests.conftest import make_product
from tests.support import databases
from tests.support.shows import make_show


@contextmanager
def statements(caplog):
    """The SQL statements run inside the block (peewee logs each one it executes)."""
    caplog.clear()
    run: list[str] = []
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        yield run
    run.extend(str(r.msg) for r in caplog.records if r.name == "peewee")


def search(api, path: str, **params) -> dict:
    resp = api.get("/api/search" + path, params=params)
    assert resp.status == 200, resp
    return resp.json


@pytest.fixture
def earbuds_catalogue(api, creator):
    """Two products named earbuds, two more that mention them in their description only."""
    for name, description in (
        ("Earbuds A1", ""),
        ("Earbuds A2", ""),
        ("Case D1", "for earbuds"),
        ("Case D2", "for earbuds"),
    ):
        make_product(api, creator, name=name, description=description)


def test_a_relevance_page_across_both_tiers_is_one_statement_with_its_total(api, earbuds_catalogue, caplog):
    search(api, "/products", q="earbuds")  # the words searched before
    with statements(caplog) as run:
        body = search(api, "/products", q="earbuds", limit="2", offset="1")
    assert [p["name"] for p in body["results"]] == ["Earbuds A1", "Case D2"]
    assert (body["total"], body["hasMore"]) == (4, True)
    assert len(run) == 1, run


def test_a_sorted_page_and_a_page_without_text_count_apart(api, earbuds_catalogue, caplog):
    """Their pages stop at their LIMIT on a large catalogue, which a total from the same statement
    would prevent."""
    with statements(caplog) as run:
        sorted_page = search(api, "/products", q="earbuds", sortBy="newest", limit="3")
        everything = search(api, "/products")
    assert (len(sorted_page["results"]), sorted_page["total"]) == (3, 4)
    assert (len(everything["results"]), everything["total"]) == (4, 4)
    assert len(run) == 4, run


def test_a_session_page_comes_with_its_creators_in_one_statement(api, creator, caplog):
    for n in range(3):
        make_show(api, creator, title=f"Deals night {n}")
    make_show(api, creator, title="Lamp hour", tags=["deals"])
    search(api, "/sessions", q="deals")  # the words searched before
    with statements(caplog) as run:
        body = search(api, "/sessions", q="deals", limit="3")
    assert [s["title"] for s in body["results"]] == ["Deals night 2", "Deals night 1", "Deals night 0"]
    assert body["total"] == 4
    assert all(s["creator"]["id"] == creator.id for s in body["results"])
    assert len(run) == 1, run


def test_a_page_past_the_end_counts_separately(api, earbuds_catalogue, caplog):
    search(api, "/products", q="earbuds")  # the words searched before
    with statements(caplog) as run:
        body = search(api, "/products", q="earbuds", offset="10")
    assert (body["results"], body["total"]) == ([], 4)
    assert len(run) == 2, run


@pytest.mark.skipif(not databases.postgres_mode(), reason="SQLite's FTS5 takes the words as they are")
def test_new_words_read_their_tsquery_once_per_worker(api, earbuds_catalogue, caplog):
    with statements(caplog) as first:
        search(api, "/products", q="Case D1")
    with statements(caplog) as again:
        search(api, "/products", q="case  d1!")  # the same words
        search(api, "/sessions", q="d1 case")  # another order: other words for the tsquery's text
    assert [("to_tsquery" in statement) for statement in first] == [True, False]  # then the page
    assert [statement for statement in again if "to_tsquery" in statement] == [again[1]]  # "d1 case"


def test_pages_of_a_large_total_reuse_its_count(services, api, earbuds_catalogue, caplog):
    from bazaar.infra import db
    from bazaar.infra.search.database import DatabaseSearch
    from bazaar.infra.search.query import Page, ProductSearch

    backend = DatabaseSearch(
        services.live_state, postgres=db.is_postgres(), exact_count_max=2, count_cache_s=60
    )
    with db.connection():
        first = backend.products(ProductSearch(text="earbuds", page=Page(1)))
        with statements(caplog) as run:
            second = backend.products(ProductSearch(text="earbuds", page=Page(1, 1)))
        across = backend.products(ProductSearch(text="earbuds", page=Page(2, 1)))
    assert (first.total, second.total, across.total) == (4, 4, 4)
    assert [p["name"] for p in second.results] == ["Earbuds A1"]
    assert [p["name"] for p in across.results] == ["Earbuds A1", "Case D2"]
    assert len(run) == 1, run  # the title tier's page; the count is reused


def test_searches_of_one_shape_answer_each_with_their_own_values(api, creator):
    for name, category, price in (
        ("Earbuds Lite", "audio", 20),
        ("Earbuds Pro", "audio", 200),
        ("Kettle Lite", "kitchen", 30),
        ("Kettle Pro", "kitchen", 300),
    ):
        make_product(api, creator, name=name, category=category, price=price)

    def names(**params) -> list[str]:
        return sorted(p["name"] for p in search(api, "/products", **params)["results"])

    assert names(category="audio", maxPrice="100") == ["Earbuds Lite"]
    assert names(category="kitchen", maxPrice="1000") == ["Kettle Lite", "Kettle Pro"]
    assert names(q="pro", category="kitchen", maxPrice="1000") == ["Kettle Pro"]
    assert names(q="lite", category="audio", maxPrice="25") == ["Earbuds Lite"]


@pytest.mark.skipif(not databases.postgres_mode(), reason="reads are shared on PostgreSQL")
def test_the_same_page_asked_for_at_once_is_read_once_after_everyone_asked(api, creator, caplog):
    """Requests asking for one page in the same turn of the worker's event loop share its read: the first
    finds nobody asking and reads at once, the others share one read, sent after the last of them asked,
    so one asking after a write sees it."""
    make_show(api, creator, title="Deals night 0")
    search(api, "/sessions", q="deals")  # the words searched before
    for _ in range(2):  # later turns of the event loop: nothing asked for in the last one
        gevent.sleep(0.001)
    with statements(caplog) as run:
        early = [gevent.spawn(search, api, "/sessions", q="deals") for _ in range(3)]
        writer = gevent.spawn(make_show, api, creator, title="Deals night 1")
        late = gevent.spawn(search, api, "/sessions", q="deals")
        gevent.joinall([*early, writer, late], timeout=10, raise_error=True)
    totals = [page.value["total"] for page in [*early, late]]
    assert totals == [1, 2, 2, 2]  # the first read at once; the rest after the show was added
    assert early[1].value == early[2].value == late.value
    assert sum("EXECUTE" in statement and "deals" in statement for statement in run) == 2, run
