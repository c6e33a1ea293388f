"""Sessions over REST: create, read, list, update, delete, and who may do what."""

from __future__ import annotations

import uuid

import pytest

from tests.api.test_products import PRODUCT_FIELDS
from tests.conftest import make_product
from tests.support.shows import make_show, session_outbox_rows, set_status, start


@pytest.fixture
def show(api, creator, earbuds, speaker):
    return make_show(api, creator, productIds=[speaker["id"], earbuds["id"]])


# create -------------------------------------------------------------------------------------------


def test_creator_creates_a_scheduled_session(api, creator):
    resp = api.post(
        "/api/sessions",
        as_=creator,
        json={
            "title": "  Spring Drop  ",
            "description": "New arrivals",
            "category": "fashion",
            "tags": ["spring", "new"],
            "streamUrl": "https://cdn.example.test/live.m3u8",
            "streamKey": "sk-123",
            "scheduledAt": "2030-04-01T18:00:00Z",
        },
    )
    assert resp.status == 201
    session = resp.data
    assert session["title"] == "Spring Drop"
    assert session["status"] == "scheduled"
    assert session["tags"] == ["spring", "new"]
    assert session["scheduledAt"] == "2030-04-01T18:00:00.000Z"
    assert session["creatorId"] == creator.id
    assert session["creator"] == {"id": creator.id, "username": creator.username}
    assert session["startedAt"] is None and session["endedAt"] is None
    assert session["activeProductId"] is None and session["activeProduct"] is None
    assert session["reactionCounts"] == {}
    assert session["streamKey"] == "sk-123"


def test_created_session_sells_the_given_products_in_the_given_order(api, creator, show, earbuds, speaker):
    assert [p["id"] for p in show["products"]] == [speaker["id"], earbuds["id"]]
    assert [p["displayOrder"] for p in show["products"]] == [0, 1]
    assert show["products"][0]["name"] == "Bluetooth Speaker"


def test_creating_a_session_records_it_for_search(api, creator, show):
    assert session_outbox_rows(show["id"]) == 1


def test_session_with_another_creators_product_is_refused_and_not_created(api, creator, other_creator):
    foreign = make_product(api, other_creator)
    resp = api.post("/api/sessions", json={"title": "Mine", "productIds": [foreign["id"]]}, as_=creator)
    assert resp.status == 400
    assert "productIds" in resp.json["details"]
    assert api.get("/api/sessions", as_=creator).json["count"] == 0


def test_session_with_an_unknown_product_is_400(api, creator):
    resp = api.post("/api/sessions", json={"title": "Mine", "productIds": [str(uuid.uuid4())]}, as_=creator)
    assert resp.status == 400


def test_a_viewer_creating_a_session_becomes_a_creator(api, viewer):
    # SELLERS=open, the default; SELLERS=approved: tests/api/test_frontend_rest.py
    assert api.post("/api/sessions", json={"title": "Mine"}, as_=viewer).status == 201
    assert api.get("/api/auth/me", as_=viewer).data["role"] == "creator"


def test_anonymous_cannot_create_a_session(api):
    assert api.post("/api/sessions", json={"title": "Mine"}).status == 401


def test_admin_can_create_a_session(api, admin):
    assert api.post("/api/sessions", json={"title": "Announcements"}, as_=admin).status == 201


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"title": "ok", "tags": "fashion"}, "tags"),
        ({"title": "ok", "scheduledAt": "next friday"}, "scheduledAt"),
        ({"title": "ok", "streamUrl": "javascript:alert(1)"}, "streamUrl"),
        ({"title": "ok", "productIds": ["not-a-uuid"]}, "productIds"),
        ({"title": "ok", "status": "live"}, "status"),
        ({"title": "ok", "creatorId": 99}, "creatorId"),
    ],
)
def test_invalid_session_bodies_are_400_naming_the_field(api, creator, body, field):
    resp = api.post("/api/sessions", json=body, as_=creator)
    assert resp.status == 400
    assert field in resp.json["details"]


def test_malformed_json_is_400(api, creator):
    resp = api.post("/api/sessions", body="{", headers={"Content-Type": "application/json"}, as_=creator)
    assert resp.status == 400


# read ---------------------------------------------------------------------------------------------


