"""Search answered by the database: PostgreSQL full text, or SQLite FTS5 on the embedded default.

A text becomes words (any order, each one a prefix: "earb wirel" finds
"Wireless Earbuds"), matched case- and accent-insensitively against the search
columns of migration 002. Relevance is two tiers: rows whose title/name holds
every word, then the other matches (description, category, tags); newest first
within a tier.

A relevance page (a text, no `sortBy`) is one round trip on a small catalogue
(on PostgreSQL, once the worker knows its words' tsquery: `_PostgresText`):
its rows, in one ordered query (the tier is the first sort key) and, from the
same statement, the number of all matches (`count(*) OVER ()`) — sorting by tier
reads every match anyway. That is what a hot search on a large catalogue cannot
afford, so (`_Totals`) a count above `search_exact_count_max` is remembered and
reused for `search_count_cache_s` by this worker (then one request recounts it
while the others reuse it), and meanwhile its pages are reads built to stop
early: the title tier, then the rest, each an ordered scan with LIMIT/OFFSET
(sorting every match by tier took 15 ms at 4,054 matches of 100,000, paging the
title tier 0.5 ms). Pages in another order are such scans from the start, so
their total is counted apart: carried by the page, it made PostgreSQL read every
row in that order (40–100 ms for `sortBy=newest` at 100,000 products, where the
page alone stops after 20). An empty page (past the end) counts apart too.

Session results come with their creator and showcased product joined, in the
same statement. A result's view is built once per distinct row (`RowViews`: a row
read again unchanged has the view built before); the live counts of on-air
sessions are added on every read.

Ordering by live viewers (`sortBy=viewers`, the live and trending lists) is done
in Python, and only over the on-air sessions that match — viewer counts live in
`LiveState`, not in a column — followed by the other matches, newest first.
"""

from __future__ import annotations

import re
import time
import unicodedata
import uuid
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import TYPE_CHECKING

import peewee as pw

from bazaar.domain.models import Product, Session, SessionStatus, User
from bazaar.domain.views import product_view, session_view, with_live_counts
from bazaar.infra import db
from bazaar.infra.rows import Pages, RowViews, select_all
from bazaar.infra.search.query import (
    RELEVANCE,
    SOONEST,
    TRENDING,
    Hits,
    Overview,
    OverviewHits,
    Page,
    ProductSearch,
    SessionSearch,
)

if TYPE_CHECKING:  # live state is handed in; search only reads its counts
    from bazaar.live.state import LiveState

_WORD = re.compile(r"[^\W_]+")  # letters and digits; both engines split on everything else


def words(text: str) -> list[str]:
    return list(dict.fromkeys(_WORD.findall(unicodedata.normalize("NFC", text).lower())))


def _title_column(model) -> str:
    return "name" if model is Product else "title"


class _PostgresText:
    """The GIN-indexed tsvector columns `search_vector` (everything searched) and `title_vector`.

    A search's words become one tsquery, read from PostgreSQL (its unaccent rules) by a statement of its
    own and passed to the page's statements as a value. Built inside every page instead (three times in
    a relevance page), it was a fifth of PostgreSQL's work on a small page. This worker remembers the
    tsquery of the words it has seen (`_CAPACITY`), so only a search for new words costs a round trip
    more."""

    _CAPACITY = 1024

    def __init__(self):
        self._tsqueries: dict[tuple[str, ...], str] = {}

    @staticmethod
    def _prefix(term: str) -> pw.Node:
        """`'term':*` with the term unaccented, then its quotes doubled: unaccent turns modifier-letter
        apostrophes (ʼ U+02BC, the Ukrainian apostrophe, and kin) into `'`."""
        quoted = pw.fn.replace(pw.fn.bazaar_unaccent(term), "'", "''")
        return pw.NodeList((pw.Value("'"), quoted, pw.Value("':*")), glue=" || ")

    def values(self, model, terms: list[str]) -> list[str]:
        """The values `conditions` takes for `terms`: their tsquery (every word, each a prefix), as text."""
        key = tuple(terms)
        tsquery = self._tsqueries.get(key)
        if tsquery is None:
            pieces = []
            for term in terms:
                pieces += [pw.Value(" & "), self._prefix(term)]
            built = pw.fn.to_tsquery("simple", pw.NodeList(pieces[1:], glue=" || "))
            tsquery = db.database.execute(pw.Select(columns=[pw.Cast(built, "text")])).fetchone()[0]
            if len(self._tsqueries) >= self._CAPACITY:
                self._tsqueries.clear()
            self._tsqueries[key] = tsquery
        return [tsquery]

    def conditions(self, model, values: list[pw.Node]) -> tuple[pw.Expression, pw.Expression]:
        """(matches anywhere, every word in the title/name)."""
        tsquery = pw.Cast(values[0], "tsquery")
        return (
            pw.Expression(pw.Column(model, "search_vector"), "@@", tsquery),
            pw.Expression(pw.Column(model, "title_vector"), "@@", tsquery),
        )


