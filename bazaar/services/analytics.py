"""Analytics of a session and of a creator.

Aggregates are computed by the database (GROUP BY, COUNT DISTINCT, CASE buckets,
window functions) over `session_views`, `product_click_stats` and `sessions`;
Python only shapes the few rows that come back. While a session is on air its
reactions, clicks and peak come from LiveState, which is ahead of the last checkpoint.

Meanings (SPEC §7): unique viewers = distinct viewer keys (signed-in "u:<id>",
anonymous "c:<connection>") other than the session's creator; total = view rows
(joins); watch time in whole seconds, a view still open counting up to now (or
to the end of the session); peak = the exact tracked peak, else the highest
number of overlapping views.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime

from peewee import JOIN, SQL, Case, Value, Window, fn

from bazaar.domain.clock import iso, now, parse_iso
from bazaar.domain.errors import Forbidden, NotFound
from bazaar.domain.models import (
    Product,
    ProductClickStat,
    Session,
    SessionProduct,
    SessionStatus,
    SessionView,
    User,
)
from bazaar.infra.db import database, is_postgres, whole_seconds_between
from bazaar.live.events import REACTION_TYPES
from bazaar.live.state import LiveState, LiveTotals
from bazaar.services.orders import creator_sales, sales_view, show_sales

# (label, from seconds, up to seconds exclusive)
RETENTION_RANGES = (
    ("0-30s", 0, 30),
    ("30s-1m", 30, 60),
    ("1m-5m", 60, 300),
    ("5m-15m", 300, 900),
    ("15m-30m", 900, 1800),
    ("30m+", 1800, None),
)
PERCENTILES = (("median", 50), ("p75", 75), ("p90", 90))

# Each off-air session's reaction_counts JSON object, summed per reaction type.
_REACTION_SUMS_SQL = {
    "postgresql": "SELECT r.key, SUM(r.value::integer) "
    "FROM sessions s, json_each_text(s.reaction_counts::json) r "
    "WHERE s.creator_id = %s AND s.status NOT IN (%s, %s) GROUP BY r.key",
    "sqlite": "SELECT r.key, SUM(r.value) FROM sessions s, json_each(s.reaction_counts) r "
    "WHERE s.creator_id = ? AND s.status NOT IN (?, ?) GROUP BY r.key",
}


def format_duration(seconds: int) -> str:
    """45s, 3m 5s, 1h 2m."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


