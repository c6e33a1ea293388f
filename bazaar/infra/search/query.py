"""Search requests (built from query strings validated at the boundary, `bazaar/entry/http/schemas.py`)
and the pages every backend answers with.

Both backends (database and Meilisearch) receive these objects, so a request
means the same thing whichever answers it. The `/search/sessions/*` lists are
session searches with a fixed filter and order (see `SessionSearch.live()` & co).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from bazaar.domain.models import SessionStatus

# Orders a client may ask for with `sortBy`.
SESSION_SORTS = ("newest", "oldest", "title", "viewers")
PRODUCT_SORTS = ("relevance", "newest", "oldest", "price-asc", "price-desc", "name")
# Orders of the fixed lists: best text match; soonest `scheduledAt`; current viewers, then recent engagement.
RELEVANCE, SOONEST, TRENDING = "relevance", "soonest", "trending"

MAX_QUERY_CHARS = 200
LIST_DEFAULT_LIMIT = 20
OVERVIEW_DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class Page:
    limit: int = LIST_DEFAULT_LIMIT
    offset: int = 0


@dataclass(frozen=True)
class SessionSearch:
    text: str = ""
    status: str | None = None
    category: str | None = None
    creator_id: int | None = None
    sort: str = RELEVANCE  # a SESSION_SORTS value, or RELEVANCE / SOONEST / TRENDING
    page: Page = field(default_factory=Page)

    # the fixed lists of /search/sessions/*
    @classmethod
    def live(cls, page: Page) -> SessionSearch:
        """Live now, most viewers first."""
        return cls(status=SessionStatus.LIVE, sort="viewers", page=page)

    @classmethod
    def upcoming(cls, page: Page) -> SessionSearch:
        """Scheduled, soonest `scheduledAt` first (unscheduled last)."""
        return cls(status=SessionStatus.SCHEDULED, sort=SOONEST, page=page)

    @classmethod
    def trending(cls, page: Page) -> SessionSearch:
        """Live, by current viewers, then engagement (reactions, chat) in the trending window."""
        return cls(status=SessionStatus.LIVE, sort=TRENDING, page=page)

    @classmethod
    def by_creator(cls, page: Page, creator_id: int) -> SessionSearch:
        """One creator's sessions, whatever their status, newest first."""
        return cls(creator_id=creator_id, sort="newest", page=page)


@dataclass(frozen=True)
class ProductSearch:
    text: str = ""
    category: str | None = None
    in_stock: bool | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    seller_id: int | None = None
    sort: str = RELEVANCE
    page: Page = field(default_factory=Page)


@dataclass(frozen=True)
class Overview:
    """GET /search: the best sessions and products for one non-blank text."""

    text: str
    limit: int

    def sessions(self) -> SessionSearch:
        return SessionSearch(text=self.text, page=Page(self.limit))

    def products(self) -> ProductSearch:
        return ProductSearch(text=self.text, page=Page(self.limit))


@dataclass
class Hits:
    """One page of results (public shapes), the number of all matches, and who answered."""

    results: list[dict]
    total: int
    page: Page
    backend: str

    def body(self) -> dict:
        return {
            "results": self.results,
            "total": self.total,
            "limit": self.page.limit,
            "offset": self.page.offset,
            "hasMore": self.page.offset + len(self.results) < self.total,
        }


@dataclass
class OverviewHits:
    sessions: Hits
    products: Hits

    @property
    def backend(self) -> str:
        return self.sessions.backend

    def body(self) -> dict:
        return {
            "sessions": self.sessions.results,
            "products": self.products.results,
            "total": self.sessions.total + self.products.total,
            "counts": {"sessions": self.sessions.total, "products": self.products.total},
        }
