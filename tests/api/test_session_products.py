"""The products a session sells: list, add, remove, featured set, featured toggle, display order."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import make_product
from tests.support.shows import make_show, session_outbox_rows


@pytest.fixture
def charger(api, creator):
    return make_product(api, creator, name="Fast Charger")


@pytest.fixture
def show(api, creator, earbuds, speaker):
    return make_show(api, creator, productIds=[earbuds["id"], speaker["id"]])


def products_url(show: dict, *rest: str) -> str:
    return "/".join([f"/api/sessions/{show['id']}/products", *rest])


def listed(api, show, **params) -> list[str]:
    return [link["productId"] for link in api.get(products_url(show), params=params or None).data]


# list ---------------------------------------------------------------------------------------------


def test_anyone_lists_a_sessions_products_in_display_order(api, show, earbuds, speaker):
    resp = api.get(products_url(show))
    assert resp.status == 200
    assert resp.json["count"] == 2
    assert [link["productId"] for link in resp.data] == [earbuds["id"], speaker["id"]]
    assert resp.data[0]["product"]["name"] == "Wireless Earbuds"
    assert [link["displayOrder"] for link in resp.data] == [0, 1]


def test_products_with_the_same_display_order_are_listed_oldest_first(
    api, creator, earbuds, speaker, charger
):
    show = make_show(api, creator)
    for product in (speaker, charger, earbuds):
        api.post(products_url(show), json={"productId": product["id"], "displayOrder": 0}, as_=creator)
    assert listed(api, show) == [speaker["id"], charger["id"], earbuds["id"]]


def test_featured_filter_lists_only_featured_products(api, creator, show, speaker):
    api.patch(products_url(show, speaker["id"], "feature"), as_=creator)
    assert listed(api, show, featured="true") == [speaker["id"]]
    assert len(listed(api, show, featured="false")) == 1


def test_bad_featured_filter_is_400(api, show):
    assert api.get(products_url(show), params={"featured": "maybe"}).status == 400


def test_products_of_an_unknown_session_are_404(api):
    assert api.get(f"/api/sessions/{uuid.uuid4()}/products").status == 404


def test_a_session_without_products_lists_none(api, creator):
    show = make_show(api, creator)
    resp = api.get(products_url(show))
    assert resp.status == 200
    assert resp.json["count"] == 0


# add ----------------------------------------------------------------------------------------------


def test_owner_adds_a_product_at_the_end(api, creator, show, charger):
    resp = api.post(products_url(show), json={"productId": charger["id"]}, as_=creator)
    assert resp.status == 201
    link = resp.data
    assert link["productId"] == charger["id"] and link["sessionId"] == show["id"]
    assert link["featured"] is False
    assert link["displayOrder"] == 2
    assert link["product"]["name"] == "Fast Charger"
    assert listed(api, show)[-1] == charger["id"]


def test_owner_adds_a_featured_product_at_a_chosen_position(api, creator, show, charger):
    resp = api.post(
        products_url(show),
        json={"productId": charger["id"], "featured": True, "displayOrder": 0},
        as_=creator,
    )
    assert resp.data["featured"] is True
    assert listed(api, show, featured="true") == [charger["id"]]


def test_adding_a_product_shows_in_the_session(api, creator, show, charger):
    api.post(products_url(show), json={"productId": charger["id"]}, as_=creator)
    assert charger["id"] in [p["id"] for p in api.get(f"/api/sessions/{show['id']}").data["products"]]


def test_adding_a_product_records_the_session_for_search(api, creator, show, charger):
    api.post(products_url(show), json={"productId": charger["id"]}, as_=creator)
    assert session_outbox_rows(show["id"]) == 2


def test_adding_a_product_twice_is_409(api, creator, show, earbuds):
    resp = api.post(products_url(show), json={"productId": earbuds["id"]}, as_=creator)
    assert resp.status == 409
    assert listed(api, show).count(earbuds["id"]) == 1


def test_adding_another_creators_product_is_400(api, creator, other_creator, show):
    foreign = make_product(api, other_creator)
    resp = api.post(products_url(show), json={"productId": foreign["id"]}, as_=creator)
    assert resp.status == 400
    assert "productId" in resp.json["details"]
    assert foreign["id"] not in listed(api, show)


def test_admin_adds_only_the_session_creators_products(api, admin, creator, show, charger):
    own = make_product(api, admin, name="Admin's product")
    assert api.post(products_url(show), json={"productId": own["id"]}, as_=admin).status == 400
    assert api.post(products_url(show), json={"productId": charger["id"]}, as_=admin).status == 201


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "productId"),
        ({"productId": "nope"}, "productId"),
        ({"productId": None}, "productId"),
        ({"productId": "00000000-0000-0000-0000-000000000000", "featured": "yes"}, "featured"),
        ({"productId": "00000000-0000-0000-0000-000000000000", "displayOrder": -1}, "displayOrder"),
    ],
)
def test_invalid_add_bodies_are_400(api, creator, show, body, field):
    resp = api.post(products_url(show), json=body, as_=creator)
    assert resp.status == 400
    assert field in resp.json["details"]


def test_other_creator_cannot_add_products(api, other_creator, show):
    own = make_product(api, other_creator)
    assert api.post(products_url(show), json={"productId": own["id"]}, as_=other_creator).status == 403


def test_viewer_cannot_add_products(api, viewer, show, charger):
    assert api.post(products_url(show), json={"productId": charger["id"]}, as_=viewer).status == 403


def test_anonymous_cannot_add_products(api, show, charger):
    assert api.post(products_url(show), json={"productId": charger["id"]}).status == 401


def test_adding_to_an_unknown_session_is_404(api, creator, charger):
    resp = api.post(f"/api/sessions/{uuid.uuid4()}/products", json={"productId": charger["id"]}, as_=creator)
    assert resp.status == 404


# remove -------------------------------------------------------------------------------------------


def test_owner_removes_a_product(api, creator, show, earbuds, speaker):
    resp = api.delete(products_url(show, earbuds["id"]), as_=creator)
    assert resp.status == 200
    assert resp.json["success"] is True and resp.json["message"]
    assert listed(api, show) == [speaker["id"]]


def test_removing_a_product_records_the_session_for_search(api, creator, show, earbuds):
    api.delete(products_url(show, earbuds["id"]), as_=creator)
    assert session_outbox_rows(show["id"]) == 2


def test_removing_a_product_keeps_the_product_itself(api, creator, show, earbuds):
    api.delete(products_url(show, earbuds["id"]), as_=creator)
    assert api.get(f"/api/products/{earbuds['id']}").status == 200


def test_removing_a_product_that_is_not_in_the_session_is_404(api, creator, show, charger):
    assert api.delete(products_url(show, charger["id"]), as_=creator).status == 404


def test_removing_with_a_malformed_product_id_is_404(api, creator, show):
    assert api.delete(products_url(show, "not-a-uuid"), as_=creator).status == 404


def test_other_creator_cannot_remove_products(api, other_creator, show, earbuds):
    assert api.delete(products_url(show, earbuds["id"]), as_=other_creator).status == 403
    assert earbuds["id"] in listed(api, show)


def test_viewer_cannot_remove_products(api, viewer, show, earbuds):
    assert api.delete(products_url(show, earbuds["id"]), as_=viewer).status == 403


def test_anonymous_cannot_remove_products(api, show, earbuds):
    assert api.delete(products_url(show, earbuds["id"])).status == 401


def test_admin_can_remove_products(api, admin, show, earbuds):
    assert api.delete(products_url(show, earbuds["id"]), as_=admin).status == 200


# featured set -------------------------------------------------------------------------------------


def test_owner_sets_exactly_the_featured_products(api, creator, show, earbuds, speaker):
    api.patch(products_url(show, earbuds["id"], "feature"), as_=creator)
    resp = api.patch(products_url(show), json={"productIds": [speaker["id"]]}, as_=creator)
    assert resp.status == 200
    assert {link["productId"]: link["featured"] for link in resp.data} == {
        earbuds["id"]: False,
        speaker["id"]: True,
    }
    assert listed(api, show, featured="true") == [speaker["id"]]


def test_an_empty_featured_set_unfeatures_everything(api, creator, show, earbuds):
    api.patch(products_url(show, earbuds["id"], "feature"), as_=creator)
    api.patch(products_url(show), json={"productIds": []}, as_=creator)
    assert listed(api, show, featured="true") == []


def test_featuring_a_product_outside_the_session_is_400_and_changes_nothing(
    api, creator, show, earbuds, charger
):
    resp = api.patch(products_url(show), json={"productIds": [earbuds["id"], charger["id"]]}, as_=creator)
    assert resp.status == 400
    assert "productIds" in resp.json["details"]
    assert listed(api, show, featured="true") == []


@pytest.mark.parametrize("body", [{}, {"productIds": "all"}, {"productIds": ["nope"]}])
def test_invalid_featured_sets_are_400(api, creator, show, body):
    assert api.patch(products_url(show), json=body, as_=creator).status == 400


def test_other_creator_cannot_set_featured_products(api, other_creator, show, earbuds):
    resp = api.patch(products_url(show), json={"productIds": [earbuds["id"]]}, as_=other_creator)
    assert resp.status == 403


def test_viewer_cannot_set_featured_products(api, viewer, show, earbuds):
    assert api.patch(products_url(show), json={"productIds": [earbuds["id"]]}, as_=viewer).status == 403


def test_anonymous_cannot_set_featured_products(api, show, earbuds):
    assert api.patch(products_url(show), json={"productIds": [earbuds["id"]]}).status == 401


def test_setting_featured_products_of_an_unknown_session_is_404(api, creator):
    resp = api.patch(f"/api/sessions/{uuid.uuid4()}/products", json={"productIds": []}, as_=creator)
    assert resp.status == 404


# featured toggle ----------------------------------------------------------------------------------


def test_owner_toggles_featured_on_and_off(api, creator, show, earbuds):
    on = api.patch(products_url(show, earbuds["id"], "feature"), as_=creator)
    assert on.status == 200
    assert on.data["featured"] is True
    off = api.patch(products_url(show, earbuds["id"], "feature"), as_=creator)
    assert off.data["featured"] is False


def test_toggling_a_product_outside_the_session_is_404(api, creator, show, charger):
    assert api.patch(products_url(show, charger["id"], "feature"), as_=creator).status == 404


def test_other_creator_cannot_toggle_featured(api, other_creator, show, earbuds):
    assert api.patch(products_url(show, earbuds["id"], "feature"), as_=other_creator).status == 403


def test_viewer_cannot_toggle_featured(api, viewer, show, earbuds):
    assert api.patch(products_url(show, earbuds["id"], "feature"), as_=viewer).status == 403


def test_anonymous_cannot_toggle_featured(api, show, earbuds):
    assert api.patch(products_url(show, earbuds["id"], "feature")).status == 401


# display order ------------------------------------------------------------------------------------


def test_owner_moves_a_product_first(api, creator, show, earbuds, speaker):
    resp = api.patch(products_url(show, speaker["id"], "order"), json={"displayOrder": 0}, as_=creator)
    api.patch(products_url(show, earbuds["id"], "order"), json={"displayOrder": 5}, as_=creator)
    assert resp.status == 200
    assert resp.data["displayOrder"] == 0
    assert listed(api, show) == [speaker["id"], earbuds["id"]]


@pytest.mark.parametrize(
    "body",
    [{}, {"displayOrder": "first"}, {"displayOrder": -3}, {"displayOrder": 2**31}, {"displayOrder": 1.5}],
)
def test_invalid_display_orders_are_400(api, creator, show, earbuds, body):
    resp = api.patch(products_url(show, earbuds["id"], "order"), json=body, as_=creator)
    assert resp.status == 400
    assert "displayOrder" in resp.json["details"]


def test_reordering_a_product_outside_the_session_is_404(api, creator, show, charger):
    resp = api.patch(products_url(show, charger["id"], "order"), json={"displayOrder": 1}, as_=creator)
    assert resp.status == 404


def test_other_creator_cannot_reorder(api, other_creator, show, earbuds):
    resp = api.patch(products_url(show, earbuds["id"], "order"), json={"displayOrder": 1}, as_=other_creator)
    assert resp.status == 403


def test_viewer_cannot_reorder(api, viewer, show, earbuds):
    assert (
        api.patch(products_url(show, earbuds["id"], "order"), json={"displayOrder": 1}, as_=viewer).status
        == 403
    )


def test_anonymous_cannot_reorder(api, show, earbuds):
    assert api.patch(products_url(show, earbuds["id"], "order"), json={"displayOrder": 1}).status == 401


def test_admin_can_reorder(api, admin, show, earbuds):
    assert (
        api.patch(products_url(show, earbuds["id"], "order"), json={"displayOrder": 9}, as_=admin).status
        == 200
    )
