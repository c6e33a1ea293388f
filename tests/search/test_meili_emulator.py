"""Meilisearch behaviour our code relies on, pinned to the documented HTTP API (v1.x).

The tests use the official ``meilisearch`` client against ``meili_endpoint()``:
the emulator in tests/support by default, a real Meilisearch when ``MEILI_URL``
is set.  Tests of emulator-only hooks (pause, outage, CLI) use the
``meili_emulator`` fixture and are skipped against a real server.

Docs: https://www.meilisearch.com/docs/reference/api/overview
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import meilisearch
import pytest
import requests
from meilisearch.errors import (
    MeilisearchApiError,
    MeilisearchCommunicationError,
    MeilisearchTimeoutError,
)

from tests.support.meili import unique_uid, wait_task

REPO_ROOT = Path(__file__).resolve().parents[2]

PRODUCTS = [
    {
        "id": 1,
        "title": "Wireless Earbuds",
        "description": "Bluetooth earbuds with charging case",
        "brand": "Sonic",
        "category": "audio",
        "price": 59.9,
        "in_stock": True,
        "tags": ["bluetooth", "wireless"],
        "rating": 4.5,
    },
    {
        "id": 2,
        "title": "Earbuds Pro",
        "description": "Noise cancelling",
        "brand": "Sonic",
        "category": "audio",
        "price": 129,
        "in_stock": False,
        "tags": ["anc"],
        "rating": 4.8,
    },
    {
        "id": 3,
        "title": "USB-C Cable",
        "description": "Charging cable for earbuds and phones",
        "brand": "Wired Co",
        "category": "accessories",
        "price": 9.5,
        "in_stock": True,
        "tags": [],
        "rating": None,
    },
    {
        "id": 4,
        "title": "Écouteurs sans fil",
        "description": "Écouteurs bluetooth",
        "brand": "Àudio Français",
        "category": "audio",
        "price": 45,
        "in_stock": True,
        "tags": ["bluetooth"],
    },
    {
        "id": 5,
        "title": "Phone Stand",
        "description": "Aluminium stand",
        "brand": "Deskly",
        "category": "accessories",
        "price": 15,
        "in_stock": False,
        "tags": ["desk"],
        "rating": 3.9,
    },
    {
        "id": 6,
        "title": "Over-ear Headphones",
        "description": "Studio headphones",
        "brand": "Sonic",
        "category": "audio",
        "price": 199,
        "in_stock": True,
        "tags": ["wired"],
        "rating": 4.2,
    },
]
FILTERABLE = ["brand", "category", "in_stock", "price", "rating", "tags"]
SORTABLE = ["price", "rating", "title"]


# --------------------------------------------------------------------------- helpers


def ok(client, task_info):
    task = wait_task(client, task_info)
    assert task.status == "succeeded", task.error
    return task


def failed(client, task_info, code):
    task = wait_task(client, task_info)
    assert task.status == "failed", f"expected a failed task, got {task.status}"
    assert task.error["code"] == code, task.error
    assert {"message", "code", "type", "link"} <= set(task.error)
    return task


def api_error(call, status, code):
    with pytest.raises(MeilisearchApiError) as info:
        call()
    assert info.value.status_code == status, info.value.message
    assert info.value.code == code, info.value.message
    assert info.value.type and info.value.link
    return info.value


def ids(result):
    return [hit["id"] for hit in result["hits"]]


def setup_index(client, uid, docs, settings=None, primary_key="id"):
    index = client.index(uid)
    if settings:
        ok(client, index.update_settings(settings))
    ok(client, index.add_documents(docs, primary_key=primary_key))
    return index


@pytest.fixture(scope="module")
def products(meili):
    """A read-only product index shared by the search tests of this module."""
    client = meilisearch.Client(meili.url, meili.master_key)
    uid = unique_uid("products")
    index = setup_index(
        client, uid, PRODUCTS, {"filterableAttributes": FILTERABLE, "sortableAttributes": SORTABLE}
    )
    yield index
    client.delete_index(uid)


# --------------------------------------------------------------------------- basics, auth, errors


def test_health_and_version(meili_client):
    assert meili_client.health() == {"status": "available"}
    assert meili_client.is_healthy()
    assert meili_client.get_version()["pkgVersion"].startswith("1.")


def test_auth_missing_header_wrong_key_and_public_health(meili):
    if meili.master_key is None:
        pytest.skip("the Meilisearch under test has no master key")
    r = requests.get(f"{meili.url}/indexes", timeout=5)
    assert r.status_code == 401
    assert r.json()["code"] == "missing_authorization_header"
    assert r.json()["type"] == "auth"
    assert r.json()["link"].endswith("missing_authorization_header")

    bad = meilisearch.Client(meili.url, "not-the-key")
    api_error(bad.get_indexes, 403, "invalid_api_key")
    api_error(lambda: bad.index("x").search("a"), 403, "invalid_api_key")
    # /health is public
    assert requests.get(f"{meili.url}/health", timeout=5).json() == {"status": "available"}


def test_default_search_key_can_search_but_not_write(meili, meili_client, meili_uid):
    if meili.master_key is None:
        pytest.skip("the Meilisearch under test has no master key")
    keys = meili_client.get_keys().results
    search_key = next(k.key for k in keys if k.actions == ["search"] and k.indexes == ["*"])
    uid = meili_uid("keys")
    setup_index(meili_client, uid, [{"id": 1, "title": "earbuds"}])
    searcher = meilisearch.Client(meili.url, search_key)
    assert ids(searcher.index(uid).search("earbuds")) == [1]
    api_error(lambda: searcher.index(uid).add_documents([{"id": 2}]), 403, "invalid_api_key")


def test_malformed_json_and_unknown_route(meili, meili_uid):
    headers = {"Authorization": f"Bearer {meili.master_key}", "Content-Type": "application/json"}
    r = requests.post(
        f"{meili.url}/indexes/{meili_uid('bad')}/documents", data="[{not json", headers=headers, timeout=5
    )
    assert r.status_code == 400
    assert r.json()["code"] == "malformed_payload"
    assert r.json()["type"] == "invalid_request"
    r = requests.post(f"{meili.url}/indexes", data='{"uid": ', headers=headers, timeout=5)
    assert r.status_code == 400 and r.json()["code"] == "malformed_payload"
    r = requests.get(f"{meili.url}/definitely/not/a/route", headers=headers, timeout=5)
    assert r.status_code == 404


def test_invalid_index_uid_is_rejected_synchronously(meili_client):
    api_error(lambda: meili_client.create_index("not a valid uid!"), 400, "invalid_index_uid")


# --------------------------------------------------------------------------- indexes and tasks


def test_index_creation_task_lifecycle(meili_client, meili_uid):
    uid = meili_uid("lifecycle")
    info = meili_client.create_index(uid, {"primaryKey": "sku"})
    assert info.status == "enqueued"
    assert info.type == "indexCreation"
    assert info.index_uid == uid
    task = ok(meili_client, info)
    assert task.uid == info.task_uid
    assert task.details == {"primaryKey": "sku"}
    assert task.error is None
    assert task.started_at is not None and task.finished_at is not None
    assert task.enqueued_at <= task.started_at <= task.finished_at
    assert task.duration.startswith("PT")

    index = meili_client.get_index(uid)
    assert index.uid == uid and index.primary_key == "sku"
    assert index.created_at is not None and index.updated_at is not None
    raw = meili_client.get_raw_index(uid)
    assert set(raw) >= {"uid", "primaryKey", "createdAt", "updatedAt"}

    # creating it again is accepted (202) but the task fails
    again = failed(meili_client, meili_client.create_index(uid), "index_already_exists")
    assert again.type == "indexCreation"


def test_index_not_found_sync_and_in_failed_tasks(meili_client, meili_uid):
    missing = meili_uid("missing")
    api_error(lambda: meili_client.get_index(missing), 404, "index_not_found")
    api_error(lambda: meili_client.index(missing).search("x"), 404, "index_not_found")
    api_error(lambda: meili_client.index(missing).get_documents(), 404, "index_not_found")
    api_error(lambda: meili_client.index(missing).get_settings(), 404, "index_not_found")
    failed(meili_client, meili_client.delete_index(missing), "index_not_found")
    failed(meili_client, meili_client.index(missing).update(primary_key="id"), "index_not_found")
    failed(meili_client, meili_client.index(missing).delete_document(1), "index_not_found")
    api_error(lambda: meili_client.get_task(10**9), 404, "task_not_found")


def test_update_list_and_delete_index(meili_client, meili_uid):
    uid = meili_uid("crud")
    ok(meili_client, meili_client.create_index(uid))
    assert meili_client.get_index(uid).primary_key is None
    task = ok(meili_client, meili_client.index(uid).update(primary_key="ref"))
    assert task.type == "indexUpdate"
    assert meili_client.get_index(uid).primary_key == "ref"

    # the primary key cannot change once documents exist
    ok(meili_client, meili_client.index(uid).add_documents([{"ref": "a1", "name": "x"}]))
    failed(
        meili_client, meili_client.index(uid).update(primary_key="name"), "index_primary_key_already_exists"
    )

    listing = meili_client.get_raw_indexes({"limit": 1000})
    assert {"results", "offset", "limit", "total"} <= set(listing)
    assert uid in [i["uid"] for i in listing["results"]]
    one = meili_client.get_raw_indexes({"limit": 1, "offset": 0})
    assert len(one["results"]) == 1 and one["limit"] == 1 and one["total"] >= 1

    task = ok(meili_client, meili_client.delete_index(uid))
    assert task.type == "indexDeletion"
    assert task.details["deletedDocuments"] == 1
    api_error(lambda: meili_client.get_index(uid), 404, "index_not_found")


def test_get_tasks_filters_and_pagination(meili_client, meili_uid):
    uid = meili_uid("tasks")
    index = meili_client.index(uid)
    first = ok(meili_client, index.add_documents([{"id": 1}]))
    second = ok(meili_client, index.add_documents([{"id": 2}]))
    bad = failed(meili_client, index.add_documents([{"id": "not valid!"}]), "invalid_document_id")
    ok(meili_client, index.update_settings({"filterableAttributes": ["id"]}))

    all_tasks = meili_client.get_tasks({"indexUids": [uid]})
    assert all_tasks.total == 4
    uids = [t.uid for t in all_tasks.results]
    assert uids == sorted(uids, reverse=True), "tasks are listed newest first"

    adds = meili_client.get_tasks({"indexUids": [uid], "types": ["documentAdditionOrUpdate"]})
    assert [t.uid for t in adds.results] == [bad.uid, second.uid, first.uid]
    succeeded = meili_client.get_tasks(
        {"indexUids": [uid], "types": ["documentAdditionOrUpdate"], "statuses": ["succeeded"]}
    )
    assert [t.uid for t in succeeded.results] == [second.uid, first.uid]
    failures = meili_client.get_tasks({"indexUids": [uid], "statuses": ["failed"]})
    assert [t.uid for t in failures.results] == [bad.uid]
    assert failures.results[0].error["code"] == "invalid_document_id"

    page1 = meili_client.get_tasks({"indexUids": [uid], "limit": 2})
    assert len(page1.results) == 2 and page1.limit == 2
    assert page1.from_ == page1.results[0].uid and page1.next_ is not None
    page2 = meili_client.get_tasks({"indexUids": [uid], "limit": 2, "from": page1.next_})
    assert [t.uid for t in page1.results + page2.results] == uids
    assert page2.next_ is None

    api_error(lambda: meili_client.get_tasks({"statuses": ["nope"]}), 400, "invalid_task_statuses")
    api_error(lambda: meili_client.get_tasks({"types": ["nope"]}), 400, "invalid_task_types")


def test_task_lifecycle_enqueued_processing_succeeded(meili_client, meili_emulator, meili_uid):
    uid = meili_uid("paused")
    index = meili_client.index(uid)
    meili_emulator.pause()
    t1 = index.add_documents([{"id": 1, "v": "first"}])
    t2 = index.update_documents([{"id": 1, "v": "second"}])
    assert t2.task_uid > t1.task_uid
    for info in (t1, t2):
        task = meili_client.get_task(info.task_uid)
        assert task.status == "enqueued"
        assert task.started_at is None and task.finished_at is None and task.duration is None
        assert task.details["indexedDocuments"] is None
    enqueued = meili_client.get_tasks({"indexUids": [uid], "statuses": ["enqueued"]})
    assert {t.uid for t in enqueued.results} == {t1.task_uid, t2.task_uid}
    # the client's wait_for_task raises only on timeout
    with pytest.raises(MeilisearchTimeoutError):
        meili_client.wait_for_task(t1.task_uid, timeout_in_ms=100, interval_in_ms=10)

    meili_emulator.processing_delay = 0.2
    meili_emulator.resume()
    seen = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = meili_client.get_task(t1.task_uid).status
        seen.add(status)
        if status == "succeeded":
            break
        time.sleep(0.02)
    assert "processing" in seen
    done1, done2 = ok(meili_client, t1), ok(meili_client, t2)
    assert done1.finished_at <= done2.started_at, "tasks are processed in order"
    assert index.get_document(1).v == "second"


def test_cancel_enqueued_task(meili_client, meili_emulator, meili_uid):
    uid = meili_uid("cancel")
    meili_emulator.pause()
    doomed = meili_client.index(uid).add_documents([{"id": 1}])
    cancel = meili_client.cancel_tasks({"uids": [str(doomed.task_uid)]})
    assert cancel.type == "taskCancelation"
    meili_emulator.resume()
    done = ok(meili_client, cancel)
    assert done.details["canceledTasks"] == 1
    task = meili_client.get_task(doomed.task_uid)
    assert task.status == "canceled" and task.canceled_by == cancel.task_uid
    api_error(lambda: meili_client.get_index(uid), 404, "index_not_found")


def test_swap_indexes(meili_client, meili_uid):
    a, b = meili_uid("swap_a"), meili_uid("swap_b")
    ok(meili_client, meili_client.index(a).add_documents([{"id": 1, "v": "from a"}]))
    ok(meili_client, meili_client.index(b).add_documents([{"id": 1, "v": "from b"}, {"id": 2, "v": "b2"}]))
    info = meili_client.swap_indexes([{"indexes": [a, b]}])
    assert info.type == "indexSwap" and info.index_uid is None
    task = ok(meili_client, info)
    assert task.details["swaps"][0]["indexes"] == [a, b]
    assert meili_client.index(a).get_document(1).v == "from b"
    assert meili_client.index(a).get_documents().total == 2
    assert meili_client.index(b).get_document(1).v == "from a"

    missing = meili_uid("swap_missing")
    failed(meili_client, meili_client.swap_indexes([{"indexes": [a, missing]}]), "index_not_found")
    # nothing moved
    assert meili_client.index(a).get_document(1).v == "from b"


def test_stats(meili_client, products):
    stats = products.get_stats()
    assert stats.number_of_documents == len(PRODUCTS)
    assert stats.is_indexing is False
    assert stats.field_distribution.title == len(PRODUCTS)
    assert stats.field_distribution.price == len(PRODUCTS)
    everything = meili_client.get_all_stats()
    assert everything["indexes"][products.uid]["numberOfDocuments"] == len(PRODUCTS)
    assert "databaseSize" in everything


# --------------------------------------------------------------------------- documents


def test_add_documents_creates_index_and_infers_primary_key(meili_client, meili_uid):
    uid = meili_uid("infer")
    task = ok(meili_client, meili_client.index(uid).add_documents([{"product_id": "p-1", "name": "A"}]))
    assert task.details == {"receivedDocuments": 1, "indexedDocuments": 1}
    assert meili_client.get_index(uid).primary_key == "product_id"

    failed(
        meili_client,
        meili_client.index(meili_uid("nopk")).add_documents([{"name": "no key"}]),
        "index_primary_key_no_candidate_found",
    )
    failed(
        meili_client,
        meili_client.index(meili_uid("twopk")).add_documents([{"id": 1, "sku_id": 2}]),
        "index_primary_key_multiple_candidates_found",
    )
    # an explicit primaryKey query parameter wins over inference
    uid2 = meili_uid("explicit")
    ok(meili_client, meili_client.index(uid2).add_documents([{"id": 1, "code": "c1"}], primary_key="code"))
    assert meili_client.get_index(uid2).primary_key == "code"


def test_missing_or_invalid_document_id_fails_whole_task(meili_client, meili_uid):
    uid = meili_uid("docid")
    index = meili_client.index(uid)
    ok(meili_client, index.add_documents([{"id": 1, "name": "ok"}]))
    task = failed(meili_client, index.add_documents([{"id": 2}, {"name": "no id"}]), "missing_document_id")
    assert task.details["indexedDocuments"] == 0
    failed(meili_client, index.add_documents([{"id": 3}, {"id": "has space"}]), "invalid_document_id")
    failed(meili_client, index.add_documents([{"id": 1.5}]), "invalid_document_id")
    assert index.get_documents().total == 1, "a failed batch adds nothing"
    # integers and [A-Za-z0-9_-] strings are valid ids
    ok(meili_client, index.add_documents([{"id": "a-b_C9"}, {"id": 42}]))
    assert index.get_document("a-b_C9").id == "a-b_C9"
    assert index.get_document(42).id == 42


def test_add_replaces_update_merges(meili_client, meili_uid):
    index = meili_client.index(meili_uid("merge"))
    ok(meili_client, index.add_documents([{"id": 1, "title": "Old", "price": 10}]))
    ok(meili_client, index.add_documents([{"id": 1, "title": "Replaced"}]))  # POST: add or replace
    assert dict(index.get_document(1)) == {"id": 1, "title": "Replaced"}
    ok(
        meili_client, index.update_documents([{"id": 1, "price": 12}, {"id": 2, "title": "New"}])
    )  # PUT: merge
    assert dict(index.get_document(1)) == {"id": 1, "title": "Replaced", "price": 12}
    assert dict(index.get_document(2)) == {"id": 2, "title": "New"}


def test_get_documents_pagination_fields_and_filter(meili_client, products):
    page = products.get_documents({"offset": 1, "limit": 2})
    assert page.total == len(PRODUCTS) and page.offset == 1 and page.limit == 2
    assert [d.id for d in page.results] == [2, 3]
    slim = products.get_documents({"limit": 1, "fields": ["id", "title"]})
    assert dict(slim.results[0]) == {"id": 1, "title": "Wireless Earbuds"}
    audio = products.get_documents({"filter": "category = audio", "fields": ["id"]})
    assert audio.total == 4 and [d.id for d in audio.results] == [1, 2, 4, 6]
    doc = products.get_document(5, {"fields": ["title", "price"]})
    assert dict(doc) == {"title": "Phone Stand", "price": 15}
    api_error(lambda: products.get_document(999), 404, "document_not_found")


def test_delete_one_batch_filter_and_all(meili_client, meili_uid):
    uid = meili_uid("delete")
    index = setup_index(meili_client, uid, PRODUCTS, {"filterableAttributes": ["category"]})
    task = ok(meili_client, index.delete_document(1))
    assert task.type == "documentDeletion" and task.details["deletedDocuments"] == 1
    task = ok(meili_client, index.delete_documents(ids=[2, 3, 404]))
    assert task.details["providedIds"] == 3 and task.details["deletedDocuments"] == 2
    task = ok(meili_client, index.delete_documents(filter="category = accessories"))
    assert task.details["deletedDocuments"] == 1  # id 5 (3 was already gone)
    assert task.details["originalFilter"] == json.dumps("category = accessories")
    assert sorted(d.id for d in index.get_documents().results) == [4, 6]

    # deleting by a filter on a non-filterable attribute is refused (synchronously or as a failed task)
    try:
        info = index.delete_documents(filter="brand = Sonic")
    except MeilisearchApiError as exc:
        assert exc.code == "invalid_document_filter"
    else:
        failed(meili_client, info, "invalid_document_filter")

    task = ok(meili_client, index.delete_all_documents())
    assert task.details["deletedDocuments"] == 2
    assert index.get_documents().total == 0


def test_ndjson_and_csv_payloads(meili_client, meili_uid):
    index = meili_client.index(meili_uid("formats"))
    ok(meili_client, index.add_documents_ndjson(b'{"id": 1, "n": "a"}\n{"id": 2, "n": "b"}\n'))
    ok(meili_client, index.add_documents_csv(b"id,n,price:number\n3,c,9.5\n"))
    assert index.get_documents().total == 3
    assert index.get_document(3).price == 9.5


# --------------------------------------------------------------------------- settings


DOCUMENTED_DEFAULTS = {
    "displayedAttributes": ["*"],
    "searchableAttributes": ["*"],
    "filterableAttributes": [],
    "sortableAttributes": [],
    "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness"],
    "stopWords": [],
    "synonyms": {},
    "distinctAttribute": None,
}


def test_settings_defaults(meili_client, meili_uid):
    uid = meili_uid("defaults")
    ok(meili_client, meili_client.create_index(uid))
    index = meili_client.index(uid)
    settings = index.get_settings()
    for key, value in DOCUMENTED_DEFAULTS.items():
        assert settings[key] == value, key
    typo = settings["typoTolerance"]
    assert typo["enabled"] is True
    assert typo["minWordSizeForTypos"] == {"oneTypo": 5, "twoTypos": 9}
    assert typo["disableOnWords"] == [] and typo["disableOnAttributes"] == []
    assert settings["faceting"]["maxValuesPerFacet"] == 100
    assert settings["pagination"] == {"maxTotalHits": 1000}
    assert index.get_pagination_settings().max_total_hits == 1000
    assert index.get_typo_tolerance().min_word_size_for_typos.one_typo == 5


def test_settings_round_trip_and_reset(meili_client, meili_uid):
    uid = meili_uid("settings")
    index = meili_client.index(uid)
    wanted = {
        "searchableAttributes": ["title", "description"],
        "filterableAttributes": ["category", "price"],
        "sortableAttributes": ["price"],
        "displayedAttributes": ["id", "title", "price"],
        "rankingRules": ["words", "typo", "sort", "proximity", "attribute", "exactness", "price:desc"],
        "stopWords": ["the", "a"],
        "synonyms": {"headset": ["headphones"]},
        "distinctAttribute": "sku",
        "pagination": {"maxTotalHits": 50},
        "faceting": {"maxValuesPerFacet": 10},
    }
    task = ok(meili_client, index.update_settings(wanted))  # creates the index, like the real API
    assert task.type == "settingsUpdate"
    assert task.details["searchableAttributes"] == ["title", "description"]
    got = index.get_settings()
    for key in (
        "searchableAttributes",
        "displayedAttributes",
        "rankingRules",
        "synonyms",
        "distinctAttribute",
    ):
        assert got[key] == wanted[key], key
    for key in ("filterableAttributes", "sortableAttributes", "stopWords"):
        assert sorted(got[key]) == sorted(wanted[key]), key
    assert got["pagination"]["maxTotalHits"] == 50
    assert got["faceting"]["maxValuesPerFacet"] == 10

    # sub-routes
    assert sorted(index.get_filterable_attributes()) == ["category", "price"]
    ok(meili_client, index.update_sortable_attributes(["price", "title"]))
    assert sorted(index.get_sortable_attributes()) == ["price", "title"]
    ok(meili_client, index.update_searchable_attributes(["title"]))
    assert index.get_searchable_attributes() == ["title"]
    ok(meili_client, index.update_distinct_attribute("brand"))
    assert index.get_distinct_attribute() == "brand"
    ok(meili_client, index.reset_synonyms())
    assert index.get_synonyms() == {}
    ok(meili_client, index.update_ranking_rules(["words", "sort"]))
    assert index.get_ranking_rules() == ["words", "sort"]
    # typo tolerance is PATCHed: unspecified fields keep their values
    ok(meili_client, index.update_typo_tolerance({"minWordSizeForTypos": {"oneTypo": 4}}))
    typo = index.get_typo_tolerance()
    assert typo.enabled is True
    assert (typo.min_word_size_for_typos.one_typo, typo.min_word_size_for_typos.two_typos) == (4, 9)

    ok(meili_client, index.reset_settings())
    got = index.get_settings()
    for key, value in DOCUMENTED_DEFAULTS.items():
        assert got[key] == value, key
    assert got["typoTolerance"]["minWordSizeForTypos"] == {"oneTypo": 5, "twoTypos": 9}


def test_invalid_settings_are_rejected(meili_client, meili_uid):
    index = meili_client.index(meili_uid("badsettings"))
    api_error(
        lambda: index.update_ranking_rules(["words", "nonsense"]), 400, "invalid_settings_ranking_rules"
    )
    api_error(
        lambda: index.update_settings({"filterableAttributes": "price"}),
        400,
        "invalid_settings_filterable_attributes",
    )
    api_error(
        lambda: index.update_typo_tolerance({"minWordSizeForTypos": {"oneTypo": 10, "twoTypos": 5}}),
        400,
        "invalid_settings_typo_tolerance",
    )


# --------------------------------------------------------------------------- search: matching


def test_search_response_shape_and_placeholder(products):
    res = products.search("")
    assert set(res) >= {"hits", "query", "processingTimeMs", "limit", "offset", "estimatedTotalHits"}
    assert res["query"] == "" and res["limit"] == 20 and res["offset"] == 0
    assert res["estimatedTotalHits"] == len(PRODUCTS)
    assert ids(res) == [1, 2, 3, 4, 5, 6]  # empty q returns every document


def test_prefix_search_on_last_word(products):
    assert set(ids(products.search("earb"))) == {1, 2, 3}
    assert ids(products.search("headph")) == [6]
    assert ids(products.search("zzzz")) == []


def test_case_and_accent_insensitive(meili_client, meili_uid, products):
    assert ids(products.search("ecouteurs")) == [4]
    assert ids(products.search("ÉCOUTEURS")) == [4]
    assert set(ids(products.search("EARBUDS"))) == {1, 2, 3}
    # without typo tolerance, so that a typo cannot stand in for the missing accent
    strict = setup_index(meili_client, meili_uid("accents"), PRODUCTS, {"typoTolerance": {"enabled": False}})
    assert ids(strict.search("ecouteurs")) == [4]
    assert ids(strict.search("FRANCAIS")) == [4]
    assert ids(strict.search("Écouteurs SANS fil")) == [4]


def test_typo_tolerance(meili_client, meili_uid, products):
    assert set(ids(products.search("earbudz"))) == {1, 2, 3}  # 7 letters: one typo allowed
    assert set(ids(products.search("eatbuds"))) == {1, 2, 3}
    assert ids(products.search("cabel")) == [3]  # transposition = one typo, 5 letters
    assert ids(products.search("cble")) == []  # 4 letters: no typo allowed
    assert ids(products.search("hedphonse")) == [6]  # 9 letters: two typos allowed
    assert ids(products.search("warbuds")) == []  # a typo on the first letter counts as two

    index = setup_index(meili_client, meili_uid("notypo"), PRODUCTS)
    ok(meili_client, index.update_typo_tolerance({"enabled": False}))
    assert ids(index.search("earbudz")) == []
    assert set(ids(index.search("earbuds"))) == {1, 2, 3}


def test_synonyms(meili_client, meili_uid):
    index = setup_index(meili_client, meili_uid("syn"), PRODUCTS, {"synonyms": {"headset": ["headphones"]}})
    assert ids(index.search("headset")) == [6]
    assert ids(index.search("headphones")) == [6]


def test_matching_strategy_last_and_all(products):
    # default "last": drop query words from the end until documents match
    assert set(ids(products.search("earbuds qqqzzz"))) == {1, 2, 3}
    assert ids(products.search("earbuds qqqzzz", {"matchingStrategy": "all"})) == []
    both = products.search("earbuds charging", {"matchingStrategy": "all"})
    assert set(ids(both)) == {1, 3}


def test_phrase_search(products):
    assert ids(products.search('"charging case"')) == [1]


def test_searchable_attributes_order_drives_attribute_ranking(meili_client, meili_uid):
    docs = [
        {"id": 1, "title": "Travel case", "description": "Fits earbuds"},
        {"id": 2, "title": "Compact earbuds", "description": "Travel friendly"},
    ]
    index = setup_index(meili_client, meili_uid("attr"), docs)
    assert ids(index.search("earbuds")) == [2, 1]  # title (first attribute) outranks description
    ok(meili_client, index.update_searchable_attributes(["description", "title"]))
    assert ids(index.search("earbuds")) == [1, 2]
    ok(meili_client, index.update_searchable_attributes(["title"]))
    assert ids(index.search("earbuds")) == [2]  # only searchable attributes are searched


def test_attributes_to_retrieve_displayed_and_highlight(meili_client, meili_uid, products):
    res = products.search(
        "earbuds", {"attributesToRetrieve": ["id", "title"], "limit": 1, "filter": "price < 100"}
    )
    assert res["hits"] == [{"id": 1, "title": "Wireless Earbuds"}]
    hl = products.search("earbuds", {"attributesToHighlight": ["title"]})
    formatted = {h["id"]: h["_formatted"]["title"] for h in hl["hits"]}
    assert formatted[1] == "Wireless <em>Earbuds</em>"
    assert formatted[3] == "USB-C Cable"  # matched elsewhere: nothing to highlight in the title

    index = setup_index(
        meili_client, meili_uid("displayed"), PRODUCTS, {"displayedAttributes": ["id", "title"]}
    )
    assert index.search("stand")["hits"] == [{"id": 5, "title": "Phone Stand"}]


# --------------------------------------------------------------------------- search: filters


FILTER_CASES = [
    ("category = audio", {1, 2, 4, 6}),
    ("category != audio", {3, 5}),
    ("category = 'audio'", {1, 2, 4, 6}),
    ("brand = sonic", {1, 2, 6}),  # string filters are case-insensitive
    ("brand = 'Wired Co'", {3}),
    ('brand = "Wired Co"', {3}),
    ('brand = "Àudio Français"', {4}),
    ("price > 59.9", {2, 6}),
    ("price >= 59.9", {1, 2, 6}),
    ("price < 15", {3}),
    ("price <= 15", {3, 5}),
    ("price = 129", {2}),
    ("price 10 TO 60", {1, 4, 5}),
    ("rating > 4.4", {1, 2}),
    ("brand IN [Sonic, Deskly]", {1, 2, 5, 6}),
    ("brand IN ['Wired Co', \"Deskly\"]", {3, 5}),
    ("brand NOT IN [Sonic]", {3, 4, 5}),
    ("tags = bluetooth", {1, 4}),  # arrays match when any element does
    ("in_stock = true", {1, 3, 4, 6}),  # booleans compare as "true"/"false"
    ("in_stock = false", {2, 5}),
    ("NOT category = audio", {3, 5}),
    ("category = audio AND price < 100", {1, 4}),
    ("category = accessories OR price > 150", {3, 5, 6}),
    ("(category = accessories OR brand = Sonic) AND in_stock = true", {1, 3, 6}),
    ("category = audio AND NOT (brand = Sonic AND price > 100)", {1, 4}),
    ("rating EXISTS", {1, 2, 3, 5, 6}),  # null counts as existing
    ("rating NOT EXISTS", {4}),
    ("rating IS NULL", {3}),
    ("rating IS NOT NULL", {1, 2, 4, 5, 6}),
    ("tags IS EMPTY", {3}),
    ("tags IS NOT EMPTY", {1, 2, 4, 5, 6}),
    (["in_stock = true", ["brand = Deskly", "price < 50"]], {3, 4}),  # outer AND, inner OR
    (["category = audio", "price > 100"], {2, 6}),
]


@pytest.mark.parametrize("expression, expected", FILTER_CASES, ids=[str(c[0]) for c in FILTER_CASES])
def test_filter_operators(products, expression, expected):
    assert set(ids(products.search("", {"filter": expression}))) == expected


def test_filter_combines_with_query(products):
    assert set(ids(products.search("earbuds", {"filter": "in_stock = true"}))) == {1, 3}


def test_filter_errors(products):
    err = api_error(lambda: products.search("", {"filter": "title = x"}), 400, "invalid_search_filter")
    assert "title" in err.message
    api_error(lambda: products.search("", {"filter": "price >"}), 400, "invalid_search_filter")
    api_error(lambda: products.search("", {"filter": "(price > 3"}), 400, "invalid_search_filter")


# --------------------------------------------------------------------------- search: sort, pagination, facets


def test_sort_placeholder_fully_orders(products):
    assert ids(products.search("", {"sort": ["price:asc"]})) == [3, 5, 4, 1, 2, 6]
    assert ids(products.search("", {"sort": ["price:desc"]})) == [6, 2, 1, 4, 5, 3]
    by_rating = ids(products.search("", {"sort": ["rating:desc"]}))
    assert by_rating[:4] == [2, 1, 6, 5]
    assert set(by_rating[4:]) == {3, 4}  # documents without a value come last
    # several criteria: the first decides, later ones break ties
    assert ids(products.search("", {"sort": ["title:asc", "price:asc"], "filter": "brand = Sonic"})) == [
        2,
        6,
        1,
    ]


def test_sort_applies_after_words_and_typo(meili_client, meili_uid):
    docs = [
        {"id": "a", "title": "Earbuds Basic", "price": 10},
        {"id": "b", "title": "Earbuds Deluxe", "price": 90},
        {"id": "c", "title": "Earbudz Knockoff", "price": 500},
        {"id": "d", "title": "Speaker", "price": 1000},
    ]
    index = setup_index(
        meili_client,
        meili_uid("sortrank"),
        docs,
        {"sortableAttributes": ["price"], "searchableAttributes": ["title"]},
    )
    # typo ranks before sort: the misspelt, most expensive one comes last
    assert ids(index.search("earbuds", {"sort": ["price:desc"]})) == ["b", "a", "c"]
    # words ranks before sort: matching both words wins even when cheaper comes first
    assert ids(index.search("earbuds deluxe", {"sort": ["price:asc"]})) == ["b", "a", "c"]
    # without a query, sort decides everything
    assert ids(index.search("", {"sort": ["price:desc"]})) == ["d", "c", "b", "a"]


def test_sort_errors(products):
    err = api_error(lambda: products.search("", {"sort": ["brand:asc"]}), 400, "invalid_search_sort")
    assert "brand" in err.message
    api_error(lambda: products.search("", {"sort": ["price:up"]}), 400, "invalid_search_sort")


def test_offset_limit_and_pages(products):
    res = products.search("", {"offset": 2, "limit": 2})
    assert ids(res) == [3, 4]
    assert res["estimatedTotalHits"] == len(PRODUCTS) and res["offset"] == 2 and res["limit"] == 2
    assert ids(products.search("", {"offset": 10})) == []
    res = products.search("earb", {"limit": 1})
    assert len(res["hits"]) == 1 and res["estimatedTotalHits"] == 3
    paged = products.search("", {"hitsPerPage": 4, "page": 2})
    assert ids(paged) == [5, 6]
    assert (paged["totalHits"], paged["totalPages"], paged["page"], paged["hitsPerPage"]) == (6, 2, 2, 4)
    api_error(lambda: products.search("", {"limit": -1}), 400, "invalid_search_limit")


def test_get_search_route(meili, products):
    r = requests.get(
        f"{meili.url}/indexes/{products.uid}/search",
        params={"q": "earb", "limit": 1, "sort": "price:desc", "filter": "in_stock = true"},
        headers={"Authorization": f"Bearer {meili.master_key}"},
        timeout=5,
    )
    assert r.status_code == 200
    body = r.json()
    assert [h["id"] for h in body["hits"]] == [1] and body["estimatedTotalHits"] == 2


def test_facets_distinct_multi_and_facet_search(meili_client, products):
    res = products.search("", {"facets": ["category", "price"]})
    assert res["facetDistribution"]["category"] == {"accessories": 2, "audio": 4}
    assert res["facetStats"]["price"] == {"min": 9.5, "max": 199}
    distinct = products.search("", {"distinct": "brand"})
    assert ids(distinct) == [1, 3, 4, 5]
    multi = meili_client.multi_search(
        [{"indexUid": products.uid, "q": "stand"}, {"indexUid": products.uid, "q": "", "limit": 1}]
    )
    assert [ids(r) for r in multi["results"]] == [[5], [1]]
    assert multi["results"][0]["indexUid"] == products.uid
    facet_hits = products.facet_search("brand", "son")["facetHits"]
    assert facet_hits == [{"value": "Sonic", "count": 3}]


def test_ranking_score(products):
    res = products.search("earbuds", {"showRankingScore": True})
    scores = [h["_rankingScore"] for h in res["hits"]]
    assert all(0 < s <= 1 for s in scores)
    assert scores == sorted(scores, reverse=True)


# --------------------------------------------------------------------------- emulator-only hooks


def test_emulator_down_and_back_on_same_port(meili_client, meili_emulator, meili_uid):
    index = setup_index(meili_client, meili_uid("outage"), [{"id": 1, "title": "kept"}])
    url = meili_emulator.url
    meili_emulator.stop()
    with pytest.raises(MeilisearchCommunicationError):
        meili_client.health()
    assert meili_client.is_healthy() is False
    meili_emulator.start()
    assert meili_emulator.url == url
    assert meili_client.is_healthy()
    assert index.get_document(1).title == "kept"  # data survives a restart

    meili_emulator.set_unavailable(True)
    with pytest.raises(MeilisearchApiError) as info:
        index.search("kept")
    assert info.value.status_code == 503
    meili_emulator.set_unavailable(False)
    assert ids(index.search("kept")) == [1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_emulator_cli_runs_standalone():
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.meili_emulator",
            "--port",
            str(port),
            "--master-key",
            "cli-key",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line, line + proc.stderr.read() if proc.poll() is not None else line
        client = meilisearch.Client(f"http://127.0.0.1:{port}", "cli-key")
        assert client.health() == {"status": "available"}
        ok(client, client.create_index("cli"))
        assert client.get_index("cli").uid == "cli"
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert proc.returncode == 0
