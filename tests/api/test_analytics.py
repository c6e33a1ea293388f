"""SPEC §7: session and creator analytics — permissions, and numbers that add up on a known set of views."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

import pytest

from bazaar.domain.clock import iso, now
from bazaar.domain.models import ProductClickStat, Session, SessionView
from bazaar.infra import db
from bazaar.services.analytics import format_duration
from tests.api.conftest import show_in_status
from tests.conftest import make_product

T0 = datetime(2026, 3, 1, 20, 0, 0)
SESSION_ROUTES = [
    "/api/sessions/{id}/analytics",
    "/api/sessions/{id}/analytics/live",
    "/api/sessions/{id}/analytics/viewers",
]


def add_view(
    show: dict,
    viewer_key: str,
    joined_s: float,
    left_s: float | None,
    *,
    user_id: int | None = None,
    start: datetime = T0,
) -> None:
    """A view of `show` from `start + joined_s` to `start + left_s` (None: still watching)."""
    with db.connection():
        SessionView.create(
            session=show["id"],
            user=user_id,
            viewer_key=viewer_key,
            joined_at=start + timedelta(seconds=joined_s),
            left_at=None if left_s is None else start + timedelta(seconds=left_s),
        )


def update_show(show: dict, **fields) -> None:
    with db.connection():
        Session.update(**fields).where(Session.id == show["id"]).execute()


def record_clicks(show: dict, product: dict, total: int, unique: int) -> None:
    """The click counters persisted for `product` when `show` ended."""
    with db.connection():
        ProductClickStat.create(
            session=show["id"], product=product["id"], total_clicks=total, unique_clicks=unique
        )


@pytest.fixture
def watched_show(api, creator, viewer, moderator) -> dict:
    """An ended show with five views of four viewers (watch times 20, 300, 65, 1970 and 60 s),
    at most three of them at once (40 s – 75 s), two products and five reactions."""
    earbuds = make_product(api, creator, name="Earbuds")
    charger = make_product(api, creator, name="Charger")
    show = show_in_status(api, creator, "ended", productIds=[earbuds["id"], charger["id"]])
    api.patch(f"/api/sessions/{show['id']}/products", json={"productIds": [earbuds["id"]]}, as_=creator)
    record_clicks(show, earbuds, 7, 3)
    update_show(show, reaction_counts={"like": 3, "fire": 2}, unique_clickers=3)
    add_view(show, f"u:{viewer.id}", 0, 20, user_id=viewer.id)
    add_view(show, f"u:{moderator.id}", 10, 75, user_id=moderator.id)
    add_view(show, "c:conn-1", 30, 2000)
    add_view(show, "c:conn-2", 40, 100)
    add_view(show, f"u:{viewer.id}", 100, 400, user_id=viewer.id)
    return show


def report_of(api, show, actor):
    resp = api.get(f"/api/sessions/{show['id']}/analytics", as_=actor)
    assert resp.status == 200, resp
    return resp.json


# permissions --------------------------------------------------------------------


@pytest.mark.parametrize("route", SESSION_ROUTES)
def test_session_analytics_need_a_signed_in_user(api, live_show, route):
    resp = api.get(route.format(id=live_show["id"]))
    assert resp.status == 401
    assert resp.json["success"] is False


@pytest.mark.parametrize("route", SESSION_ROUTES)
@pytest.mark.parametrize("actor", ["viewer", "other_creator"])
def test_session_analytics_are_forbidden_to_others(api, request, live_show, route, actor):
    resp = api.get(route.format(id=live_show["id"]), as_=request.getfixturevalue(actor))
    assert resp.status == 403
    assert resp.json["error"] == "forbidden"


@pytest.mark.parametrize("route", SESSION_ROUTES)
@pytest.mark.parametrize("actor", ["creator", "moderator", "admin"])
def test_session_analytics_are_for_the_owner_moderators_and_admins(api, request, live_show, route, actor):
    resp = api.get(route.format(id=live_show["id"]), as_=request.getfixturevalue(actor))
    assert resp.status == 200
    assert resp.json["sessionId"] == live_show["id"]


@pytest.mark.parametrize("route", SESSION_ROUTES)
@pytest.mark.parametrize("session_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_session_analytics_of_an_unknown_session_are_404(api, admin, route, session_id):
    assert api.get(route.format(id=session_id), as_=admin).status == 404


@pytest.mark.parametrize("route", SESSION_ROUTES[1:])
@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "101"}, {"offset": "-1"}, {"limit": "x"}])
def test_viewer_lists_reject_bad_paging(api, creator, live_show, route, params):
    assert api.get(route.format(id=live_show["id"]), params=params, as_=creator).status == 400


def test_creator_analytics_need_a_signed_in_user(api, creator):
    assert api.get(f"/api/analytics/creator/{creator.id}").status == 401


@pytest.mark.parametrize("actor", ["viewer", "other_creator", "moderator"])
def test_creator_analytics_are_forbidden_to_others(api, request, creator, actor):
    resp = api.get(f"/api/analytics/creator/{creator.id}", as_=request.getfixturevalue(actor))
    assert resp.status == 403


@pytest.mark.parametrize("actor", ["creator", "admin"])
def test_creator_analytics_are_for_the_creator_and_admins(api, request, creator, actor):
    resp = api.get(f"/api/analytics/creator/{creator.id}", as_=request.getfixturevalue(actor))
    assert resp.status == 200
    assert (resp.json["success"], resp.json["creatorId"]) == (True, creator.id)


def test_creator_analytics_of_an_unknown_user_are_404(api, admin):
    assert api.get("/api/analytics/creator/999999", as_=admin).status == 404
    assert api.get("/api/analytics/creator/abc", as_=admin).status == 404


# session analytics: the numbers -------------------------------------------------


def test_session_analytics_describe_the_session(api, creator, watched_show):
    session = report_of(api, watched_show, creator)["session"]
    assert session["status"] == "ended"
    assert session["title"] == "Friday Night Gadgets"
    assert session["creator"] == {"id": creator.id, "username": creator.username}


def test_viewers_count_people_and_views(api, creator, watched_show):
    viewers = report_of(api, watched_show, creator)["viewers"]
    assert (viewers["unique"], viewers["total"]) == (4, 5)


def test_the_creator_is_not_a_unique_viewer_of_their_own_show(api, creator, watched_show):
    add_view(watched_show, f"u:{creator.id}", 0, 10, user_id=creator.id)
    assert report_of(api, watched_show, creator)["viewers"]["unique"] == 4


def test_average_watch_time_is_in_whole_seconds(api, creator, watched_show):
    viewers = report_of(api, watched_show, creator)["viewers"]
    assert viewers["avgWatchTime"] == 483  # (20 + 65 + 1970 + 60 + 300) / 5
    assert viewers["avgWatchTimeFormatted"] == "8m 3s"


def test_peak_without_tracking_is_the_most_overlapping_views(api, creator, watched_show):
    assert report_of(api, watched_show, creator)["viewers"]["peak"] == 3


def test_peak_is_the_tracked_peak_when_there_is_one(api, creator, watched_show):
    update_show(watched_show, peak_viewers=7)
    assert report_of(api, watched_show, creator)["viewers"]["peak"] == 7


def test_retention_ranges_bucket_every_view(api, creator, watched_show):
    retention = report_of(api, watched_show, creator)["engagement"]["retention"]
    assert retention["ranges"] == [
        {"label": "0-30s", "count": 1},
        {"label": "30s-1m", "count": 0},
        {"label": "1m-5m", "count": 2},
        {"label": "5m-15m", "count": 1},
        {"label": "15m-30m", "count": 0},
        {"label": "30m+", "count": 1},
    ]


def test_retention_percentiles_of_watch_time(api, creator, watched_show):
    retention = report_of(api, watched_show, creator)["engagement"]["retention"]
    # sorted watch times: 20, 60, 65, 300, 1970
    assert (retention["median"], retention["medianFormatted"]) == (65, "1m 5s")
    assert (retention["p75"], retention["p75Formatted"]) == (300, "5m 0s")
    assert (retention["p90"], retention["p90Formatted"]) == (1302, "21m 42s")  # 300 + 0.6 × (1970 − 300)


def test_median_of_an_even_number_of_views_lies_between_the_middle_two(api, creator, ended_show):
    for joined, left in ((0, 10), (0, 20), (0, 40), (0, 50)):
        add_view(ended_show, f"c:{joined}-{left}", joined, left)
    assert report_of(api, ended_show, creator)["engagement"]["retention"]["median"] == 30


def test_viewer_timeline_counts_joins_and_leaves_per_minute(api, creator, watched_show):
    timeline = report_of(api, watched_show, creator)["engagement"]["viewerTimeline"]
    assert timeline == [
        {"timestamp": iso(T0), "joins": 4, "leaves": 1},
        {"timestamp": iso(T0 + timedelta(minutes=1)), "joins": 1, "leaves": 2},
        {"timestamp": iso(T0 + timedelta(minutes=6)), "joins": 0, "leaves": 1},
        {"timestamp": iso(T0 + timedelta(minutes=33)), "joins": 0, "leaves": 1},
    ]


def test_products_carry_their_clicks_and_click_through_rate(api, creator, watched_show):
    products = report_of(api, watched_show, creator)["products"]
    assert (products["total"], products["featured"]) == (2, 1)
    earbuds, charger = products["list"]
    assert (earbuds["productName"], earbuds["totalClicks"], earbuds["uniqueClicks"]) == ("Earbuds", 7, 3)
    assert earbuds["clickThroughRate"] == 75.0  # 3 of 4 unique viewers
    assert (charger["totalClicks"], charger["uniqueClicks"], charger["clickThroughRate"]) == (0, 0, 0.0)


def test_reactions_are_the_persisted_counts(api, creator, watched_show):
    reactions = report_of(api, watched_show, creator)["reactions"]
    assert reactions["total"] == 5
    assert reactions["breakdown"] == {"like": 3, "love": 0, "fire": 2, "clap": 0, "heart": 0, "wow": 0}


def test_a_show_nobody_watched_reports_zeros(api, creator, scheduled_show):
    report = report_of(api, scheduled_show, creator)
    assert report["viewers"] == {
        "unique": 0,
        "total": 0,
        "peak": 0,
        "avgWatchTime": 0,
        "avgWatchTimeFormatted": "0s",
    }
    assert report["engagement"]["viewerTimeline"] == []
    assert report["engagement"]["retention"]["median"] == 0
    assert report["products"] == {"total": 0, "featured": 0, "list": []}


def test_open_views_count_up_to_now_while_live(api, creator, viewer, live_show):
    add_view(live_show, f"u:{viewer.id}", -120, None, user_id=viewer.id, start=now())
    avg = report_of(api, live_show, creator)["viewers"]["avgWatchTime"]
    assert 120 <= avg <= 122


def test_while_live_peak_reactions_and_clicks_are_the_live_counts(api, services, creator, viewer):
    product = make_product(api, creator)
    show = show_in_status(api, creator, "live", productIds=[product["id"]])
    live = services.live_state
    for key in ("u:101", "u:102", "c:conn"):
        live.join(show["id"], key)
    live.leave(show["id"], "c:conn")
    live.add_reaction(show["id"], "fire")
    live.record_click(show["id"], product["id"], "u:101")
    live.record_click(show["id"], product["id"], "u:101")
    report = report_of(api, show, creator)
    assert report["viewers"]["peak"] == 3
    assert report["reactions"]["breakdown"]["fire"] == 1
    clicked = report["products"]["list"][0]
    assert (clicked["totalClicks"], clicked["uniqueClicks"]) == (2, 1)


# live viewers and the viewer list --------------------------------------------------


def test_live_viewer_count_is_the_number_of_viewers_present(api, services, creator, live_show):
    for key in ("u:101", "c:conn", "u:101"):  # the same user in two tabs counts once
        services.live_state.join(live_show["id"], key)
    resp = api.get(f"/api/sessions/{live_show['id']}/analytics/live", as_=creator)
    assert resp.json["liveViewerCount"] == 2


def test_live_analytics_list_the_open_views_with_their_watch_time_so_far(api, creator, viewer, live_show):
    started = now()
    add_view(live_show, f"u:{viewer.id}", -90, None, user_id=viewer.id, start=started)
    add_view(live_show, "c:conn-1", -30, None, start=started)
    add_view(live_show, "c:conn-2", -300, -200, start=started)
    resp = api.get(f"/api/sessions/{live_show['id']}/analytics/live", as_=creator)
    assert resp.status == 200
    first, second = resp.json["viewers"]
    assert (first["userId"], first["username"]) == (viewer.id, viewer.username)
    assert 90 <= first["watchDuration"] <= 92
    assert (second["userId"], second["username"]) == (None, None)
    assert 30 <= second["watchDuration"] <= 32


def test_viewer_list_has_every_view_open_or_closed(api, creator, viewer, live_show):
    add_view(live_show, f"u:{viewer.id}", 0, 185, user_id=viewer.id)
    add_view(live_show, "c:conn-1", 60, None)
    resp = api.get(f"/api/sessions/{live_show['id']}/analytics/viewers", as_=creator)
    assert resp.status == 200
    assert resp.json["total"] == 2
    closed, still_open = resp.json["viewers"]
    assert closed == {
        "id": closed["id"],
        "userId": viewer.id,
        "username": viewer.username,
        "joinedAt": iso(T0),
        "leftAt": iso(T0 + timedelta(seconds=185)),
        "watchDuration": 185,
        "watchDurationFormatted": "3m 5s",
        "isActive": False,
    }
    assert (still_open["isActive"], still_open["leftAt"]) == (True, None)


def test_viewer_list_pages_in_joining_order(api, creator, live_show):
    for second in range(5):
        add_view(live_show, f"c:{second}", second, second + 1)
    resp = api.get(
        f"/api/sessions/{live_show['id']}/analytics/viewers",
        params={"limit": "2", "offset": "2"},
        as_=creator,
    )
    assert resp.json["total"] == 5
    assert [v["joinedAt"] for v in resp.json["viewers"]] == [iso(T0 + timedelta(seconds=s)) for s in (2, 3)]


# creator analytics ------------------------------------------------------------------


@pytest.fixture
def creator_shows(api, creator, other_creator, viewer, watched_show) -> None:
    """`watched_show`, a second ended show (2 viewers, peak 2), a scheduled one; another creator's show."""
    lamp = make_product(api, creator, name="Lamp")
    second = show_in_status(api, creator, "ended", productIds=[lamp["id"]])
    update_show(second, peak_viewers=2, unique_clickers=1, reaction_counts={"like": 1, "wow": 4})
    add_view(second, f"u:{viewer.id}", 0, 50, user_id=viewer.id)
    add_view(second, "c:conn-3", 0, 30)
    record_clicks(second, lamp, 2, 1)
    show_in_status(api, creator, "scheduled")
    elsewhere = show_in_status(api, other_creator, "ended")
    update_show(elsewhere, peak_viewers=50, reaction_counts={"like": 100})
    add_view(elsewhere, "c:someone-else", 0, 10)