def test_anyone_reads_a_session_with_its_creator_and_products(api, show):
    resp = api.get(f"/api/sessions/{show['id']}")
    assert resp.status == 200
    assert resp.data["creator"]["username"] == show["creator"]["username"]
    listed = resp.data["products"][0]
    assert set(listed) == {*PRODUCT_FIELDS, "featured", "displayOrder"}
    assert listed == {**api.get(f"/api/products/{listed['id']}").json, "featured": False, "displayOrder": 0}


def test_stream_key_is_shown_to_the_owner_only(api, creator, viewer, other_creator, admin):
    show = make_show(api, creator, streamKey="secret-key")
    assert api.get(f"/api/sessions/{show['id']}", as_=creator).data["streamKey"] == "secret-key"
    for someone in (viewer, other_creator, admin, None):
        assert "streamKey" not in api.get(f"/api/sessions/{show['id']}", as_=someone).data


def test_viewer_count_appears_only_while_on_air(api, creator, show):
    assert "viewerCount" not in api.get(f"/api/sessions/{show['id']}").data
    start(api, creator, show)
    assert api.get(f"/api/sessions/{show['id']}").data["viewerCount"] == 0


def test_unknown_session_is_404(api):
    resp = api.get(f"/api/sessions/{uuid.uuid4()}")
    assert resp.status == 404
    assert resp.json["error"] == "not_found"


def test_malformed_session_id_is_404(api):
    assert api.get("/api/sessions/12345").status == 404


# list own -----------------------------------------------------------------------------------------


def test_creator_lists_only_their_own_sessions(api, creator, other_creator, show):
    make_show(api, other_creator, title="Not mine")
    resp = api.get("/api/sessions", as_=creator)
    assert resp.status == 200
    assert resp.json["count"] == 1
    assert [s["id"] for s in resp.data] == [show["id"]]
    assert len(resp.data[0]["products"]) == 2


def test_own_sessions_filter_by_status(api, creator, show):
    live = make_show(api, creator, title="Live one")
    start(api, creator, live)
    resp = api.get("/api/sessions", params={"status": "live"}, as_=creator)
    assert [s["id"] for s in resp.data] == [live["id"]]


def test_own_sessions_are_newest_first_and_paginated(api, creator):
    ids = [make_show(api, creator, title=f"Show {n}")["id"] for n in range(3)]
    resp = api.get("/api/sessions", params={"limit": 2, "offset": 1}, as_=creator)
    assert [s["id"] for s in resp.data] == [ids[1], ids[0]]


@pytest.mark.parametrize("params", [{"status": "cancelled"}, {"limit": 0}, {"limit": "ten"}, {"offset": -1}])
def test_bad_list_parameters_are_400(api, creator, params):
    assert api.get("/api/sessions", params=params, as_=creator).status == 400


def test_listing_sessions_needs_a_sign_in(api):
    assert api.get("/api/sessions").status == 401


def test_viewer_has_no_sessions_of_their_own(api, viewer, show):
    assert api.get("/api/sessions", as_=viewer).json["count"] == 0


# update -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
def test_owner_updates_a_session(api, creator, show, method):
    resp = api.request(
        method.upper(),
        f"/api/sessions/{show['id']}",
        as_=creator,
        json={"title": "Renamed", "tags": ["sale"], "description": None},
    )
    assert resp.status == 200
    assert resp.data["title"] == "Renamed"
    assert resp.data["tags"] == ["sale"]
    assert resp.data["description"] is None
    assert api.get(f"/api/sessions/{show['id']}").data["title"] == "Renamed"


def test_updating_a_session_records_it_for_search(api, creator, show):
    api.patch(f"/api/sessions/{show['id']}", json={"title": "Renamed"}, as_=creator)
    assert session_outbox_rows(show["id"]) == 2


def test_update_keeps_the_status_and_the_fields_not_sent(api, creator, show):
    start(api, creator, show)
    resp = api.put(f"/api/sessions/{show['id']}", json={"category": "audio"}, as_=creator)
    assert resp.data["status"] == "live"
    assert resp.data["title"] == show["title"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": ""}, "title"),
        ({"status": "ended"}, "status"),
        ({"streamKey": "new"}, "streamKey"),
        ({"tags": [1]}, "tags"),
    ],
)
def test_invalid_updates_are_400_and_change_nothing(api, creator, show, body, field):
    resp = api.patch(f"/api/sessions/{show['id']}", json=body, as_=creator)
    assert resp.status == 400
    assert field in resp.json["details"]
    assert api.get(f"/api/sessions/{show['id']}").data["updatedAt"] == show["updatedAt"]


