"""The two search indexes on Meilisearch: their settings (kept in `config/search_index.json`),
creation, and task outcomes turned into exceptions.

`wait_for_task` of the official client returns a failed task without raising and
gives up after 5 s by default, so every task here is waited for with
`meili_task_timeout_s` and its status checked.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from importlib import resources

import meilisearch
from meilisearch.errors import (
    MeilisearchApiError,
    MeilisearchError,
    MeilisearchTimeoutError,
)

from bazaar.infra.search.meili import (
    INDEX_OF_DOC_TYPE,
    MEILI_ERRORS,
    index_uid,
    meili_client,
)
from config import Settings


class Unreachable(Exception):
    """Meilisearch cannot take work right now (down, timing out, refusing our key, index missing).
    Nothing about the documents is wrong: retry the same work later."""


class TaskFailed(Exception):
    """Meilisearch refused this work itself (a failed task, or a 4xx for the request): the documents'
    fault. `code` is Meilisearch's error code."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


# Failures that are about the index or our access to it, not about the documents sent.
_NOT_THE_DOCUMENTS = {"index_not_found", "invalid_api_key", "missing_authorization_header"}


def load_index_settings() -> dict:
    """{"sessions": {"primaryKey": …, "settings": {…}}, "products": {…}} from the shipped config."""
    return json.loads(resources.files("config").joinpath("search_index.json").read_text(encoding="utf-8"))


# Phrases of the socket errors wrapped in a communication error, and what to say instead.
_SOCKET_ERRORS = (
    ("Connection refused", "connection refused"),
    ("Name or service not known", "unknown host"),
    ("Temporary failure in name resolution", "unknown host"),
    ("timed out", "timed out"),
)


def describe(exc: BaseException) -> str:
    """One short line for an operator."""
    if isinstance(exc, MeilisearchApiError):
        return f"{exc.message} ({exc.code or exc.status_code})"
    if isinstance(exc, MeilisearchTimeoutError):
        return "timed out"
    text = exc.message if isinstance(exc, MeilisearchError) else str(exc)
    for phrase, said in _SOCKET_ERRORS:
        if phrase in text:
            return said
    return text.splitlines()[0] if text else type(exc).__name__


class Indexes:
    """The sessions and products indexes of one `meili_index_prefix`."""

    def __init__(self, settings: Settings, client: meilisearch.Client | None = None):
        self.settings = settings
        self.client = client or meili_client(settings)
        self.config = load_index_settings()

    def uid(self, name: str, suffix: str = "") -> str:
        """`name` is "sessions" or "products"; a suffix names a sibling (`_new` while reindexing)."""
        return index_uid(self.settings, name) + suffix

    def uid_of_doc_type(self, doc_type: str) -> str:
        return self.uid(INDEX_OF_DOC_TYPE[doc_type])

    def run(self, call):
        """Send a request that enqueues a task and wait for the task's outcome."""
        return self.wait(self.submit(call))

    def submit(self, call) -> int:
        """Send a request that enqueues a task; its uid. Raises Unreachable or TaskFailed."""
        try:
            return call().task_uid
        except MeilisearchApiError as exc:
            if exc.status_code >= 500 or exc.status_code in (401, 403, 404) or exc.code in _NOT_THE_DOCUMENTS:
                raise Unreachable(describe(exc)) from None
            raise TaskFailed(describe(exc), exc.code) from None
        except MEILI_ERRORS as exc:
            raise Unreachable(describe(exc)) from None

    def wait(self, task_uid: int):
        """The succeeded task; raises TaskFailed for a failed or canceled one, Unreachable otherwise."""
        try:
            task = self.client.wait_for_task(
                task_uid, timeout_in_ms=int(self.settings.meili_task_timeout_s * 1000), interval_in_ms=20
            )
        except MEILI_ERRORS as exc:
            raise Unreachable(describe(exc)) from None
        if task.status != "succeeded":
            error = task.error or {}
            message = f"task {task.uid} {task.status}: {error.get('message', 'no error given')}"
            if error.get("code") in _NOT_THE_DOCUMENTS:
                raise Unreachable(message)
            raise TaskFailed(message, error.get("code"))
        return task

    def request(self, call):
        """A synchronous request (health, stats, documents); raise Unreachable when it cannot be answered."""
        try:
            return call()
        except MEILI_ERRORS as exc:
            raise Unreachable(describe(exc)) from None

    # documents ---------------------------------------------------------------------------
    def upsert(self, uid: str, documents: list[dict]) -> None:
        self.run(lambda: self.client.index(uid).add_documents(documents, primary_key="id"))

    def delete(self, uid: str, ids: list[str]) -> None:
        # The client marks deleting by ids as deprecated in favour of filters; the route itself is stable.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.run(lambda: self.client.index(uid).delete_documents(ids))

    def fingerprints(self, uid: str, page_size: int = 1000) -> Iterator[tuple[str, str | None]]:
        """(id, contentHash) of every document in an index."""
        offset = 0
        while True:
            page = self.request(
                lambda: self.client.index(uid).get_documents(
                    {"fields": ["id", "contentHash"], "offset": offset, "limit": page_size}
                )
            )
            for document in page.results:
                yield str(document.id), getattr(document, "contentHash", None)
            offset += len(page.results)
            if not page.results or offset >= page.total:
                return

    def document_count(self, uid: str) -> int | None:
        """Documents in an index, None when the index does not exist."""
        stats = self._unless_missing(lambda: self.client.index(uid).get_stats())
        return None if stats is None else stats.number_of_documents

    def _unless_missing(self, call):
        """`call()`, or None when it names an index that does not exist."""
        try:
            return call()
        except MeilisearchApiError as exc:
            if exc.code == "index_not_found":
                return None
            raise Unreachable(describe(exc)) from None
        except MEILI_ERRORS as exc:
            raise Unreachable(describe(exc)) from None

    # indexes -----------------------------------------------------------------------------
    def exists(self, uid: str) -> bool:
        return self._unless_missing(lambda: self.client.get_raw_index(uid)) is not None

    def create(self, name: str, suffix: str = "") -> str:
        """Create `name`+suffix with its primary key and settings (an existing one only gets the settings)."""
        uid = self.uid(name, suffix)
        if not self.exists(uid):
            self.run(lambda: self.client.create_index(uid, {"primaryKey": self.config[name]["primaryKey"]}))
        self.apply_settings(name, uid)
        return uid

    def apply_settings(self, name: str, uid: str | None = None) -> None:
        self.run(
            lambda: self.client.index(uid or self.uid(name)).update_settings(self.config[name]["settings"])
        )

    def ensure(self) -> None:
        """Both indexes exist (created with their settings when missing)."""
        for name in self.config:
            if not self.exists(self.uid(name)):
                self.create(name)

    def drop(self, uid: str) -> None:
        if self.exists(uid):
            self.run(lambda: self.client.delete_index(uid))

    def swap(self, pairs: list[tuple[str, str]]) -> None:
        """Exchange the contents of each pair in one atomic task."""
        self.run(lambda: self.client.swap_indexes([{"indexes": [a, b]} for a, b in pairs]))

    def health(self) -> str:
        return self.request(self.client.health).get("status", "unknown")
