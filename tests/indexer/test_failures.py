"""Crashes, writes during a batch, outages, refused documents, two indexers at once, SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from bazaar.domain.clock import now
from bazaar.domain.models import SearchOutbox
from bazaar.infra import db
from bazaar.infra import search_outbox as outbox
from search_indexer.indexer import Indexer
from search_indexer.indexes import Indexes, TaskFailed, Unreachable
from tests.conftest import make_product
from tests.indexer.support import found_products, outbox_rows
from tests.support import databases
from tests.support.waiting import wait_until


class Killed(BaseException):
    """Stands for the process dying: nothing in the indexer catches it."""


def elsewhere(write):
    """`write` from another thread: its own database connection, like another process's."""

    def run() -> None:
        thread = threading.Thread(target=write)
        thread.start()
        thread.join(10)

    return run


class KilledBeforeSettling(Indexer):
    """Dies after Meilisearch took the batch and before the outbox rows are deleted;
    `meanwhile` runs first (a write landing while the batch is in flight)."""

    def __init__(self, settings, meanwhile=lambda: None):
        super().__init__(settings)
        self.meanwhile = meanwhile

    def acknowledge(self, batch, keys):
        self.meanwhile()
        raise Killed()


def test_an_indexer_killed_mid_batch_loses_nothing(api, search_api, meili_settings, creator):
    make_product(api, creator, name="Wireless Earbuds")
    with pytest.raises(Killed):
        KilledBeforeSettling(meili_settings).run_once()
    assert len(outbox_rows()) == 1  # still owed

    Indexer(meili_settings).drain()

    assert outbox_rows() == []
    assert indexed_by_meilisearch(search_api, q="earbuds") == ["Wireless Earbuds"]


def test_a_restart_after_a_kill_leaves_nothing_stale(api, search_api, meili_settings, creator):
    product = make_product(api, creator, name="Wireless Earbuds")
    rename = elsewhere(
        lambda: api.put(f"/api/products/{product['id']}", json={"name": "Studio Headset"}, as_=creator)
    )
    with pytest.raises(Killed):
        KilledBeforeSettling(meili_settings, meanwhile=rename).run_once()

    Indexer(meili_settings).drain()

    assert found_products(search_api, q="headset") == ["Studio Headset"]
    assert found_products(search_api, q="earbuds") == []


class WriteDuringBatch(Indexer):
    def __init__(self, settings, write):
        super().__init__(settings)
        self.write = write

    def send(self, batch):
        failures = super().send(batch)
        self.write()
        return failures


def test_a_change_made_while_its_batch_is_in_flight_is_sent_again(api, search_api, meili_settings, creator):
    product = make_product(api, creator, name="Wireless Earbuds")
    rename = elsewhere(
        lambda: api.put(f"/api/products/{product['id']}", json={"name": "Studio Headset"}, as_=creator)
    )
    WriteDuringBatch(meili_settings, rename).run_once()

    assert outbox_rows() == [("product", product["id"])]  # the rename's row survived the batch
    Indexer(meili_settings).drain()
    assert found_products(search_api, q="headset") == ["Studio Headset"]


# --- Meilisearch down -------------------------------------------------------------------------


def test_while_meilisearch_is_down_the_outbox_grows_and_search_answers_from_the_database(
    api, search_api, indexer, emulator, creator
):
    make_product(api, creator, name="Wireless Earbuds")
    indexer.drain()
    emulator.stop()

    make_product(api, creator, name="Wireless Speaker")
    with pytest.raises(Unreachable):
        indexer.run_once()
    make_product(api, creator, name="Wireless Charger")

    assert len(outbox_rows()) == 2
    resp = search_api.get("/api/search/products", params={"q": "wireless", "sortBy": "name"})
    assert resp.status == 200
    assert resp.headers["X-Search-Backend"] == "database"
    assert [p["name"] for p in resp.json["results"]] == [
        "Wireless Charger",
        "Wireless Earbuds",
        "Wireless Speaker",
    ]


def test_ready_names_search_while_meilisearch_is_down(search_api, emulator):
    emulator.stop()

    resp = search_api.get("/ready")

    assert resp.status == 503
    assert resp.json["checks"]["search"] == "unavailable"


