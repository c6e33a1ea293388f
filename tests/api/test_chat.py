"""SPEC §6: chat over REST — history, posting, count, moderation."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

import pytest

from bazaar.domain.clock import iso
from bazaar.domain.models import ChatMessage
from bazaar.infra import db
from tests.api.conftest import show_in_status

T0 = datetime(2026, 3, 1, 20, 0, 0)


def chat_url(show: dict) -> str:
    return f"/api/sessions/{show['id']}/chat"


def seed_messages(show: dict, author, count: int, *, start: datetime = T0) -> list[str]:
    """`count` messages "m0", "m1"… one second apart; returns their ids, oldest first."""
    with db.connection():
        return [
            str(
                ChatMessage.create(
                    session=show["id"],
                    user=author.id,
                    message=f"m{i}",
                    created_at=start + timedelta(seconds=i),
                ).id
            )
            for i in range(count)
        ]


def texts(resp) -> list[str]:
    return [m["message"] for m in resp.data]


# history ----------------------------------------------------------------------


def test_anyone_reads_the_history_oldest_first(api, live_show, viewer):
    seed_messages(live_show, viewer, 3)
    resp = api.get(chat_url(live_show))
    assert resp.status == 200
    assert texts(resp) == ["m0", "m1", "m2"]
    assert resp.json["count"] == 3


def test_history_message_shape(api, live_show, viewer):
    seed_messages(live_show, viewer, 1)
    message = api.get(chat_url(live_show)).data[0]
    assert message == {
        "id": message["id"],
        "sessionId": live_show["id"],
        "userId": viewer.id,
        "username": viewer.username,
        "userName": viewer.username,
        "message": "m0",
        "createdAt": iso(T0),
    }


def test_history_returns_the_newest_fifty_by_default(api, live_show, viewer):
    seed_messages(live_show, viewer, 55)
    assert texts(api.get(chat_url(live_show))) == [f"m{i}" for i in range(5, 55)]


def test_history_limit_takes_the_newest_page(api, live_show, viewer):
    seed_messages(live_show, viewer, 5)
    assert texts(api.get(chat_url(live_show), params={"limit": "2"})) == ["m3", "m4"]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "2.5"])
def test_history_limit_out_of_range_is_400(api, live_show, limit):
    resp = api.get(chat_url(live_show), params={"limit": limit})
    assert resp.status == 400
    assert resp.json["error"] == "validation_error"


def test_history_before_a_time_gives_the_page_just_before_it(api, live_show, viewer):
    seed_messages(live_show, viewer, 10)
    resp = api.get(chat_url(live_show), params={"before": iso(T0 + timedelta(seconds=6)), "limit": "3"})
    assert texts(resp) == ["m3", "m4", "m5"]


def test_history_before_accepts_a_time_with_an_offset(api, live_show, viewer):
    seed_messages(live_show, viewer, 4)
    resp = api.get(chat_url(live_show), params={"before": "2026-03-01T21:00:02+01:00"})
    assert texts(resp) == ["m0", "m1"]


def test_history_before_a_message_id_gives_the_messages_before_it(api, live_show, viewer):
    ids = seed_messages(live_show, viewer, 10)
    resp = api.get(chat_url(live_show), params={"before": ids[7], "limit": "3"})
    assert texts(resp) == ["m4", "m5", "m6"]


def test_history_pages_back_through_messages_sharing_a_timestamp(api, live_show, viewer):
    with db.connection():
        for i in range(4):
            ChatMessage.create(session=live_show["id"], user=viewer.id, message=f"same{i}", created_at=T0)
    newest = api.get(chat_url(live_show), params={"limit": "2"}).data
    older = api.get(chat_url(live_show), params={"limit": "2", "before": newest[0]["id"]}).data
    assert len({m["id"] for m in newest + older}) == 4


def test_history_before_a_message_of_another_session_is_400(api, live_show, paused_show, viewer):
    other_id = seed_messages(paused_show, viewer, 1)[0]
    resp = api.get(chat_url(live_show), params={"before": other_id})
    assert resp.status == 400
    assert "before" in resp.json["details"]


def test_history_before_garbage_is_400(api, live_show):
    resp = api.get(chat_url(live_show), params={"before": "yesterday"})
    assert resp.status == 400
    assert "before" in resp.json["details"]


def test_history_of_an_unknown_session_is_404(api):
    assert api.get(f"/api/sessions/{uuid.uuid4()}/chat").status == 404


def test_history_with_a_malformed_session_id_is_404(api):
    assert api.get("/api/sessions/not-a-uuid/chat").status == 404


# posting ----------------------------------------------------------------------


def test_signed_in_user_posts_a_message(api, live_show, viewer):
    resp = api.post(chat_url(live_show), json={"message": "Is it waterproof?"}, as_=viewer)
    assert resp.status == 201
    message = resp.data
    assert message["message"] == "Is it waterproof?"
    assert (message["sessionId"], message["userId"]) == (live_show["id"], viewer.id)
    assert message["username"] == message["userName"] == viewer.username
    assert api.get(chat_url(live_show)).data == [message]


def test_a_posted_message_is_broadcast_to_the_room(api, room_events, live_show, viewer):
    room = room_events(live_show["id"])
    message = api.post(chat_url(live_show), json={"message": "Hello room"}, as_=viewer).data
    assert room.wait_for("new-message") == message


def test_a_post_is_one_insert_in_no_transaction_of_its_own(api, caplog, monkeypatch, live_show, viewer):
    """Before the room hears of a message it waits for every database round trip of the post: a
    transaction around its one INSERT would add a BEGIN and a COMMIT."""
    begun = []
    begin = type(db.database.obj).begin
    monkeypatch.setattr(
        type(db.database.obj), "begin", lambda *args, **kw: begun.append(1) or begin(*args, **kw)
    )
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        resp = api.post(chat_url(live_show), json={"message": "one trip"}, as_=viewer)
    assert resp.status == 201, resp
    statements = [str(record.msg[0]) for record in caplog.records if record.name == "peewee"]
    assert [sql.split()[0] for sql in statements].count("INSERT") == 1, statements
    assert begun == []
    assert texts(api.get(chat_url(live_show))) == ["one trip"]


def test_a_refused_message_is_not_broadcast(api, room_events, ended_show, viewer):
    room = room_events(ended_show["id"])
    api.post(chat_url(ended_show), json={"message": "anyone?"}, as_=viewer)
    room.assert_none("new-message")


def test_chatting_lifts_a_show_in_trending(api, creator, viewer):
    chatty = show_in_status(api, creator, "live", title="Chatty")
    quiet = show_in_status(api, creator, "live", title="Quiet")  # newer: first among equals
    api.post(chat_url(chatty), json={"message": "love it"}, as_=viewer)
    trending = api.get("/api/search/sessions/trending").json["results"]
    assert [s["id"] for s in trending] == [chatty["id"], quiet["id"]]


def test_anonymous_cannot_post(api, live_show):
    resp = api.post(chat_url(live_show), json={"message": "hi"})
    assert resp.status == 401
    assert api.get(f"{chat_url(live_show)}/count").data == {"count": 0}


def test_message_is_trimmed(api, live_show, viewer):
    resp = api.post(chat_url(live_show), json={"message": "  hello \n"}, as_=viewer)
    assert resp.data["message"] == "hello"


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_blank_message_is_400(api, live_show, viewer, text):
    resp = api.post(chat_url(live_show), json={"message": text}, as_=viewer)
    assert resp.status == 400
    assert "message" in resp.json["details"]


def test_message_of_500_characters_is_accepted(api, live_show, viewer):
    resp = api.post(chat_url(live_show), json={"message": "é" * 500}, as_=viewer)
    assert resp.status == 201


def test_message_of_501_characters_is_400(api, live_show, viewer):
    resp = api.post(chat_url(live_show), json={"message": "a" * 501}, as_=viewer)
    assert resp.status == 400
    assert api.get(f"{chat_url(live_show)}/count").data == {"count": 0}


@pytest.mark.parametrize("control", ["\x00", "\x07", "\t", "\r", "\x1b", "\x7f"])
def test_control_characters_are_refused(api, live_show, viewer, control):
    resp = api.post(chat_url(live_show), json={"message": f"buy{control}now"}, as_=viewer)
    assert resp.status == 400
    assert "message" in resp.json["details"]
    assert api.get(f"{chat_url(live_show)}/count").data == {"count": 0}


def test_newlines_inside_a_message_are_kept(api, live_show, viewer):
    resp = api.post(chat_url(live_show), json={"message": "line one\nline two"}, as_=viewer)
    assert resp.status == 201
    assert resp.data["message"] == "line one\nline two"


def test_unicode_and_markup_are_stored_as_sent(api, live_show, viewer):
    text = "Ça marche 👍 好的 <b>&amp;</b>"
    api.post(chat_url(live_show), json={"message": text}, as_=viewer)
    assert texts(api.get(chat_url(live_show))) == [text]


@pytest.mark.parametrize("body", [{}, {"message": 42}, {"message": None}, {"text": "hi"}, ["hi"]])
def test_malformed_post_body_is_400(api, live_show, viewer, body):
    assert api.post(chat_url(live_show), json=body, as_=viewer).status == 400


def test_the_author_is_the_caller_whatever_the_body_claims(api, live_show, viewer, admin):
    claims = {"userId": admin.id, "userName": admin.username}
    resp = api.post(chat_url(live_show), json={"message": "hi", **claims}, as_=viewer)
    assert (resp.data["userId"], resp.data["username"]) == (viewer.id, viewer.username)


def test_chat_is_open_while_paused(api, paused_show, viewer):
    assert api.post(chat_url(paused_show), json={"message": "still there?"}, as_=viewer).status == 201


@pytest.mark.parametrize("fixture", ["scheduled_show", "ended_show"])
def test_chat_is_closed_unless_live_or_paused(api, request, viewer, fixture):
    show = request.getfixturevalue(fixture)
    resp = api.post(chat_url(show), json={"message": "hello?"}, as_=viewer)
    assert resp.status == 409
    assert resp.json["currentStatus"] == show["status"]
    assert api.get(f"{chat_url(show)}/count").data == {"count": 0}


def test_posting_to_an_unknown_session_is_404(api, viewer):
    assert api.post(f"/api/sessions/{uuid.uuid4()}/chat", json={"message": "hi"}, as_=viewer).status == 404


def test_sixth_message_within_ten_seconds_is_rate_limited(api, live_show, viewer):
    for i in range(5):
        assert api.post(chat_url(live_show), json={"message": f"#{i}"}, as_=viewer).status == 201
    resp = api.post(chat_url(live_show), json={"message": "one too many"}, as_=viewer)
    assert resp.status == 429
    assert resp.json["error"] == "rate_limited"
    assert 1 <= int(resp.headers["Retry-After"]) <= 10
    assert api.get(f"{chat_url(live_show)}/count").data == {"count": 5}


def test_rate_limit_is_per_user(api, live_show, viewer, moderator):
    for i in range(5):
        api.post(chat_url(live_show), json={"message": f"#{i}"}, as_=viewer)
    assert api.post(chat_url(live_show), json={"message": "me too"}, as_=moderator).status == 201


# count ------------------------------------------------------------------------


def test_count_counts_the_messages_of_the_session(api, live_show, paused_show, viewer):
    seed_messages(live_show, viewer, 3)
    seed_messages(paused_show, viewer, 2)
    resp = api.get(f"{chat_url(live_show)}/count")
    assert resp.status == 200
    assert resp.data == {"count": 3}


def test_count_of_an_unknown_session_is_404(api):
    assert api.get(f"/api/sessions/{uuid.uuid4()}/chat/count").status == 404


# deleting ---------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["creator", "moderator", "admin"])
def test_owner_moderator_and_admin_delete_a_message(api, request, live_show, viewer, actor):
    message_id = seed_messages(live_show, viewer, 1)[0]
    resp = api.delete(f"{chat_url(live_show)}/{message_id}", as_=request.getfixturevalue(actor))
    assert resp.status == 200
    assert resp.json["success"] is True
    assert api.get(chat_url(live_show)).data == []


def test_deleting_a_message_is_broadcast_to_the_room(api, room_events, creator, live_show, viewer):
    message_id = seed_messages(live_show, viewer, 1)[0]
    room = room_events(live_show["id"])
    api.delete(f"{chat_url(live_show)}/{message_id}", as_=creator)
    assert room.wait_for("message-deleted") == {"sessionId": live_show["id"], "messageId": message_id}


@pytest.mark.parametrize("actor", ["viewer", "other_creator"])
def test_others_cannot_delete_a_message_not_even_their_own(api, request, live_show, viewer, actor):
    message_id = seed_messages(live_show, viewer, 1)[0]
    resp = api.delete(f"{chat_url(live_show)}/{message_id}", as_=request.getfixturevalue(actor))
    assert resp.status == 403
    assert texts(api.get(chat_url(live_show))) == ["m0"]


def test_anonymous_cannot_delete_a_message(api, live_show, viewer):
    message_id = seed_messages(live_show, viewer, 1)[0]
    assert api.delete(f"{chat_url(live_show)}/{message_id}").status == 401


def test_deleting_a_message_of_another_session_is_404(api, creator, live_show, viewer):
    elsewhere = show_in_status(api, creator, "paused")
    message_id = seed_messages(elsewhere, viewer, 1)[0]
    assert api.delete(f"{chat_url(live_show)}/{message_id}", as_=creator).status == 404
    assert texts(api.get(chat_url(elsewhere))) == ["m0"]


def test_deleting_an_unknown_message_is_404(api, creator, live_show):
    assert api.delete(f"{chat_url(live_show)}/{uuid.uuid4()}", as_=creator).status == 404
    assert api.delete(f"{chat_url(live_show)}/not-a-uuid", as_=creator).status == 404