def creator_report(api, creator, actor=None):
    resp = api.get(f"/api/analytics/creator/{creator.id}", as_=actor or creator)
    assert resp.status == 200, resp
    return resp.json["data"]


def test_creator_sessions_are_counted_by_status(api, creator, creator_shows):
    sessions = creator_report(api, creator)["sessions"]
    assert sessions == {"total": 3, "byStatus": {"live": 0, "ended": 2, "scheduled": 1, "paused": 0}}


def test_creator_viewers_add_up_over_their_shows(api, creator, creator_shows):
    viewers = creator_report(api, creator)["viewers"]
    assert viewers["totalUnique"] == 5  # the viewer and the moderator, three anonymous connections
    assert viewers["averagePerSession"] == 3.0  # (4 + 2) viewers over the 2 shows that went on air
    assert viewers["peakConcurrent"] == 3


def test_creator_reactions_sum_every_show(api, creator, creator_shows):
    reactions = creator_report(api, creator)["reactions"]
    assert reactions["total"] == 10
    assert reactions["breakdown"] == {"like": 4, "love": 0, "fire": 2, "clap": 0, "heart": 0, "wow": 4}


def test_creator_product_clicks_add_up(api, creator, creator_shows):
    products = creator_report(api, creator)["products"]
    assert products == {"totalClicks": 9, "uniqueUsers": 4, "averageCTR": 66.67}  # 4 clickers / 6 viewers


