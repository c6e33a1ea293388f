"""/api/search: bare bodies (`{results, total, limit, offset, hasMore}`), answered by the search backend.

Every response, errors included, names the backend in `X-Search-Backend`: the
configured one until a backend answers, then the one that did (the database
when Meilisearch had to be bypassed).
"""

from __future__ import annotations

from collections.abc import Callable

import falcon

from bazaar.entry.http import answers, schemas
from bazaar.entry.http.endpoint import endpoint
from bazaar.entry.http.middleware import BodyWithSharedViews
from bazaar.infra.search import SearchBackend
from bazaar.infra.search.query import Hits, OverviewHits, Page, SessionSearch

BACKEND_HEADER = "X-Search-Backend"


def _name_configured_backend(req, resp, resource, params):
    resp.set_header(BACKEND_HEADER, resource.search.name)  # before validation: its errors name it too


class _Search:
    def __init__(self, search: SearchBackend):
        self.search = search

    @staticmethod
    def answer(resp, hits: Hits | OverviewHits) -> None:
        resp.set_header(BACKEND_HEADER, hits.backend)
        resp.media = BodyWithSharedViews(hits.body())


class SearchEverything(_Search):
    @falcon.before(_name_configured_backend)
    @endpoint("Sessions and products matching a text", query=schemas.Overview, answer=answers.Overview)
    def on_get(self, req, resp):
        self.answer(resp, self.search.overview(req.context.query.request()))


class SearchSessions(_Search):
    @falcon.before(_name_configured_backend)
    @endpoint("Search sessions", query=schemas.SessionSearch, answer=answers.Hits[answers.Session])
    def on_get(self, req, resp):
        self.answer(resp, self.search.sessions(req.context.query.request()))


class SearchProducts(_Search):
    @falcon.before(_name_configured_backend)
    @endpoint("Search products", query=schemas.ProductSearch, answer=answers.Hits[answers.Product])
    def on_get(self, req, resp):
        self.answer(resp, self.search.products(req.context.query.request()))


class SessionList(_Search):
    """A fixed list (live, upcoming, trending, a creator's): only `limit` and `offset` come from the query."""

    def __init__(self, search: SearchBackend, list_search: Callable[..., SessionSearch]):
        super().__init__(search)
        self.list_search = list_search  # (page, **path parameters) → the SessionSearch

    @property
    def summary(self) -> str:
        """What this list holds (its builder's docstring), for /api/openapi.json."""
        return self.list_search.__doc__.strip()

    @falcon.before(_name_configured_backend)
    @endpoint("A fixed list of sessions", query=schemas.SearchPage, answer=answers.Hits[answers.Session])
    def on_get(self, req, resp, **path):
        page: Page = req.context.query.page()
        self.answer(resp, self.search.sessions(self.list_search(page, **path)))