def test_everything_drains_when_meilisearch_is_back(api, search_api, indexer, emulator, creator):
    emulator.stop()
    make_product(api, creator, name="Wireless Speaker")
    with pytest.raises(Unreachable):
        indexer.run_once()
    resp = search_api.get("/api/search/products", params={"q": "speaker"})
    assert (resp.headers["X-Search-Backend"], resp.json["total"]) == ("database", 1)

    emulator.start()
    indexer.drain()

    assert outbox_rows() == []
    resp = search_api.get("/api/search/products", params={"q": "speakr"})
    assert resp.headers["X-Search-Backend"] == "meilisearch"
    assert [p["name"] for p in resp.json["results"]] == ["Wireless Speaker"]


def test_an_outage_counts_no_attempt_against_the_documents(api, indexer, emulator, creator):
    emulator.stop()
    make_product(api, creator)
    for _ in range(3):
        with pytest.raises(Unreachable):
            indexer.run_once()

    with db.connection():
        row = SearchOutbox.get()
    assert (row.attempts, row.parked) == (0, False)


# --- documents that fail ----------------------------------------------------------------------


def enqueue(doc_type: str, *doc_ids: str) -> None:
    with db.connection(), db.database.atomic():
        outbox.record(doc_type, doc_ids)


def outbox_row(doc_id: str) -> SearchOutbox:
    with db.connection():
        return SearchOutbox.get(SearchOutbox.doc_id == doc_id)


def test_a_document_that_cannot_be_built_does_not_hold_back_the_others(api, search_api, indexer, creator):
    enqueue("product", "not-a-uuid")
    make_product(api, creator, name="Wireless Earbuds")

    indexer.run_once()

    assert found_products(search_api, q="earbuds") == ["Wireless Earbuds"]
    row = outbox_row("not-a-uuid")
    assert row.attempts == 1
    assert "not a product id" in row.last_error


def test_a_failed_document_is_retried_only_after_its_backoff(api, indexer, meili_settings):
    enqueue("product", "not-a-uuid")
    indexer.run_once()

    row = outbox_row("not-a-uuid")
    assert row.next_attempt_at > now()
    assert indexer.run_once() == 0  # not due yet


def test_a_document_that_keeps_failing_is_parked_with_its_error(app, meili_settings):
    indexer = Indexer(
        meili_settings.with_overrides(
            indexer_max_attempts=2, indexer_backoff_base_s=0.01, indexer_backoff_max_s=0.01
        )
    )
    enqueue("widget", "w-1")

    indexer.run_once()
    assert wait_until(lambda: outbox_row("w-1").next_attempt_at <= now())  # its backoff is over
    indexer.run_once()

    row = outbox_row("w-1")
    assert (row.attempts, row.parked) == (2, True)
    assert "unknown document type" in row.last_error
    assert wait_until(lambda: outbox_row("w-1").next_attempt_at <= now())  # it would be due again
    assert indexer.run_once() == 0  # parked rows are never claimed again


class RefusingIndexes(Indexes):
    """Meilisearch refusing any batch that holds a product named "Poison" (as it refuses invalid
    documents)."""

    def upsert(self, uid, documents):
        if any(doc.get("name") == "Poison" for doc in documents):
            raise TaskFailed("task 7 failed: invalid document", "invalid_document_fields")
        super().upsert(uid, documents)


def test_a_refused_document_is_isolated_from_the_rest_of_its_batch(api, search_api, meili_settings, creator):
    names = ["Alpha Lamp", "Beta Lamp", "Poison", "Delta Lamp", "Gamma Lamp"]
    for name in names:
        make_product(api, creator, name=name)

    Indexer(meili_settings, RefusingIndexes(meili_settings)).run_once()

    assert found_products(search_api, q="lamp", sortBy="name") == [
        "Alpha Lamp",
        "Beta Lamp",
        "Delta Lamp",
        "Gamma Lamp",
    ]
    assert len(outbox_rows()) == 1
    with db.connection():
        assert "invalid document" in SearchOutbox.get().last_error


def test_a_later_success_clears_the_parked_rows_of_that_document(api, search_api, meili_settings, creator):
    product = make_product(api, creator, name="Poison")
    refusing = Indexer(meili_settings.with_overrides(indexer_max_attempts=1), RefusingIndexes(meili_settings))
    refusing.run_once()
    assert outbox_row(product["id"]).parked

    api.put(f"/api/products/{product['id']}", json={"name": "Antidote"}, as_=creator)
    Indexer(meili_settings).drain()

    assert outbox_rows() == []
    assert found_products(search_api, q="antidote") == ["Antidote"]


