"""Fixtures for search tests: a Meilisearch endpoint (real via MEILI_URL, else the emulator)."""

from __future__ import annotations

import meilisearch
import pytest

from tests.support.meili import (
    delete_run_indexes,
    meili_endpoint,
    unique_uid,
    wait_task,
)


@pytest.fixture(scope="session")
def meili():
    """The session's :class:`~tests.support.meili.MeiliEndpoint` (``url``, ``master_key``, ``emulator``)."""
    with meili_endpoint() as endpoint:
        yield endpoint
        if not endpoint.emulated:
            client = meilisearch.Client(endpoint.url, endpoint.master_key)
            for uid in delete_run_indexes(client):
                wait_task(client, uid)


@pytest.fixture
def meili_client(meili):
    return meilisearch.Client(meili.url, meili.master_key)


@pytest.fixture
def meili_emulator(meili):
    """The emulator itself, for tests of emulator-only hooks; skipped against a real Meilisearch."""
    if not meili.emulated:
        pytest.skip("needs the emulator's test hooks (MEILI_URL points to a real Meilisearch)")
    emulator = meili.emulator
    yield emulator
    # leave it healthy for the next test
    emulator.resume()
    emulator.set_unavailable(False)
    emulator.processing_delay = 0
    emulator.response_delay = 0
    if not emulator.running:
        emulator.start()


@pytest.fixture
def meili_uid(meili_client):
    """Factory of run-unique index uids; the indexes are deleted after the test."""
    created: list[str] = []

    def make(name: str = "idx") -> str:
        uid = unique_uid(name)
        created.append(uid)
        return uid

    yield make
    for uid in created:
        try:
            meili_client.delete_index(uid)
        except Exception:  # best effort: the server may have been stopped by the test
            pass