class AnalyticsService:
    def __init__(self, live_state: LiveState):
        self.live_state = live_state

    # session ------------------------------------------------------------------
    def session_report(self, session_id: uuid.UUID, actor: User) -> dict:
        session = _readable_session(session_id, actor)
        live = self.live_state.totals(str(session.id)) if session.on_air else None
        until = session.ended_at or now()
        viewers = _viewer_stats(session, until)
        reactions = live.reactions if live else session.reaction_counts
        peak = max(session.peak_viewers, live.peak_viewers if live else 0) or _peaks_from_views(
            SessionView.session == session.id, session.creator_id
        ).get(session.id, 0)
        sales, product_sales = show_sales(session.id)
        return {
            "sessionId": str(session.id),
            "session": {
                "title": session.title,
                "status": session.status,
                "creator": {"id": session.creator.id, "username": session.creator.username},
                "createdAt": iso(session.created_at),
                "updatedAt": iso(session.updated_at),
                "startedAt": iso(session.started_at),
                "endedAt": iso(session.ended_at),
            },
            "viewers": {
                "unique": viewers["unique"],
                "total": viewers["total"],
                "peak": peak,
                "avgWatchTime": viewers["avg"],
                "avgWatchTimeFormatted": format_duration(viewers["avg"]),
            },
            "products": _with_sales(_product_stats(session, viewers["unique"], live), product_sales, viewers),
            "sales": sales_view(sales, viewers["unique"]),
            "reactions": _reaction_summary(reactions),
            "engagement": {
                "viewerTimeline": _viewer_timeline(session.id),
                "retention": _retention(session, until, viewers),
            },
        }

    def live_viewers(self, session_id: uuid.UUID, actor: User, *, limit: int, offset: int) -> dict:
        """The views open right now, with their watch time so far."""
        session = _readable_session(session_id, actor)
        rows, total = _view_page(session, now(), limit, offset, open_only=True)
        return {
            "sessionId": str(session.id),
            "liveViewerCount": self.live_state.viewer_count(str(session.id)) if session.on_air else 0,
            "total": total,
            "limit": limit,
            "offset": offset,
            "hasMore": offset + len(rows) < total,
            "viewers": [
                {
                    "id": str(v.id),
                    "userId": v.user_id,
                    "username": v.username,
                    "joinedAt": iso(v.joined_at),
                    "watchDuration": v.watch,
                }
                for v in rows
            ],
        }

    @staticmethod
    def viewers(session_id: uuid.UUID, actor: User, *, limit: int, offset: int) -> dict:
        """Every view of the session, open or closed, in joining order."""
        session = _readable_session(session_id, actor)
        rows, total = _view_page(session, session.ended_at or now(), limit, offset)
        return {
            "sessionId": str(session.id),
            "total": total,
            "limit": limit,
            "offset": offset,
            "hasMore": offset + len(rows) < total,
            "viewers": [
                {
                    "id": str(v.id),
                    "userId": v.user_id,
                    "username": v.username,
                    "joinedAt": iso(v.joined_at),
                    "leftAt": iso(v.left_at),
                    "watchDuration": v.watch,
                    "watchDurationFormatted": format_duration(v.watch),
                    "isActive": v.left_at is None,
                }
                for v in rows
            ],
        }

    # creator ------------------------------------------------------------------
    def creator_report(self, creator_id: int, actor: User) -> dict:
        """Totals over all of a creator's sessions, in a fixed number of queries."""
        if actor.id != creator_id and not actor.is_admin:
            raise Forbidden("Creator analytics are for the creator themself and admins")
        if not User.select().where(User.id == creator_id).exists():
            raise NotFound("User not found")
        of_creator = Session.creator == creator_id
        by_status = _sessions_by_status(of_creator)
        off_air = [row for status, row in by_status.items() if status not in SessionStatus.ON_AIR]
        # On-air sessions' counters are in LiveState, ahead of their last checkpoint in the table.
        live = [
            self.live_state.totals(str(session.id))
            for session in Session.select(Session.id).where(
                of_creator & Session.status.in_(SessionStatus.ON_AIR)
            )
        ]
        total_unique, unique_per_session = _creator_viewers(of_creator, creator_id)
        aired = sum(row["aired"] for row in by_status.values())
        estimated_peaks = _peaks_from_views(of_creator & (Session.peak_viewers == 0), creator_id).values()
        peak = max(
            [row["peak"] for row in by_status.values()]
            + [t.peak_viewers for t in live]
            + list(estimated_peaks),
            default=0,
        )
        unique_clickers = sum(row["unique_clickers"] for row in off_air) + sum(
            t.unique_clickers for t in live
        )
        total_clicks = _off_air_clicks(of_creator) + sum(
            total for t in live for total, _ in t.clicks.values()
        )
        reactions = Counter(_off_air_reaction_sums(creator_id))
        for totals in live:
            reactions.update(totals.reactions)
        return {
            "sessions": {
                "total": sum(row["sessions"] for row in by_status.values()),
                "byStatus": {
                    status: by_status[status]["sessions"] if status in by_status else 0
                    for status in (
                        SessionStatus.LIVE,
                        SessionStatus.ENDED,
                        SessionStatus.SCHEDULED,
                        SessionStatus.PAUSED,
                    )
                },
            },
            "viewers": {
                "totalUnique": total_unique,
                "averagePerSession": round(unique_per_session / aired, 2) if aired else 0.0,
                "peakConcurrent": peak,
            },
            "reactions": _reaction_summary(reactions),
            "sales": sales_view(creator_sales(creator_id), unique_per_session),
            "products": {
                "totalClicks": total_clicks,
                "uniqueUsers": unique_clickers,
                # over all shows: unique clickers per unique viewer of each show
                "averageCTR": _percent(unique_clickers, unique_per_session),
            },
        }


def _sessions_by_status(of_creator) -> dict[str, dict]:
    """status → {sessions, aired (went on air), unique_clickers, peak} over the creator's sessions."""
    rows = (
        Session.select(
            Session.status,
            fn.COUNT(Session.id).alias("sessions"),
            fn.SUM(Case(None, [(Session.started_at.is_null(False), 1)], 0)).alias("aired"),
            fn.SUM(Session.unique_clickers).alias("unique_clickers"),
            fn.MAX(Session.peak_viewers).alias("peak"),
        )
        .where(of_creator)
        .group_by(Session.status)
        .dicts()
    )
    return {row.pop("status"): {name: int(value or 0) for name, value in row.items()} for row in rows}


def _creator_viewers(of_creator, creator_id: int) -> tuple[int, int]:
    """(distinct viewers over all the creator's sessions, sum of each session's distinct viewers)."""
    viewed = (
        SessionView.select().join(Session).where(of_creator & (SessionView.viewer_key != f"u:{creator_id}"))
    )
    distinct = fn.COUNT(fn.DISTINCT(SessionView.viewer_key))
    per_session = viewed.select(SessionView.session, distinct.alias("n")).group_by(SessionView.session)
    summed = per_session.select_from(fn.SUM(per_session.c.n)).tuples().scalar()
    return int(viewed.select(distinct).scalar() or 0), int(summed or 0)


