"""Showcase over REST: the owner puts one of the session's products on screen while on air, or clears it."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import make_product
from tests.support.shows import end, make_show, set_status, start


@pytest.fixture
def earbuds(api, creator):
    return make_product(api, creator, name="Wireless Earbuds")


@pytest.fixture
def show(api, creator, earbuds):
    return make_show(api, creator, productIds=[earbuds["id"]])


@pytest.fixture
def live_show(api, creator, show):
    start(api, creator, show)
    return show


def showcase(api, show, product_id, as_):
    return api.post(f"/api/sessions/{show['id']}/showcase", json={"productId": product_id}, as_=as_)


def test_owner_showcases_a_session_product(api, creator, live_show, earbuds):
    resp = showcase(api, live_show, earbuds["id"], creator)
    assert resp.status == 200
    assert resp.data == {
        "sessionId": live_show["id"],
        "activeProductId": earbuds["id"],
        "product": api.get(f"/api/products/{earbuds['id']}").json,
    }


def test_showcased_product_becomes_the_sessions_active_product(api, creator, live_show, earbuds):
    showcase(api, live_show, earbuds["id"], creator)
    session = api.get(f"/api/sessions/{live_show['id']}").data
    assert session["activeProductId"] == earbuds["id"]
    assert session["activeProduct"]["name"] == "Wireless Earbuds"


def test_showcase_broadcasts_product_showcased_with_the_product(
    api, creator, live_show, earbuds, room_events
):
    room = room_events(live_show["id"])
    showcase(api, live_show, earbuds["id"], creator)
    assert room.wait_for("product-showcased") == {
        "sessionId": live_show["id"],
        "productId": earbuds["id"],
        "product": api.get(f"/api/products/{earbuds['id']}").json,
    }


def test_showcase_null_clears_the_active_product(api, creator, live_show, earbuds):
    showcase(api, live_show, earbuds["id"], creator)
    resp = showcase(api, live_show, None, creator)
    assert resp.status == 200
    assert resp.data == {"sessionId": live_show["id"], "activeProductId": None, "product": None}
    assert api.get(f"/api/sessions/{live_show['id']}").data["activeProduct"] is None


def test_clearing_the_showcase_broadcasts_showcase_cleared(api, creator, live_show, room_events):
    room = room_events(live_show["id"])
    showcase(api, live_show, None, creator)
    assert room.wait_for("showcase-cleared") == {"sessionId": live_show["id"]}


def test_owner_showcases_while_paused(api, creator, live_show, earbuds):
    set_status(api, creator, live_show, "paused")
    assert showcase(api, live_show, earbuds["id"], creator).status == 200


def test_showcase_before_the_stream_starts_is_409_and_broadcasts_nothing(
    api, creator, show, earbuds, room_events
):
    room = room_events(show["id"])
    resp = showcase(api, show, earbuds["id"], creator)
    assert resp.status == 409
    assert resp.json["currentStatus"] == "scheduled"
    room.assert_none("product-showcased")


def test_showcase_after_the_stream_ended_is_409(api, creator, live_show, earbuds):
    end(api, creator, live_show)
    resp = showcase(api, live_show, earbuds["id"], creator)
    assert resp.status == 409
    assert resp.json["currentStatus"] == "ended"


def test_ending_the_stream_clears_the_active_product(api, creator, live_show, earbuds):
    showcase(api, live_show, earbuds["id"], creator)
    end(api, creator, live_show)
    assert api.get(f"/api/sessions/{live_show['id']}").data["activeProductId"] is None


def test_showcasing_a_product_outside_the_session_is_400(api, creator, live_show):
    elsewhere = make_product(api, creator, name="Not in this show")
    resp = showcase(api, live_show, elsewhere["id"], creator)
    assert resp.status == 400
    assert "productId" in resp.json["details"]
    assert api.get(f"/api/sessions/{live_show['id']}").data["activeProductId"] is None


def test_showcasing_an_unknown_product_is_400(api, creator, live_show):
    assert showcase(api, live_show, str(uuid.uuid4()), creator).status == 400


@pytest.mark.parametrize(
    "body", [{}, {"productId": "nope"}, {"productId": 7}, {"productId": None, "extra": 1}]
)
def test_invalid_showcase_bodies_are_400(api, creator, live_show, body):
    resp = api.post(f"/api/sessions/{live_show['id']}/showcase", json=body, as_=creator)
    assert resp.status == 400


def test_removing_the_showcased_product_from_the_session_clears_the_showcase(
    api, creator, live_show, earbuds, room_events
):
    showcase(api, live_show, earbuds["id"], creator)
    room = room_events(live_show["id"])
    api.delete(f"/api/sessions/{live_show['id']}/products/{earbuds['id']}", as_=creator)
    assert api.get(f"/api/sessions/{live_show['id']}").data["activeProductId"] is None
    assert room.wait_for("showcase-cleared") == {"sessionId": live_show["id"]}


def test_other_creator_cannot_showcase(api, other_creator, live_show, earbuds):
    assert showcase(api, live_show, earbuds["id"], other_creator).status == 403


def test_viewer_cannot_showcase(api, viewer, live_show, earbuds):
    assert showcase(api, live_show, earbuds["id"], viewer).status == 403


def test_anonymous_cannot_showcase(api, live_show, earbuds):
    assert showcase(api, live_show, earbuds["id"], None).status == 401


def test_admin_can_showcase(api, admin, live_show, earbuds):
    assert showcase(api, live_show, earbuds["id"], admin).status == 200


def test_showcase_in_an_unknown_session_is_404(api, creator, earbuds):
    resp = api.post(f"/api/sessions/{uuid.uuid4()}/showcase", json={"productId": earbuds["id"]}, as_=creator)
    assert resp.status == 404