class _SqliteText:
    """The FTS5 table `<table>_fts` over the model's rows (same rowid)."""

    @staticmethod
    def _matches(model, expression: pw.Node) -> pw.Expression:
        table = f"{model._meta.table_name}_fts"
        fts = pw.Table(table).alias(table)  # MATCH needs the table's own name
        hits = fts.select(pw.SQL("rowid")).where(pw.Expression(fts, "MATCH", expression))
        return pw.Column(model, "rowid").in_(hits)

    @staticmethod
    def values(model, terms: list[str]) -> list[str]:
        """The values `conditions` takes for `terms`: the MATCH expressions anywhere and in the title."""
        every_word = " ".join(f'"{term}"*' for term in terms)
        return [every_word, f"{_title_column(model)} : ({every_word})"]

    def conditions(self, model, values: list[pw.Node]) -> tuple[pw.Expression, pw.Expression]:
        """(matches anywhere, every word in the title/name)."""
        return self._matches(model, values[0]), self._matches(model, values[1])


class _Totals:
    """Counts of matching rows: exact up to `exact_max`; larger counts are reused for `ttl_s` (per worker).

    When a large count expires, the first caller recounts it and callers meanwhile reuse the old
    one: a popular search's count expiring must not make every request in flight count at once.

    `query_of` builds the query counted; it is called only when a count needs statements of its own
    (or `key` is not given): building peewee queries costs more CPU than answering a small page.
    `count_with_page`, when given, counts by reading a page that carries the total (None when the
    page is empty); it is called only when a count is needed, and a count it cannot give is made
    by separate statements. `key` names what is counted when the caller has a name for it cheaper
    than the query's SQL (building a joined query's SQL costs more CPU than the database answering it).
    """

    _CAPACITY = 1024

    def __init__(self, exact_max: int, ttl_s: float):
        self.exact_max = exact_max
        self.ttl_s = ttl_s
        self._large: dict[tuple, tuple[float, int]] = {}  # query → (expires at, count)
        self._recounting: set[tuple] = set()

    def count(
        self,
        query_of: Callable[[], pw.ModelSelect],
        count_with_page: Callable[[], int | None] | None = None,
        key: Hashable | None = None,
    ) -> int:
        def counted_rows() -> pw.ModelSelect:
            return query_of().select(pw.SQL("1")).order_by()

        if key is None:
            sql, params = counted_rows().sql()
            key = (sql, tuple(params))
        counted = count_with_page() if count_with_page is not None and key not in self._large else None
        if counted is not None:
            return self._remember(key, counted)
        cached = self._large.get(key)
        if cached is None:
            rows = counted_rows()
            count = rows.limit(self.exact_max + 1).count()
            return count if count <= self.exact_max else self._remember(key, rows.count())
        expires, count = cached
        if expires > time.monotonic() or key in self._recounting:
            return count
        self._recounting.add(key)
        try:
            counted = count_with_page() if count_with_page is not None else None
            return self._remember(key, counted_rows().count() if counted is None else counted)
        finally:
            self._recounting.discard(key)

    def _remember(self, key: tuple, count: int) -> int:
        if count <= self.exact_max:
            self._large.pop(key, None)
            return count
        if len(self._large) >= self._CAPACITY:
            self._large.clear()
        self._large[key] = (time.monotonic() + self.ttl_s, count)
        return count


def _rows(query: pw.ModelSelect, order: list, page: Page) -> list:
    return select_all(query.order_by(*order).limit(page.limit).offset(page.offset))