def _off_air_clicks(of_creator) -> int:
    clicks = (
        ProductClickStat.select(fn.SUM(ProductClickStat.total_clicks))
        .join(Session)
        .where(of_creator & Session.status.not_in(SessionStatus.ON_AIR))
        .scalar()
    )
    return int(clicks or 0)


def _readable_session(session_id: uuid.UUID, actor: User) -> Session:
    session = Session.select(Session, User).join(User).where(Session.id == session_id).get_or_none()
    if session is None:
        raise NotFound("Session not found")
    if session.creator_id != actor.id and not actor.can_moderate:
        raise Forbidden("Session analytics are for the session's creator, moderators and admins")
    return session


def _percent(part: int, whole: int) -> float:
    return round(part * 100.0 / whole, 2) if whole else 0.0


def _reaction_summary(counts: dict[str, int]) -> dict:
    breakdown = {kind: 0 for kind in REACTION_TYPES}
    breakdown.update(counts)
    return {"total": sum(breakdown.values()), "breakdown": breakdown}


def _watch_seconds(until: datetime):
    """A view's watch time in whole seconds (stored when it closed); an open view counts up to `until`."""
    elapsed = whole_seconds_between(SessionView.joined_at, fn.COALESCE(SessionView.left_at, Value(until)))
    return fn.COALESCE(SessionView.watch_seconds, elapsed)


def _watched(session: Session, until: datetime):
    """One row per view of the session: its viewer key and watch seconds."""
    return SessionView.select(SessionView.viewer_key, _watch_seconds(until).alias("w")).where(
        SessionView.session == session.id
    )


def _viewer_stats(session: Session, until: datetime) -> dict:
    views = _watched(session, until)
    viewer = Case(None, [(views.c.viewer_key != f"u:{session.creator_id}", views.c.viewer_key)])
    buckets = [
        fn.SUM(Case(None, [(_in_range(views.c.w, low, high), 1)], 0)) for _, low, high in RETENTION_RANGES
    ]
    row = (
        views.select_from(fn.COUNT(SQL("*")), fn.COUNT(fn.DISTINCT(viewer)), fn.SUM(views.c.w), *buckets)
        .tuples()
        .get()
    )
    total, unique, watched = int(row[0]), int(row[1]), int(row[2] or 0)
    return {
        "total": total,
        "unique": unique,
        "avg": int(watched / total + 0.5) if total else 0,
        "ranges": [int(n or 0) for n in row[3:]],
    }


def _in_range(seconds, low: int, high: int | None):
    return (seconds >= low) if high is None else ((seconds >= low) & (seconds < high))


def _retention(session: Session, until: datetime, viewers: dict) -> dict:
    """Ranges of watch time, and percentiles interpolated between the two nearest views."""
    retention = {
        "ranges": [
            {"label": label, "count": count}
            for (label, _, _), count in zip(RETENTION_RANGES, viewers["ranges"])
        ]
    }
    n = viewers["total"]
    ranks = {name: _ranks_around(n, p) for name, p in PERCENTILES}
    watch_at = {}
    if n:
        views = _watched(session, until)
        ordered = views.select_from(views.c.w, fn.ROW_NUMBER().over(order_by=[views.c.w]).alias("rn"))
        wanted = sorted({rank for pair in ranks.values() for rank in pair})
        watch_at = dict(
            ordered.select_from(ordered.c.rn, ordered.c.w).where(ordered.c.rn.in_(wanted)).tuples()
        )
    for name, p in PERCENTILES:
        low, high = ranks[name]
        if low in watch_at and high in watch_at:
            fraction = ((n - 1) * p % 100) / 100
            value = int(watch_at[low] + (watch_at[high] - watch_at[low]) * fraction + 0.5)
        else:
            value = 0
        retention[name] = value
        retention[f"{name}Formatted"] = format_duration(value)
    return retention


def _ranks_around(n: int, percent: int) -> tuple[int, int]:
    """1-based ranks of the two views either side of a percentile (the same one when it falls on a view)."""
    position = (n - 1) * percent
    low = position // 100 + 1
    return low, low + (1 if position % 100 else 0)


def _viewer_timeline(session_id) -> list[dict]:
    """Joins and leaves per minute, oldest minute first (minutes without either are left out)."""
    of_session = SessionView.session == session_id
    joins = SessionView.select(
        database.truncate_date("minute", SessionView.joined_at).alias("minute"),
        Value(1).alias("joins"),
        Value(0).alias("leaves"),
    ).where(of_session)
    leaves = SessionView.select(
        database.truncate_date("minute", SessionView.left_at).alias("minute"),
        Value(0).alias("joins"),
        Value(1).alias("leaves"),
    ).where(of_session & SessionView.left_at.is_null(False))
    events = joins + leaves
    rows = (
        events.select_from(events.c.minute, fn.SUM(events.c.joins), fn.SUM(events.c.leaves))
        .group_by(events.c.minute)
        .order_by(events.c.minute)
        .tuples()
    )
    return [
        {"timestamp": iso(_as_datetime(minute)), "joins": int(joined), "leaves": int(left)}
        for minute, joined, left in rows
    ]


