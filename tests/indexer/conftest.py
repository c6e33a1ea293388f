"""Indexer fixtures: a Meilisearch (real one via MEILI_URL, else the emulator), settings naming
this run's indexes, an in-process indexer, and the API answering searches from Meilisearch.

Writes go through the ordinary `api` fixture (they record outbox rows whatever backend
searches); `search_api` is the same API built with MEILI_URL set.
"""

from __future__ import annotations

import meilisearch
import pytest

from bazaar.app import build_services, create_api
from search_indexer.indexer import Indexer
from search_indexer.indexes import Indexes
from tests.support.api_client import ApiClient
from tests.support.meili import (
    delete_run_indexes,
    meili_endpoint,
    unique_uid,
    wait_task,
)


@pytest.fixture(scope="session")
def meili():
    with meili_endpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def meili_settings(settings, meili):
    """Short waits everywhere, and indexes named for this run."""
    return settings.with_overrides(
        meili_url=meili.url,
        meili_master_key=meili.master_key,
        meili_index_prefix=unique_uid("bazaar"),
        meili_task_timeout_s=10.0,
        meili_retry_after_s=0.0,
        indexer_backoff_base_s=0.05,
        indexer_backoff_max_s=0.2,
        indexer_poll_interval_s=0.05,
        indexer_listen_timeout_s=0.5,
    )


@pytest.fixture(scope="session")
def search_app(app, meili_settings):
    return create_api(meili_settings, build_services(meili_settings))


@pytest.fixture
def search_api(search_app) -> ApiClient:
    return ApiClient(search_app)


@pytest.fixture(autouse=True)
def fresh_indexes(request, meili, meili_settings):
    """Each test starts without this run's indexes (and with a healthy emulator)."""
    yield
    if meili.emulated:
        meili.emulator.resume()
        meili.emulator.set_unavailable(False)
        if not meili.emulator.running:
            meili.emulator.start()
    client = meilisearch.Client(meili.url, meili.master_key)
    for task in delete_run_indexes(client, meili_settings.meili_index_prefix):
        wait_task(client, task)


@pytest.fixture
def indexes(app, meili_settings) -> Indexes:
    return Indexes(meili_settings)


@pytest.fixture
def indexer(app, meili_settings) -> Indexer:
    return Indexer(meili_settings)


@pytest.fixture
def emulator(meili):
    """The emulator's test hooks (stop, pause); skipped against a real Meilisearch."""
    if not meili.emulated:
        pytest.skip("needs the emulator's test hooks (MEILI_URL points to a real Meilisearch)")
    return meili.emulator