def test_creator_totals_include_the_live_counts_of_a_show_on_air(api, services, creator, creator_shows):
    show = show_in_status(api, creator, "live")
    services.live_state.join(show["id"], "c:crowd")
    services.live_state.add_reaction(show["id"], "clap")
    report = creator_report(api, creator)
    assert report["sessions"]["byStatus"]["live"] == 1
    assert report["reactions"]["total"] == 11
    assert report["reactions"]["breakdown"]["clap"] == 1


def test_admin_sees_the_same_creator_numbers(api, creator, admin, creator_shows):
    assert creator_report(api, creator, admin) == creator_report(api, creator)


def test_creator_without_shows_gets_zeros(api, creator):
    report = creator_report(api, creator)
    assert report["sessions"]["total"] == 0
    assert report["viewers"] == {"totalUnique": 0, "averagePerSession": 0.0, "peakConcurrent": 0}
    assert report["products"] == {"totalClicks": 0, "uniqueUsers": 0, "averageCTR": 0.0}


def count_queries(caplog, request) -> int:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        resp = request()
    assert resp.status == 200, resp
    return sum(1 for record in caplog.records if record.name == "peewee")


def test_creator_analytics_run_the_same_queries_for_one_show_or_five(api, caplog, creator, viewer):
    def show_with_views():
        product = make_product(api, creator)
        show = show_in_status(api, creator, "ended", productIds=[product["id"]])
        add_view(show, f"u:{viewer.id}", 0, 30, user_id=viewer.id)
        add_view(show, "c:conn", 10, 20)
        record_clicks(show, product, 3, 1)

    show_with_views()
    one = count_queries(caplog, lambda: api.get(f"/api/analytics/creator/{creator.id}", as_=creator))
    for _ in range(4):
        show_with_views()
    five = count_queries(caplog, lambda: api.get(f"/api/analytics/creator/{creator.id}", as_=creator))
    assert creator_report(api, creator)["sessions"]["total"] == 5
    assert 0 < one == five


# formatting -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "0s"),
        (45, "45s"),
        (60, "1m 0s"),
        (185, "3m 5s"),
        (3599, "59m 59s"),
        (3720, "1h 2m"),
        (90000, "25h 0m"),
    ],
)
def test_durations_are_formatted_like_the_front_end_shows_them(seconds, text):
    assert format_duration(seconds) == text
