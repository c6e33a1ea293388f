"""The search read side: one interface, its implementations chosen once by configuration.

`DatabaseSearch` answers from SQL (PostgreSQL full text, SQLite FTS5). With
`MEILI_URL` set, a Meilisearch backend answers instead and falls back to the
database one when Meilisearch fails; `Hits.backend` names who answered, which
the API returns in `X-Search-Backend`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bazaar.infra.search.database import DatabaseSearch
from bazaar.infra.search.query import (
    Hits,
    Overview,
    OverviewHits,
    ProductSearch,
    SessionSearch,
)
from config import Settings

if TYPE_CHECKING:  # live state is handed in; search only reads its counts
    from bazaar.live.state import LiveState


class SearchBackend(Protocol):
    name: str  # what `X-Search-Backend` says when this backend answers

    def sessions(self, search: SessionSearch) -> Hits:
        """Sessions (session public shape, `viewerCount` while on air) matching `search`, in its order."""

    def products(self, search: ProductSearch) -> Hits:
        """Products (product public shape) matching `search`, in its order."""

    def overview(self, overview: Overview) -> OverviewHits:
        """GET /search: the best sessions and products for one text, answered as one unit."""

    def ping(self) -> None:
        """Raise if the backend cannot answer (the readiness check)."""


def make_search(settings: Settings, live_state: LiveState) -> SearchBackend:
    """The database backend; a Meilisearch backend (MEILI_URL) wraps it as its fallback."""
    database = DatabaseSearch(
        live_state,
        postgres=settings.db_kind == "postgresql",
        exact_count_max=settings.search_exact_count_max,
        count_cache_s=settings.search_count_cache_s,
    )
    if not settings.meili_url:
        return database
    # Imported only when configured: the client (with requests and pydantic) is 14 MB of every worker.
    from bazaar.infra.search.meili import MeiliSearch

    return MeiliSearch(settings, fallback=database)


__all__ = [
    "SearchBackend",
    "make_search",
    "DatabaseSearch",
    "Hits",
    "Overview",
    "OverviewHits",
    "ProductSearch",
    "SessionSearch",
]
