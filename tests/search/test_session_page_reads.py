"""Sessions as search lists them (database backend): the whole view of a live show, and every read showing
what changed since the last one — live counts, the session's row, its showcased product — although views
of rows read before are reused (`bazaar.infra.rows.RowViews`)."""

from __future__ import annotations

import pytest

from tests.conftest import make_product
from tests.support.shows import end, make_show, start

# SPEC's session object as search lists it (no stream key, no products), in this order.
LISTED_SESSION_KEYS = [
    "id",
    "title",
    "description",
    "category",
    "tags",
    "status",
    "startedAt",
    "agoraChannelName",
    "streamUrl",
    "scheduledAt",
    "endedAt",
    "creatorId",
    "creator",
    "activeProductId",
    "activeProduct",
    "reactionCounts",
    "createdAt",
    "updatedAt",
]

# Each way search lists sessions: (path, query, where the sessions are in the body).
LISTINGS = [
    ("/api/search/sessions", {"q": "deals"}, "results"),
    ("/api/search/sessions", {"sortBy": "viewers"}, "results"),
    ("/api/search/sessions/live", {}, "results"),
    ("/api/search", {"q": "deals"}, "sessions"),
]


@pytest.fixture
def earbuds(api, creator):
    return make_product(api, creator, name="Wireless Earbuds", price=49.5, category="audio")


@pytest.fixture
def deals_show(api, services, creator, earbuds):
    """A live show with tags, its showcased product, two viewers and three reactions."""
    show = make_show(
        api,
        creator,
        title="Deals Night",
        description="Audio deals all night",
        category="audio",
        tags=["deals", "audio"],
        productIds=[earbuds["id"]],
    )
    start(api, creator, show)
    resp = api.post(f"/api/sessions/{show['id']}/showcase", json={"productId": earbuds["id"]}, as_=creator)
    assert resp.status == 200, resp
    for viewer in ("c:1", "c:2"):
        services.live_state.join(show["id"], viewer)
    for reaction in ("heart", "fire", "heart"):
        services.live_state.add_reaction(show["id"], reaction)
    return show


def listed(api, path: str, query: dict, key: str, show: dict) -> dict:
    resp = api.get(path, params=query)
    assert resp.status == 200, resp
    [view] = [session for session in resp.json[key] if session["id"] == show["id"]]
    return view


@pytest.mark.parametrize("path, query, key", LISTINGS)
def test_a_live_show_is_listed_whole_with_its_product_and_live_counts(
    api, creator, earbuds, deals_show, path, query, key
):
    view = listed(api, path, query, key, deals_show)
    own_page = api.get(f"/api/sessions/{deals_show['id']}").data
    product = api.get(f"/api/products/{earbuds['id']}").json

    assert list(view) == [*LISTED_SESSION_KEYS, "viewerCount"]
    assert view == {key: own_page[key] for key in view}  # as the show's own page shows it
    assert view["status"] == "live" and view["tags"] == ["deals", "audio"]
    assert view["creator"] == {"id": creator.id, "username": creator.username}
    assert view["activeProductId"] == earbuds["id"] and view["activeProduct"] == product
    assert view["reactionCounts"] == {"heart": 2, "fire": 1}
    assert view["viewerCount"] == 2


@pytest.mark.parametrize("path, query, key", LISTINGS)
def test_each_read_shows_what_changed_since_the_last_one(
    api, services, creator, earbuds, deals_show, path, query, key
):
    listed(api, path, query, key, deals_show)

    services.live_state.add_reaction(deals_show["id"], "wow")
    services.live_state.join(deals_show["id"], "c:3")
    view = listed(api, path, query, key, deals_show)
    assert (view["reactionCounts"], view["viewerCount"]) == ({"heart": 2, "fire": 1, "wow": 1}, 3)

    resp = api.put(f"/api/products/{earbuds['id']}", json={"price": 39.99}, as_=creator)
    assert resp.status == 200, resp
    assert listed(api, path, query, key, deals_show)["activeProduct"]["price"] == 39.99

    resp = api.put(f"/api/sessions/{deals_show['id']}", json={"title": "Deals Night Extended"}, as_=creator)
    assert resp.status == 200, resp
    assert listed(api, path, query, key, deals_show)["title"] == "Deals Night Extended"


def test_an_ended_show_is_listed_with_its_persisted_reactions_and_no_viewer_count(api, creator, deals_show):
    query = {"q": "deals"}
    assert "viewerCount" in listed(api, "/api/search/sessions", query, "results", deals_show)

    end(api, creator, deals_show)
    view = listed(api, "/api/search/sessions", query, "results", deals_show)
    assert list(view) == LISTED_SESSION_KEYS
    assert view["status"] == "ended" and view["endedAt"] is not None
    assert view["activeProductId"] is None and view["activeProduct"] is None
    assert view["reactionCounts"] == {"heart": 2, "fire": 1}