def test_other_creator_cannot_update_a_session(api, other_creator, show):
    assert (
        api.patch(f"/api/sessions/{show['id']}", json={"title": "Mine now"}, as_=other_creator).status == 403
    )


def test_viewer_cannot_update_a_session(api, viewer, show):
    assert api.put(f"/api/sessions/{show['id']}", json={"title": "Mine now"}, as_=viewer).status == 403


def test_anonymous_cannot_update_a_session(api, show):
    assert api.put(f"/api/sessions/{show['id']}", json={"title": "Mine now"}).status == 401


def test_admin_can_update_any_session(api, admin, show):
    assert api.patch(f"/api/sessions/{show['id']}", json={"title": "Moderated"}, as_=admin).status == 200


def test_updating_an_unknown_session_is_404(api, creator):
    assert api.patch(f"/api/sessions/{uuid.uuid4()}", json={"title": "x"}, as_=creator).status == 404


# delete -------------------------------------------------------------------------------------------


def test_owner_deletes_a_session(api, creator, show):
    resp = api.delete(f"/api/sessions/{show['id']}", as_=creator)
    assert resp.status == 200
    assert resp.json["success"] is True and resp.json["message"]
    assert api.get(f"/api/sessions/{show['id']}").status == 404


def test_deleting_a_session_records_it_for_search(api, creator, show):
    api.delete(f"/api/sessions/{show['id']}", as_=creator)
    assert session_outbox_rows(show["id"]) == 2


@pytest.mark.parametrize("status", ["live", "paused"])
def test_a_session_on_air_cannot_be_deleted(api, creator, show, status):
    start(api, creator, show)
    if status == "paused":
        set_status(api, creator, show, "paused")
    resp = api.delete(f"/api/sessions/{show['id']}", as_=creator)
    assert resp.status == 409
    assert resp.json["currentStatus"] == status
    assert api.get(f"/api/sessions/{show['id']}").status == 200


def test_an_ended_session_can_be_deleted(api, creator, show):
    set_status(api, creator, show, "ended")
    assert api.delete(f"/api/sessions/{show['id']}", as_=creator).status == 200


def test_other_creator_cannot_delete_a_session(api, other_creator, show):
    assert api.delete(f"/api/sessions/{show['id']}", as_=other_creator).status == 403


def test_viewer_cannot_delete_a_session(api, viewer, show):
    assert api.delete(f"/api/sessions/{show['id']}", as_=viewer).status == 403


def test_anonymous_cannot_delete_a_session(api, show):
    assert api.delete(f"/api/sessions/{show['id']}").status == 401


def test_admin_can_delete_any_session(api, admin, show):
    assert api.delete(f"/api/sessions/{show['id']}", as_=admin).status == 200


def test_deleting_an_unknown_session_is_404(api, creator):
    assert api.delete(f"/api/sessions/{uuid.uuid4()}", as_=creator).status == 404


# /users/live --------------------------------------------------------------------------------------


def test_live_creators_lists_creators_on_air_with_their_session(api, creator, other_creator, show):
    start(api, creator, show)
    make_show(api, other_creator, title="Only scheduled")
    resp = api.get("/api/users/live")
    assert resp.status == 200
    assert resp.json["count"] == 1
    user = resp.data[0]
    assert user["id"] == creator.id and user["username"] == creator.username
    assert "email" not in user
    assert user["liveSession"] == {
        "id": show["id"],
        "title": show["title"],
        "description": show["description"],
        "category": show["category"],
        "tags": show["tags"],
        "status": "live",
        "startedAt": api.get(f"/api/sessions/{show['id']}").data["startedAt"],
        "agoraChannelName": show["id"],
    }


def test_live_creators_include_paused_shows_and_drop_ended_ones(api, creator, other_creator, show):
    start(api, creator, show)
    set_status(api, creator, show, "paused")
    ended = make_show(api, other_creator)
    start(api, other_creator, ended)
    set_status(api, other_creator, ended, "ended")
    assert [u["liveSession"]["status"] for u in api.get("/api/users/live").data] == ["paused"]


def test_a_creator_with_two_shows_on_air_appears_once_with_the_latest(api, creator, show):
    start(api, creator, show)
    later = make_show(api, creator, title="Second stage")
    start(api, creator, later)
    resp = api.get("/api/users/live")
    assert [u["liveSession"]["id"] for u in resp.data] == [later["id"]]


def test_live_creators_bad_limit_is_400(api):
    assert api.get("/api/users/live", params={"limit": 1000}).status == 400