# A filter of a search: (its name, its condition given a node holding the value, the value).
_Filter = tuple[str, Callable[[pw.Node], pw.Expression], object]


def _product_filters(search: ProductSearch) -> list[_Filter]:
    filters: list[_Filter] = []
    if search.category is not None:
        filters.append(("category", lambda v: pw.fn.lower(Product.category) == v, search.category.lower()))
    if search.in_stock is not None:
        filters.append(("in_stock", lambda v: Product.in_stock == v, search.in_stock))
    if search.min_price is not None:
        filters.append(("min_price", lambda v: Product.price >= v, search.min_price))
    if search.max_price is not None:
        filters.append(("max_price", lambda v: Product.price <= v, search.max_price))
    if search.seller_id is not None:
        filters.append(("seller_id", lambda v: Product.seller == v, search.seller_id))
    return filters


def _session_filters(search: SessionSearch) -> list[_Filter]:
    filters: list[_Filter] = []
    if search.status is not None:
        filters.append(("status", lambda v: Session.status == v, search.status))
    if search.category is not None:
        filters.append(("category", lambda v: pw.fn.lower(Session.category) == v, search.category.lower()))
    if search.creator_id is not None:
        filters.append(("creator_id", lambda v: Session.creator == v, search.creator_id))
    return filters


def _filtered(query: pw.ModelSelect, filters: list[_Filter], nodes) -> pw.ModelSelect:
    for (_, condition, _), node in zip(filters, nodes):
        query = query.where(condition(node))
    return query


def _newest(model) -> list:
    return [model.created_at.desc(), model.id.desc()]


# sortBy → the order it builds (None: relevance); built only when a page's SQL is compiled.
_PRODUCT_ORDERS: dict[str, Callable[[], list] | None] = {
    RELEVANCE: None,
    "newest": lambda: _newest(Product),
    "oldest": lambda: [Product.created_at, Product.id],
    "price-asc": lambda: [Product.price, *_newest(Product)],
    "price-desc": lambda: [Product.price.desc(), *_newest(Product)],
    "name": lambda: [pw.fn.lower(Product.name), Product.id],
}
_SESSION_ORDERS: dict[str, Callable[[], list] | None] = {
    RELEVANCE: None,
    "newest": lambda: _newest(Session),
    "oldest": lambda: [Session.created_at, Session.id],
    "title": lambda: [pw.fn.lower(Session.title), Session.id],
    SOONEST: lambda: [Session.scheduled_at.asc(nulls="LAST"), Session.created_at, Session.id],
}

# What a listed session's view reads (`session_view` without its stream key): the session's columns but
# the stream key and the analytics counters, its creator's id and name, and its showcased product.
_LISTED_SESSION_FIELDS = [
    f for f in Session._meta.sorted_fields if f.name not in ("stream_key", "peak_viewers", "unique_clickers")
]


def _listed_sessions() -> pw.ModelSelect:
    """Sessions as search lists them, creator and showcased product joined (what `session_view` reads)."""
    return (
        Session.select(*_LISTED_SESSION_FIELDS, User.id, User.username, *Product._meta.sorted_fields)
        .join(User, on=Session.creator)
        .switch(Session)
        .join(Product, pw.JOIN.LEFT_OUTER, on=Session.active_product)
    )


