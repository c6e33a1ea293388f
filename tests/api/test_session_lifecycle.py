"""The status machine and its effects, and the live counters read over REST (reactions, conversion stats).

Going live and ending have one set of effects whichever route asks for them: each effect is
checked through start-stream and PATCH …/status live, and through end-stream and PATCH …/status ended.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest

from bazaar.domain.clock import now, parse_iso
from bazaar.domain.models import ProductClickStat, Session, SessionView
from bazaar.infra import db
from tests.conftest import make_product
from tests.support.shows import end, make_show, session_outbox_rows, set_status, start


@pytest.fixture
def show(api, creator, speaker, earbuds):
    return make_show(api, creator, productIds=[speaker["id"], earbuds["id"]])


@pytest.fixture
def live_state(services):
    return services.live_state


def status_url(show: dict) -> str:
    return f"/api/sessions/{show['id']}/status"


def reach(api, owner, show: dict, status: str) -> None:
    """Move a scheduled show to `status` the ordinary way."""
    if status == "scheduled":
        return
    if status == "ended":
        set_status(api, owner, show, "ended")
        return
    start(api, owner, show)
    if status == "paused":
        set_status(api, owner, show, "paused")


def viewer_joins(
    live_state, show: dict, key: str, *, user_id: int | None = None, seconds_ago: int = 0
) -> None:
    """What the real-time layer does when a viewer enters the room: count them and open a view record."""
    live_state.join(show["id"], key)
    with db.connection():
        SessionView.create(
            session=show["id"], user=user_id, viewer_key=key, joined_at=now() - timedelta(seconds=seconds_ago)
        )


def stored(show: dict) -> Session:
    with db.connection():
        return Session.get_by_id(uuid.UUID(show["id"]))


def go_live_by_start_stream(api, owner, show):
    return api.post(f"/api/sessions/{show['id']}/start-stream", as_=owner)


def go_live_by_status(api, owner, show):
    return api.patch(status_url(show), json={"status": "live"}, as_=owner)


def end_by_end_stream(api, owner, show):
    return api.post(f"/api/sessions/{show['id']}/end-stream", as_=owner)


def end_by_status(api, owner, show):
    return api.patch(status_url(show), json={"status": "ended"}, as_=owner)


GO_LIVE = [
    pytest.param(go_live_by_start_stream, id="start-stream"),
    pytest.param(go_live_by_status, id="PATCH-live"),
]
END = [pytest.param(end_by_end_stream, id="end-stream"), pytest.param(end_by_status, id="PATCH-ended")]


# the status machine -------------------------------------------------------------------------------

LEGAL_MOVES = [
    ("scheduled", "live"),
    ("scheduled", "ended"),
    ("live", "paused"),
    ("live", "ended"),
    ("paused", "live"),
    ("paused", "ended"),
]
ILLEGAL_MOVES = [
    ("scheduled", "scheduled"),
    ("scheduled", "paused"),
    ("live", "live"),
    ("live", "scheduled"),
    ("paused", "paused"),
    ("paused", "scheduled"),
    ("ended", "scheduled"),
    ("ended", "live"),
    ("ended", "paused"),
    ("ended", "ended"),
]


@pytest.mark.parametrize("current, target", LEGAL_MOVES)
def test_legal_status_moves_succeed(api, creator, show, current, target):
    reach(api, creator, show, current)
    resp = api.patch(status_url(show), json={"status": target}, as_=creator)
    assert resp.status == 200
    assert resp.data["status"] == target
    assert api.get(f"/api/sessions/{show['id']}").data["status"] == target


@pytest.mark.parametrize("current, target", ILLEGAL_MOVES)
def test_illegal_status_moves_are_409_with_the_current_status(api, creator, show, current, target):
    reach(api, creator, show, current)
    resp = api.patch(status_url(show), json={"status": target}, as_=creator)
    assert resp.status == 409
    assert resp.json["currentStatus"] == current
    assert resp.json["error"] == "invalid_status_transition"
    assert api.get(f"/api/sessions/{show['id']}").data["status"] == current


@pytest.mark.parametrize(
    "body", [{}, {"status": "cancelled"}, {"status": None}, {"status": "live", "extra": 1}]
)
def test_invalid_status_bodies_are_400(api, creator, show, body):
    assert api.patch(status_url(show), json=body, as_=creator).status == 400


def test_other_creator_cannot_change_the_status(api, other_creator, show):
    assert api.patch(status_url(show), json={"status": "live"}, as_=other_creator).status == 403


def test_viewer_cannot_change_the_status(api, viewer, show):
    assert api.patch(status_url(show), json={"status": "live"}, as_=viewer).status == 403


def test_anonymous_cannot_change_the_status(api, show):
    assert api.patch(status_url(show), json={"status": "live"}).status == 401


def test_admin_can_change_the_status(api, admin, show):
    assert api.patch(status_url(show), json={"status": "ended"}, as_=admin).status == 200


def test_status_of_an_unknown_session_is_404(api, creator):
    assert (
        api.patch(f"/api/sessions/{uuid.uuid4()}/status", json={"status": "live"}, as_=creator).status == 404
    )


# start-stream and end-stream: their own errors ----------------------------------------------------


@pytest.mark.parametrize("current", ["live", "ended"])
def test_start_stream_when_live_or_ended_is_409(api, creator, show, current):
    reach(api, creator, show, current)
    resp = go_live_by_start_stream(api, creator, show)
    assert resp.status == 409
    assert resp.json["currentStatus"] == current


@pytest.mark.parametrize("current", ["scheduled", "ended"])
def test_end_stream_when_not_on_air_is_409(api, creator, show, current):
    reach(api, creator, show, current)
    resp = end_by_end_stream(api, creator, show)
    assert resp.status == 409
    assert resp.json["currentStatus"] == current


def test_end_stream_answers_with_a_message(api, creator, show):
    start(api, creator, show)
    resp = end_by_end_stream(api, creator, show)
    assert resp.status == 200
    assert resp.json == {"success": True, "message": "Stream ended successfully"}


STREAM_MOVES = pytest.mark.parametrize(
    "path, status", [("start-stream", "scheduled"), ("end-stream", "live")]
)


@STREAM_MOVES
def test_other_creator_cannot_start_or_end_the_stream(api, creator, other_creator, show, path, status):
    reach(api, creator, show, status)
    assert api.post(f"/api/sessions/{show['id']}/{path}", as_=other_creator).status == 403
    assert api.get(f"/api/sessions/{show['id']}").data["status"] == status


@STREAM_MOVES
def test_viewer_cannot_start_or_end_the_stream(api, creator, viewer, show, path, status):
    reach(api, creator, show, status)
    assert api.post(f"/api/sessions/{show['id']}/{path}", as_=viewer).status == 403


@STREAM_MOVES
def test_anonymous_cannot_start_or_end_the_stream(api, creator, show, path, status):
    reach(api, creator, show, status)
    assert api.post(f"/api/sessions/{show['id']}/{path}").status == 401


def test_admin_can_start_and_end_any_stream(api, admin, show):
    assert go_live_by_start_stream(api, admin, show).status == 200
    assert end_by_end_stream(api, admin, show).status == 200


@pytest.mark.parametrize("path", ["start-stream", "end-stream"])
def test_start_or_end_of_an_unknown_session_is_404(api, creator, path):
    assert api.post(f"/api/sessions/{uuid.uuid4()}/{path}", as_=creator).status == 404


# going live: the same effects both ways -----------------------------------------------------------


@pytest.mark.parametrize("go_live", GO_LIVE)
def test_going_live_sets_started_at_and_the_agora_channel(api, creator, show, go_live):
    before = now()
    assert go_live(api, creator, show).status == 200
    session = api.get(f"/api/sessions/{show['id']}").data
    assert session["status"] == "live"
    assert before - timedelta(milliseconds=1) <= parse_iso(session["startedAt"]) <= now()
    assert session["agoraChannelName"] == show["id"]
    assert session["endedAt"] is None


@pytest.mark.parametrize("go_live", GO_LIVE)
def test_going_live_broadcasts_stream_started(api, creator, show, go_live, room_events):
    room = room_events(show["id"])
    go_live(api, creator, show)
    started_at = api.get(f"/api/sessions/{show['id']}").data["startedAt"]
    assert room.wait_for("stream-started") == {
        "sessionId": show["id"],
        "channelName": show["id"],
        "status": "live",
        "startedAt": started_at,
    }


@pytest.mark.parametrize("go_live", GO_LIVE)
def test_going_live_records_the_session_for_search(api, creator, show, go_live):
    go_live(api, creator, show)
    assert session_outbox_rows(show["id"]) == 2


@pytest.mark.parametrize("go_live", GO_LIVE)
def test_going_live_shows_a_live_viewer_count(api, creator, show, go_live, live_state):
    go_live(api, creator, show)
    viewer_joins(live_state, show, "c:one")
    assert api.get(f"/api/sessions/{show['id']}").data["viewerCount"] == 1


def test_start_stream_and_patch_live_have_identical_effects(api, creator, room_events):
    def effects(go_live) -> dict:
        show = make_show(api, creator)
        room = room_events(show["id"])
        go_live(api, creator, show)
        session = api.get(f"/api/sessions/{show['id']}", as_=creator).data
        event = room.wait_for("stream-started")
        return {
            "status": session["status"],
            "channelIsId": session["agoraChannelName"] == show["id"],
            "started": session["startedAt"] is not None,
            "ended": session["endedAt"],
            "eventKeys": sorted(event),
            "outboxRows": session_outbox_rows(show["id"]),
            "eventStartedAtMatches": event["startedAt"] == session["startedAt"],
        }

    assert effects(go_live_by_start_stream) == effects(go_live_by_status)


# pause and resume ---------------------------------------------------------------------------------


def test_pausing_broadcasts_session_status(api, creator, show, room_events):
    start(api, creator, show)
    room = room_events(show["id"])
    set_status(api, creator, show, "paused")
    assert room.wait_for("session-status") == {"sessionId": show["id"], "status": "paused"}


@pytest.mark.parametrize("go_live", GO_LIVE)
def test_resuming_broadcasts_session_status_and_keeps_started_at(api, creator, show, go_live, room_events):
    start(api, creator, show)
    started_at = api.get(f"/api/sessions/{show['id']}").data["startedAt"]
    set_status(api, creator, show, "paused")
    room = room_events(show["id"])
    assert go_live(api, creator, show).status == 200
    assert room.wait_for("session-status") == {"sessionId": show["id"], "status": "live"}
    room.assert_none("stream-started", settle_s=0.1)
    assert api.get(f"/api/sessions/{show['id']}").data["startedAt"] == started_at


@pytest.mark.parametrize("go_live", GO_LIVE)
def test_resuming_restores_checkpointed_counters_the_live_state_lost(
    api, services, creator, show, go_live, live_state
):
    start(api, creator, show)
    for kind in ("fire", "fire", "like"):
        live_state.add_reaction(show["id"], kind)
    services.sessions.checkpoint(show["id"])
    set_status(api, creator, show, "paused")
    live_state.drain(show["id"])  # as if Redis had restarted
    go_live(api, creator, show)
    assert api.get(f"/api/sessions/{show['id']}/reactions").data["reactions"] == {"fire": 2, "like": 1}


def test_cancelling_a_scheduled_session_ends_it_without_a_start(api, creator, show, room_events):
    room = room_events(show["id"])
    session = set_status(api, creator, show, "ended")
    assert session["startedAt"] is None
    assert session["endedAt"] is not None
    assert room.wait_for("stream-ended") == {
        "sessionId": show["id"],
        "status": "ended",
        "endedAt": session["endedAt"],
    }


# ending: the same effects both ways ---------------------------------------------------------------


@pytest.mark.parametrize("end_stream", END)
def test_ending_sets_ended_at(api, creator, show, end_stream):
    start(api, creator, show)
    before = now()
    assert end_stream(api, creator, show).status == 200
    session = api.get(f"/api/sessions/{show['id']}").data
    assert session["status"] == "ended"
    assert before - timedelta(milliseconds=1) <= parse_iso(session["endedAt"]) <= now()
    assert "viewerCount" not in session


@pytest.mark.parametrize("end_stream", END)
def test_ending_broadcasts_stream_ended(api, creator, show, end_stream, room_events):
    start(api, creator, show)
    room = room_events(show["id"])
    end_stream(api, creator, show)
    ended_at = api.get(f"/api/sessions/{show['id']}").data["endedAt"]
    assert room.wait_for("stream-ended") == {"sessionId": show["id"], "status": "ended", "endedAt": ended_at}


@pytest.mark.parametrize("end_stream", END)
def test_ending_persists_the_reaction_counts(api, creator, show, end_stream, live_state):
    start(api, creator, show)
    for kind in ("fire", "like", "fire"):
        live_state.add_reaction(show["id"], kind)
    end_stream(api, creator, show)
    assert api.get(f"/api/sessions/{show['id']}").data["reactionCounts"] == {"fire": 2, "like": 1}
    assert live_state.reaction_counts(show["id"]) == {}


@pytest.mark.parametrize("end_stream", END)
def test_ending_persists_product_clicks_and_unique_clickers(
    api, creator, show, earbuds, speaker, end_stream, live_state
):
    start(api, creator, show)
    live_state.record_click(show["id"], earbuds["id"], "u:7")
    live_state.record_click(show["id"], earbuds["id"], "u:7")
    live_state.record_click(show["id"], earbuds["id"], "c:abc")
    live_state.record_click(show["id"], speaker["id"], "u:7")
    end_stream(api, creator, show)
    with db.connection():
        clicks = {
            str(row.product_id): (row.total_clicks, row.unique_clicks)
            for row in ProductClickStat.select().where(ProductClickStat.session == show["id"])
        }
    assert clicks == {earbuds["id"]: (3, 2), speaker["id"]: (1, 1)}
    assert stored(show).unique_clickers == 2


@pytest.mark.parametrize("end_stream", END)
def test_ending_persists_the_peak_viewer_count(api, creator, show, end_stream, live_state):
    start(api, creator, show)
    for key in ("u:1", "u:2", "c:x"):
        viewer_joins(live_state, show, key)
    live_state.leave(show["id"], "u:1")
    live_state.leave(show["id"], "u:2")
    end_stream(api, creator, show)
    assert stored(show).peak_viewers == 3


@pytest.mark.parametrize("end_stream", END)
def test_ending_closes_open_view_records_with_their_watch_time(
    api, creator, viewer, show, end_stream, live_state
):
    start(api, creator, show)
    viewer_joins(live_state, show, f"u:{viewer.id}", user_id=viewer.id, seconds_ago=90)
    viewer_joins(live_state, show, "c:left-early", seconds_ago=50)
    with db.connection():
        SessionView.update(left_at=now() - timedelta(seconds=40), watch_seconds=10).where(
            SessionView.viewer_key == "c:left-early"
        ).execute()
    end_stream(api, creator, show)
    ended_at = api.get(f"/api/sessions/{show['id']}").data["endedAt"]
    with db.connection():
        views = {v.viewer_key: v for v in SessionView.select().where(SessionView.session == show["id"])}
    assert views[f"u:{viewer.id}"].watch_seconds == 90
    assert parse_iso(ended_at) - views[f"u:{viewer.id}"].left_at < timedelta(milliseconds=1)
    assert views["c:left-early"].watch_seconds == 10


@pytest.mark.parametrize("end_stream", END)
def test_ending_records_the_session_for_search(api, creator, show, end_stream):
    start(api, creator, show)
    end_stream(api, creator, show)
    assert session_outbox_rows(show["id"]) == 3


def test_end_stream_and_patch_ended_have_identical_effects(api, creator, earbuds, live_state, room_events):
    def effects(end_stream) -> dict:
        show = make_show(api, creator, productIds=[earbuds["id"]])
        start(api, creator, show)
        for key in ("u:1", "c:2", "c:3"):
            viewer_joins(live_state, show, key, seconds_ago=30)
        live_state.add_reaction(show["id"], "clap")
        live_state.record_click(show["id"], earbuds["id"], "u:1")
        room = room_events(show["id"])
        end_stream(api, creator, show)
        session = api.get(f"/api/sessions/{show['id']}").data
        with db.connection():
            open_views = (
                SessionView.select()
                .where((SessionView.session == show["id"]) & SessionView.left_at.is_null())
                .count()
            )
        row = stored(show)
        return {
            "status": session["status"],
            "reactions": session["reactionCounts"],
            "stats": api.get(f"/api/sessions/{show['id']}/conversion-stats").json["data"],
            "peak": row.peak_viewers,
            "uniqueClickers": row.unique_clickers,
            "openViews": open_views,
            "event": sorted(room.wait_for("stream-ended")),
            "outboxRows": session_outbox_rows(show["id"]),
            "liveReactions": live_state.reaction_counts(show["id"]),
        }

    assert effects(end_by_end_stream) == effects(end_by_status)


# checkpoints --------------------------------------------------------------------------------------


def test_checkpoint_persists_live_counters_and_keeps_them_live(
    api, services, creator, show, earbuds, live_state
):
    start(api, creator, show)
    viewer_joins(live_state, show, "u:1")
    viewer_joins(live_state, show, "u:2")
    live_state.add_reaction(show["id"], "wow")
    live_state.record_click(show["id"], earbuds["id"], "u:1")
    services.sessions.checkpoint(show["id"])
    row = stored(show)
    assert (row.reaction_counts, row.peak_viewers, row.unique_clickers) == ({"wow": 1}, 2, 1)
    assert live_state.reaction_counts(show["id"]) == {"wow": 1}
    assert live_state.viewer_count(show["id"]) == 2


def test_checkpoint_after_the_live_state_lost_its_counters_keeps_what_was_persisted(
    api, services, creator, show, live_state
):
    start(api, creator, show)
    live_state.add_reaction(show["id"], "wow")
    services.sessions.checkpoint(show["id"])
    live_state.drain(show["id"])  # as if Redis had restarted empty
    live_state.add_reaction(show["id"], "wow")
    services.sessions.checkpoint(show["id"])
    assert stored(show).reaction_counts == {"wow": 2}
    assert api.get(f"/api/sessions/{show['id']}/reactions").data["reactions"] == {"wow": 2}


def test_checkpoint_after_the_end_leaves_the_final_totals(api, services, creator, show, live_state):
    start(api, creator, show)
    live_state.add_reaction(show["id"], "love")
    end(api, creator, show)
    live_state.add_reaction(show["id"], "fire")  # a straggler after the end
    services.sessions.checkpoint(show["id"])
    assert stored(show).reaction_counts == {"love": 1}


# reactions ----------------------------------------------------------------------------------------


def test_reactions_of_a_live_session_are_the_live_counts(api, creator, show, live_state):
    start(api, creator, show)
    for kind in ("like", "fire", "fire", "clap", "fire", "like"):
        live_state.add_reaction(show["id"], kind)
    resp = api.get(f"/api/sessions/{show['id']}/reactions")
    assert resp.status == 200
    assert resp.data == {
        "sessionId": show["id"],
        "sessionStatus": "live",
        "isLive": True,
        "reactions": {"like": 2, "fire": 3, "clap": 1},
        "sortedReactions": [
            {"type": "fire", "count": 3},
            {"type": "like", "count": 2},
            {"type": "clap", "count": 1},
        ],
        "total": 6,
    }


def test_a_live_session_shows_live_reaction_counts(api, creator, show, live_state):
    start(api, creator, show)
    live_state.add_reaction(show["id"], "heart")
    assert api.get(f"/api/sessions/{show['id']}").data["reactionCounts"] == {"heart": 1}


def test_reactions_while_paused_are_live_but_not_is_live(api, creator, show, live_state):
    start(api, creator, show)
    live_state.add_reaction(show["id"], "wow")
    set_status(api, creator, show, "paused")
    data = api.get(f"/api/sessions/{show['id']}/reactions").data
    assert (data["isLive"], data["sessionStatus"], data["reactions"]) == (False, "paused", {"wow": 1})


def test_reactions_after_the_end_are_the_persisted_counts(api, creator, show, live_state):
    start(api, creator, show)
    live_state.add_reaction(show["id"], "love")
    end(api, creator, show)
    live_state.add_reaction(show["id"], "fire")  # after the end: not counted
    data = api.get(f"/api/sessions/{show['id']}/reactions").data
    assert (data["isLive"], data["reactions"], data["total"]) == (False, {"love": 1}, 1)


def test_reactions_of_a_scheduled_session_are_empty(api, show):
    data = api.get(f"/api/sessions/{show['id']}/reactions").data
    assert (data["reactions"], data["sortedReactions"], data["total"]) == ({}, [], 0)


def test_reactions_of_an_unknown_session_are_404(api):
    assert api.get(f"/api/sessions/{uuid.uuid4()}/reactions").status == 404


# conversion stats ---------------------------------------------------------------------------------


def test_conversion_stats_while_live_count_clicks_against_unique_viewers(
    api, creator, show, speaker, earbuds, live_state
):
    start(api, creator, show)
    for key in ("u:1", "u:2", "c:3", "c:4"):
        viewer_joins(live_state, show, key)
    for clicker in ("u:1", "u:1", "c:3"):
        live_state.record_click(show["id"], earbuds["id"], clicker)
    resp = api.get(f"/api/sessions/{show['id']}/conversion-stats")
    assert resp.status == 200
    assert resp.json == {
        "success": True,
        "sessionId": show["id"],
        "sessionStatus": "live",
        "data": {
            "totalViewers": 4,
            "products": [
                {
                    "productId": speaker["id"],
                    "productName": "Bluetooth Speaker",
                    "uniqueClicks": 0,
                    "totalClicks": 0,
                    "clickThroughRate": 0.0,
                },
                {
                    "productId": earbuds["id"],
                    "productName": "Wireless Earbuds",
                    "uniqueClicks": 2,
                    "totalClicks": 3,
                    "clickThroughRate": 50.0,
                },
            ],
        },
    }


def test_click_through_rate_has_two_decimals(api, creator, show, earbuds, live_state):
    start(api, creator, show)
    for key in ("u:1", "u:2", "u:3"):
        viewer_joins(live_state, show, key)
    live_state.record_click(show["id"], earbuds["id"], "u:2")
    products = api.get(f"/api/sessions/{show['id']}/conversion-stats").json["data"]["products"]
    assert products[1]["clickThroughRate"] == 33.33


def test_conversion_stats_after_the_end_are_the_persisted_numbers(
    api, creator, viewer, show, earbuds, live_state
):
    start(api, creator, show)
    viewer_joins(live_state, show, f"u:{viewer.id}", user_id=viewer.id)
    viewer_joins(live_state, show, "c:anon")
    live_state.record_click(show["id"], earbuds["id"], f"u:{viewer.id}")
    live = api.get(f"/api/sessions/{show['id']}/conversion-stats").json["data"]
    end(api, creator, show)
    resp = api.get(f"/api/sessions/{show['id']}/conversion-stats")
    assert resp.json["sessionStatus"] == "ended"
    assert resp.json["data"] == live
    assert live["products"][1]["clickThroughRate"] == 50.0


def test_conversion_stats_without_viewers_have_a_zero_rate(api, show):
    data = api.get(f"/api/sessions/{show['id']}/conversion-stats").json["data"]
    assert data["totalViewers"] == 0
    assert {p["clickThroughRate"] for p in data["products"]} == {0.0}


def test_conversion_stats_of_an_unknown_session_are_404(api):
    assert api.get(f"/api/sessions/{uuid.uuid4()}/conversion-stats").status == 404


# no N+1 -------------------------------------------------------------------------------------------


@contextmanager
def counted_queries():
    """The SQL statements run inside the block (peewee logs each one at DEBUG)."""
    statements: list = []

    class Recorder(logging.Handler):
        def emit(self, record):
            if record.name == "peewee":  # not peewee.pool's connection bookkeeping
                statements.append(record.msg)

    logger, recorder = logging.getLogger("peewee"), Recorder(logging.DEBUG)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(recorder)
    try:
        yield statements
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(level)


def test_listing_sessions_costs_the_same_queries_for_one_or_many(api, creator, earbuds, speaker):
    make_show(api, creator, productIds=[earbuds["id"]])
    with counted_queries() as one:
        api.get("/api/sessions", as_=creator)
    for _ in range(4):
        make_show(api, creator, productIds=[earbuds["id"], speaker["id"]])
    with counted_queries() as five:
        resp = api.get("/api/sessions", as_=creator)
    assert resp.json["count"] == 5
    assert len(five) == len(one)


def test_reading_a_session_costs_the_same_queries_however_many_products(api, creator, earbuds, speaker):
    few = make_show(api, creator, productIds=[earbuds["id"]])
    many = make_show(
        api, creator, productIds=[make_product(api, creator, name=f"P{n}")["id"] for n in range(6)]
    )
    with counted_queries() as one:
        api.get(f"/api/sessions/{few['id']}")
    with counted_queries() as six:
        api.get(f"/api/sessions/{many['id']}")
    assert len(one) == len(six) <= 2