# --- two indexers at once (PostgreSQL) ----------------------------------------------------------


class HeldMidBatch(Indexer):
    """Holds its batch (claimed, sent, not yet settled) until released."""

    def __init__(self, settings):
        super().__init__(settings)
        self.holding = threading.Event()
        self.release = threading.Event()
        self.sent: list[str] = []

    def send(self, batch):
        self.sent += [doc_id for _, doc_id in batch.rows]
        return super().send(batch)

    def acknowledge(self, batch, keys):
        self.holding.set()
        assert self.release.wait(10)
        super().acknowledge(batch, keys)


class Counting(Indexer):
    def __init__(self, settings):
        super().__init__(settings)
        self.sent: list[str] = []

    def send(self, batch):
        self.sent += [doc_id for _, doc_id in batch.rows]
        return super().send(batch)


@pytest.mark.skipif(not databases.postgres_mode(), reason="SQLite runs one indexer at a time")
def test_two_indexers_at_once_never_send_the_same_rows(api, search_api, meili_settings, creator):
    first = make_product(api, creator, name="Wireless Earbuds")
    second = make_product(api, creator, name="Wireless Speaker")
    held, other = HeldMidBatch(meili_settings.with_overrides(indexer_batch_size=1)), Counting(meili_settings)
    worker = threading.Thread(target=held.run_once)
    worker.start()
    try:
        assert held.holding.wait(10)
        api.put(f"/api/products/{first['id']}", json={"name": "Studio Earbuds"}, as_=creator)
        other.drain()  # the held batch's rows are locked, and so is its document
    finally:
        held.release.set()
        worker.join(10)
    assert held.sent == [first["id"]]
    assert other.sent == [second["id"]]

    assert other.drain() == 1  # the rename, once the first batch settled
    assert outbox_rows() == []
    assert found_products(search_api, q="earbuds") == ["Studio Earbuds"]


# --- the process ----------------------------------------------------------------------------


def indexer_process(meili_settings, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": meili_settings.database_url,
        "MEILI_URL": meili_settings.meili_url,
        "MEILI_MASTER_KEY": meili_settings.meili_master_key or "",
        "MEILI_INDEX_PREFIX": meili_settings.meili_index_prefix,
        "INDEXER_POLL_INTERVAL_S": "0.05",
        "INDEXER_LISTEN_TIMEOUT_S": "30",
        "LOG_LEVEL": "info",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "search_indexer", *args],
        env=env,
        cwd=os.getcwd(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def indexed_by_meilisearch(api, **params) -> list[str]:
    resp = api.get("/api/search/products", params=params)
    return (
        [p["name"] for p in resp.json["results"]] if resp.headers["X-Search-Backend"] == "meilisearch" else []
    )


def test_a_running_indexer_sends_changes_as_they_happen(api, search_api, meili_settings, indexes, creator):
    process = indexer_process(meili_settings, "run")
    try:
        # it made the indexes, so it is waiting for news (LISTEN on PostgreSQL, polling on SQLite)
        assert wait_until(lambda: indexes.exists(indexes.uid("products")))
        make_product(api, creator, name="Wireless Earbuds")
        # well within INDEXER_LISTEN_TIMEOUT_S: a NOTIFY (or a poll) woke it up
        assert wait_until(lambda: indexed_by_meilisearch(search_api, q="earbuds") == ["Wireless Earbuds"], 8)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_sigterm_lets_the_batch_in_flight_finish(api, search_api, meili_settings, indexes, emulator, creator):
    process = indexer_process(meili_settings, "run")
    try:
        assert wait_until(lambda: indexes.exists(indexes.uid("products")))
        emulator.pause()  # the next task stays enqueued: the batch waits for it
        make_product(api, creator, name="Wireless Earbuds")
        assert wait_until(lambda: emulator.engine.has_pending())
        process.terminate()
        time.sleep(0.3)
        assert process.poll() is None  # still waiting for its task
        emulator.resume()
        _, stderr = process.communicate(timeout=15)
    finally:
        emulator.resume()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "stopped" in stderr
    assert outbox_rows() == []
    assert indexed_by_meilisearch(search_api, q="earbuds") == ["Wireless Earbuds"]