class DatabaseSearch:
    name = "database"

    def __init__(
        self,
        live_state: LiveState,
        *,
        postgres: bool,
        exact_count_max: int = 1000,
        count_cache_s: float = 10.0,
    ):
        self.live_state = live_state
        self.text = _PostgresText() if postgres else _SqliteText()
        self.totals = _Totals(exact_count_max, count_cache_s)
        self.pages = Pages()
        self._product_row_views = RowViews(product_view)
        self._session_row_views = RowViews(session_view)  # live counts shown apart: `_with_live_counts`
        from bazaar.infra.shared_reads import SharedReads  # gevent: not loaded by the indexer's imports

        self._on_air_counts = SharedReads(lambda on_air: live_state.on_air_counts(list(on_air)))

    def ping(self) -> None:
        db.ping()

    def _search(
        self,
        model: type[pw.Model],
        base: Callable[[], pw.ModelSelect],
        filters: list[_Filter],
        search: ProductSearch | SessionSearch,
        order: Callable[[], list] | None,
        views: RowViews,
    ) -> tuple[list[dict], int]:
        """A page of `base()` (rows of `model`, as `views` of them) with `filters` and the search's text
        applied, in the order `order()` builds (None: relevance), and the number of all matches.

        Queries are built only when a page's SQL is compiled (once per shape, `Pages`) or a count needs
        statements of its own: building them cost more CPU than PostgreSQL answering a small page."""
        terms = words(search.text)
        text_values = self.text.values(model, terms) if terms else []
        values = [value for _, _, value in filters] + text_values
        page = search.page
        relevance = order is None and bool(text_values)

        def matching(*nodes: pw.Node) -> tuple[pw.ModelSelect, pw.Expression | None, pw.Expression | None]:
            """(the filtered query, the text's conditions anywhere and in the title), values in `nodes`."""
            filtered = _filtered(base(), filters, nodes)
            if not text_values:
                return filtered, None, None
            return filtered, *self.text.conditions(model, list(nodes[len(filters) :]))

        def page_of(*nodes: pw.Node) -> pw.ModelSelect:
            filtered, anywhere, _ = matching(*nodes[:-2])
            matches = filtered if anywhere is None else filtered.where(anywhere)
            return (
                matches.order_by(*(order() if order else _newest(model))).limit(nodes[-2]).offset(nodes[-1])
            )

        def counted_page_of(*nodes: pw.Node) -> tuple[pw.ModelSelect, pw.Node]:
            """The relevance page and its total. The matches are ranked and counted as narrow rows (id, tier,
            age), and only the page's rows are joined whole: sorting and counting whole joined rows took
            PostgreSQL twice as long on 40 matches."""
            anywhere, in_title = self.text.conditions(model, list(nodes[len(filters) : -2]))
            tier = pw.Case(None, [(in_title, 0)], 1)
            ranked = model.select(
                model.id, tier.alias("tier"), model.created_at, pw.fn.COUNT(pw.SQL("*")).over().alias("total")
            )
            keys = (
                _filtered(ranked, filters, nodes[: len(filters)])
                .where(anywhere)
                .order_by(tier, *_newest(model))
                .limit(nodes[-2])
                .offset(nodes[-1])
                .alias("page")
            )
            rows = base().switch(model).join(keys, on=(model.id == keys.c.id))
            return rows.order_by(keys.c.tier, keys.c.created_at.desc(), keys.c.id.desc()), keys.c.total

        def all_matches() -> pw.ModelSelect:
            filtered, anywhere, _ = matching(*map(pw.Value, values))
            return filtered if anywhere is None else filtered.where(anywhere)

        shape = (model, tuple(name for name, _, _ in filters), len(text_values), search.sort)
        read: list[list] = []

        def count_with_page() -> int | None:
            rows, total = self.pages.read_counted(
                shape, counted_page_of, [*values, page.limit, page.offset], views
            )
            read.append(rows)
            return total

        # The count is named by the search itself, order and page aside (cheaper than the SQL of its query).
        total = self.totals.count(
            all_matches, count_with_page if relevance else None, replace(search, sort=RELEVANCE, page=Page())
        )
        if read and read[-1]:
            return read[-1], total
        if total <= page.offset:
            return [], total
        if not relevance:
            return self.pages.read(shape, page_of, [*values, page.limit, page.offset], views), total

        # A large total (its count reused): sorting every match by tier on every page would read them all,
        # so each tier is read by a scan in `newest` order that stops at the end of the page.
        def tier_of(title: bool) -> Callable[..., pw.ModelSelect]:
            def page_of_tier(*nodes: pw.Node) -> pw.ModelSelect:
                filtered, anywhere, in_title = matching(*nodes[:-2])
                tier = filtered.where(in_title) if title else filtered.where(anywhere).where(~in_title)
                return tier.order_by(*_newest(model)).limit(nodes[-2]).offset(nodes[-1])

            return page_of_tier

        rows = self.pages.read((shape, "title"), tier_of(True), [*values, page.limit, page.offset], views)
        if len(rows) == page.limit:
            return rows, total

        def titled_matches() -> pw.ModelSelect:
            filtered, _, in_title = matching(*map(pw.Value, values))
            return filtered.where(in_title)

        # The title tier ended on this page (or before it): the rest follows.
        titled = page.offset + len(rows) if rows or not page.offset else self.totals.count(titled_matches)
        rest = Page(page.limit - len(rows), max(page.offset - titled, 0))
        return rows + self.pages.read(
            (shape, "rest"), tier_of(False), [*values, rest.limit, rest.offset], views
        ), total

    # products ---------------------------------------------------------------------------
    def products(self, search: ProductSearch) -> Hits:
        order = _PRODUCT_ORDERS[search.sort]
        found, total = self._search(
            Product, Product.select, _product_filters(search), search, order, self._product_row_views
        )
        return Hits(found, total, search.page, self.name)

    # sessions ---------------------------------------------------------------------------
    def sessions(self, search: SessionSearch) -> Hits:
        if search.sort in ("viewers", TRENDING):
            ids, total = self._by_audience(search)
            return Hits(self.session_views(ids), total, search.page, self.name)
        order = _SESSION_ORDERS[search.sort]
        found, total = self._search(
            Session, _listed_sessions, _session_filters(search), search, order, self._session_row_views
        )
        return Hits(self._with_live_counts(found), total, search.page, self.name)

    def _by_audience(self, search: SessionSearch) -> tuple[list[uuid.UUID], int]:
        """On-air matches by current viewers (then recent engagement for trending), then the rest newest
        first. The on-air matches' SQL is built once per shape (`Pages`), as a page's."""
        filters = _session_filters(search)
        terms = words(search.text)
        text_values = self.text.values(Session, terms) if terms else []
        values = [value for _, _, value in filters] + text_values

        def matching(*nodes: pw.Node) -> pw.ModelSelect:
            query = _filtered(Session.select(Session.id, Session.created_at), filters, nodes[: len(filters)])
            if not text_values:
                return query
            return query.where(self.text.conditions(Session, list(nodes[len(filters) :]))[0])

        shape = ("on air", tuple(name for name, _, _ in filters), len(text_values))
        on_air = self.pages.read(
            shape, lambda *nodes: matching(*nodes).where(Session.status.in_(SessionStatus.ON_AIR)), values
        )
        keys = [str(s.id) for s in on_air]
        viewers = self.live_state.viewer_counts(keys) if keys else {}
        engagement = self.live_state.engagement(keys) if keys and search.sort == TRENDING else {}
        on_air.sort(
            key=lambda s: (viewers.get(str(s.id), 0), engagement.get(str(s.id), 0), s.created_at),
            reverse=True,
        )
        page = search.page
        ids = [s.id for s in on_air[page.offset : page.offset + page.limit]]
        if search.status in SessionStatus.ON_AIR:
            return ids, len(on_air)
        rest = matching(*map(pw.Value, values)).where(Session.status.not_in(SessionStatus.ON_AIR))
        total = len(on_air) + self.totals.count(lambda: rest)
        if len(ids) < page.limit:
            rest_page = Page(page.limit - len(ids), max(page.offset - len(on_air), 0))
            ids += [row.id for row in _rows(rest, _newest(Session), rest_page)]
        return ids, total

    def session_views(self, ids: list[uuid.UUID]) -> list[dict]:
        """The sessions of `ids` in that order (creator and showcased product joined), live counts while on
        air."""
        if not ids:
            return []
        found = self.pages.read(
            ("listed", len(ids)),
            lambda *nodes: _listed_sessions().where(Session.id.in_(list(nodes))),
            [Session.id.db_value(session_id) for session_id in ids],
            self._session_row_views,
        )
        by_id = {view["id"]: view for view in found}
        return self._with_live_counts([by_id[key] for key in map(str, ids) if key in by_id])

    def _with_live_counts(self, views: list[dict]) -> list[dict]:
        """Listed sessions' views with their live counts while on air (one Redis round trip, shared by the
        pages of the same sessions asked for in the same turn: `SharedReads`)."""
        on_air = tuple(view["id"] for view in views if view["status"] in SessionStatus.ON_AIR)
        if not on_air:
            return views
        live = self._on_air_counts(on_air)
        return [with_live_counts(view, live[view["id"]]) if view["id"] in live else view for view in views]

    # both -------------------------------------------------------------------------------
    def overview(self, overview: Overview) -> OverviewHits:
        return OverviewHits(self.sessions(overview.sessions()), self.products(overview.products()))
