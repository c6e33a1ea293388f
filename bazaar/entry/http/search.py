"""/api/search: bare bodies (`{results, total, limit, offset, hasMore}`), answered by the search backend.

Every response, errors included, names the backend in `X-Search-Backend`: the
configured one until a backend answers, then the one that did (the database
when Meilisearch had to be bypassed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bazaar.infra.search import SearchBackend
from bazaar.infra.search.query import (
    Hits,
    Overview,
    OverviewHits,
    Page,
    ProductSearch,
    SessionSearch,
)

BACKEND_HEADER = "X-Search-Backend"


class _Search:
    def __init__(self, search: SearchBackend):
        self.search = search

    def on_get(self, req, resp, **path):
        resp.set_header(BACKEND_HEADER, self.search.name)
        hits = self.answer(req.params, **path)
        resp.set_header(BACKEND_HEADER, hits.backend)
        resp.media = hits.body()

    def answer(self, params: Mapping, **path) -> Hits | OverviewHits:
        raise NotImplementedError


class SearchEverything(_Search):
    def answer(self, params, **path):
        return self.search.overview(Overview.parse(params))


class SearchSessions(_Search):
    def answer(self, params, **path):
        return self.search.sessions(SessionSearch.parse(params))


class SearchProducts(_Search):
    def answer(self, params, **path):
        return self.search.products(ProductSearch.parse(params))


class SessionList(_Search):
    """A fixed list (live, upcoming, trending, a creator's): only `limit` and `offset` come from the query."""

    def __init__(self, search: SearchBackend, list_search: Callable[..., SessionSearch]):
        super().__init__(search)
        self.list_search = list_search  # (page, **path parameters) → the SessionSearch

    def answer(self, params, **path):
        return self.search.sessions(self.list_search(Page.parse(params), **path))