def _as_datetime(value) -> datetime:
    # date_trunc answers a timestamp on PostgreSQL, text on SQLite
    return value if isinstance(value, datetime) else parse_iso(value)


def _peaks_from_views(condition, creator_id: int) -> dict:
    """Session id → highest number of overlapping views (the creator's own excluded), for the sessions
    matching `condition` (on Session/SessionView) — the estimate used where no exact peak was tracked."""
    joins = (
        SessionView.select(SessionView.session, SessionView.joined_at.alias("at"), Value(1).alias("delta"))
        .join(Session)
        .where(condition & (SessionView.viewer_key != f"u:{creator_id}"))
    )
    leaves = joins.select(
        SessionView.session, SessionView.left_at.alias("at"), Value(-1).alias("delta")
    ).where(SessionView.left_at.is_null(False))
    events = joins + leaves
    # A leave sorts before a join at the same instant, so back-to-back views do not overlap.
    present = fn.SUM(events.c.delta).over(
        partition_by=[events.c.session_id],
        order_by=[events.c.at, events.c.delta],
        frame_type=Window.ROWS,
        start=Window.preceding(),
        end=Window.CURRENT_ROW,
    )
    running = events.select_from(events.c.session_id, present.alias("present"))
    rows = running.select_from(running.c.session_id, fn.MAX(running.c.present)).group_by(running.c.session_id)
    return {_as_uuid(session_id): int(peak) for session_id, peak in rows.tuples()}


def _as_uuid(value) -> uuid.UUID:
    # a bare column of a sub-select comes back raw: uuid on PostgreSQL, hex text on SQLite
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _product_stats(session: Session, unique_viewers: int, live: LiveTotals | None) -> dict:
    clicks = ProductClickStat.alias()
    rows = (
        SessionProduct.select(SessionProduct, Product, clicks.total_clicks, clicks.unique_clicks)
        .join(Product)
        .switch(SessionProduct)
        .join(
            clicks,
            JOIN.LEFT_OUTER,
            on=(clicks.session == SessionProduct.session) & (clicks.product == SessionProduct.product),
            attr="clicks",
        )
        .where(SessionProduct.session == session.id)
        .order_by(SessionProduct.display_order, SessionProduct.created_at)
    )
    listed = []
    for link in rows:
        if live is not None:
            total, unique = live.clicks.get(str(link.product_id), (0, 0))
        else:
            stat = getattr(link, "clicks", None)
            total, unique = (stat.total_clicks or 0, stat.unique_clicks or 0) if stat else (0, 0)
        listed.append(
            {
                "productId": str(link.product_id),
                "productName": link.product.name,
                "featured": link.featured,
                "displayOrder": link.display_order,
                "totalClicks": total,
                "uniqueClicks": unique,
                "clickThroughRate": _percent(unique, unique_viewers),
            }
        )
    return {"total": len(listed), "featured": sum(1 for p in listed if p["featured"]), "list": listed}


def _with_sales(products: dict, sales: dict, viewers: dict) -> dict:
    """Each listed product with its `sales` (SPEC §11)."""
    for item in products["list"]:
        item["sales"] = sales_view(sales.get(item["productId"]), viewers["unique"])
    return products


def _view_page(session: Session, until: datetime, limit: int, offset: int, *, open_only: bool = False):
    """A page of the session's views (with username and watch seconds) in joining order, and their number."""
    condition = SessionView.session == session.id
    if open_only:
        condition &= SessionView.left_at.is_null()
    rows = (
        SessionView.select(SessionView, User.username, _watch_seconds(until).alias("watch"))
        .join(User, JOIN.LEFT_OUTER)
        .where(condition)
        .order_by(SessionView.joined_at, SessionView.id)
        .limit(limit)
        .offset(offset)
        .objects()
    )
    return list(rows), SessionView.select().where(condition).count()


def _off_air_reaction_sums(creator_id: int) -> dict[str, int]:
    """Persisted reaction counts summed over the creator's sessions that are not on air."""
    sql = _REACTION_SUMS_SQL["postgresql" if is_postgres() else "sqlite"]
    cursor = database.execute_sql(sql, (creator_id, *SessionStatus.ON_AIR))
    return {kind: int(count) for kind, count in cursor.fetchall()}
