"""Drops (SPEC §11): units reserved for a show out of the product's stock, returned when it ends."""

from __future__ import annotations

import pytest

from tests.api.conftest import show_in_status
from tests.conftest import make_product
from tests.support.selling import bought, open_drop, remaining_of, set_drop, stock_of, stocked_product
from tests.support.shows import end


@pytest.fixture
def lamp(api, creator):
    return stocked_product(api, creator, stock=10, name="Desk Lamp", price=20)


def _show(api, creator, product, status="live"):
    return show_in_status(api, creator, status, productIds=[product["id"]])


def test_stock_quantity_is_shown_and_drives_in_stock(api, creator):
    product = stocked_product(api, creator, stock=0, inStock=True)
    assert product["stockQuantity"] == 0
    assert product["inStock"] is False
    resp = api.put(f"/api/products/{product['id']}", json={"stockQuantity": 3}, as_=creator)
    assert resp.json["stockQuantity"] == 3
    assert resp.json["inStock"] is True


def test_untracked_stock_is_null(api, creator):
    assert make_product(api, creator)["stockQuantity"] is None


def test_negative_stock_is_refused(api, creator):
    resp = api.post("/api/products", json={"name": "X", "price": 1, "stockQuantity": -1}, as_=creator)
    assert resp.status == 400


def test_opening_a_drop_reserves_units_from_stock(api, creator, lamp, room_events):
    show = _show(api, creator, lamp)
    events = room_events(show["id"])
    drop = open_drop(api, creator, show, lamp, quantity=4, dropPrice=15, limitPerBuyer=2)
    assert drop == {
        "productId": lamp["id"],
        "dropQuantity": 4,
        "remaining": 4,
        "dropPrice": 15.0,
        "limitPerBuyer": 2,
        "startsAt": None,
        "endsAt": None,
    }
    assert stock_of(lamp) == 6
    update = events.wait_for("drop-updated")
    assert update == {
        "sessionId": show["id"],
        "productId": lamp["id"],
        "remaining": 4,
        "dropQuantity": 4,
        "dropPrice": 15.0,
    }


def test_a_drop_may_be_set_while_scheduled(api, creator, lamp):
    show = _show(api, creator, lamp, status="scheduled")
    assert open_drop(api, creator, show, lamp, quantity=2)["limitPerBuyer"] == 1


def test_a_drop_larger_than_the_stock_is_409_and_changes_nothing(api, creator, lamp):
    show = _show(api, creator, lamp)
    resp = set_drop(api, creator, show, lamp, dropQuantity=11)
    assert resp.status == 409
    assert resp.json["error"] == "insufficient_stock"
    assert stock_of(lamp) == 10
    assert remaining_of(show, lamp) is None


def test_untracked_stock_allows_any_drop(api, creator):
    product = make_product(api, creator)
    show = _show(api, creator, product)
    assert open_drop(api, creator, show, product, quantity=500)["remaining"] == 500


def test_growing_and_shrinking_a_drop_moves_the_difference(api, creator, lamp, viewer):
    show = _show(api, creator, lamp)
    open_drop(api, creator, show, lamp, quantity=4)
    bought(api, viewer, show, lamp)
    assert open_drop(api, creator, show, lamp, quantity=6)["remaining"] == 5
    assert stock_of(lamp) == 4
    assert open_drop(api, creator, show, lamp, quantity=2)["remaining"] == 1
    assert stock_of(lamp) == 8


def test_a_drop_cannot_offer_fewer_than_already_ordered(api, creator, lamp, viewer):
    show = _show(api, creator, lamp)
    open_drop(api, creator, show, lamp, quantity=3, limitPerBuyer=2)
    bought(api, viewer, show, lamp, quantity=2)
    resp = set_drop(api, creator, show, lamp, dropQuantity=1)
    assert resp.status == 409
    assert resp.json["error"] == "drop_below_ordered"
    assert remaining_of(show, lamp) == 1


def test_drop_quantity_zero_ends_the_drop_and_returns_units(api, creator, lamp, viewer):
    show = _show(api, creator, lamp)
    open_drop(api, creator, show, lamp, quantity=4)
    bought(api, viewer, show, lamp)
    drop = open_drop(api, creator, show, lamp, quantity=0)
    assert (drop["dropQuantity"], drop["remaining"]) == (0, 0)
    assert stock_of(lamp) == 9  # 10 - 1 sold


def test_a_reopened_drop_counts_the_units_its_earlier_reservations_hold(api, creator, lamp, viewer):
    """They come back to the drop if they expire or are cancelled: the drop never has more left than it
    offers."""
    show = _show(api, creator, lamp)
    open_drop(api, creator, show, lamp, quantity=5, limitPerBuyer=2)
    order = bought(api, viewer, show, lamp, quantity=2)
    open_drop(api, creator, show, lamp, quantity=0)
    assert stock_of(lamp) == 8

    reopened = open_drop(api, creator, show, lamp, quantity=5)
    assert (reopened["dropQuantity"], reopened["remaining"]) == (5, 3)
    assert stock_of(lamp) == 5
    assert set_drop(api, creator, show, lamp, dropQuantity=1).json["error"] == "drop_below_ordered"
    assert api.post(f"/api/orders/{order['id']}/cancel", as_=viewer).status == 200
    assert remaining_of(show, lamp) == 5
    assert stock_of(lamp) == 5


def test_end_stream_returns_unsold_units(api, creator, lamp, viewer):
    show = _show(api, creator, lamp)
    open_drop(api, creator, show, lamp, quantity=5)
    bought(api, viewer, show, lamp)
    end(api, creator, show)
    assert stock_of(lamp) == 9
    assert remaining_of(show, lamp) == 0


def test_only_the_owner_sets_a_drop(api, creator, lamp, other_creator):
    show = _show(api, creator, lamp)
    assert set_drop(api, other_creator, show, lamp, dropQuantity=1).status == 403
    assert set_drop(api, None, show, lamp, dropQuantity=1).status == 401


def test_a_product_not_in_the_show_is_404(api, creator, lamp):
    other = stocked_product(api, creator)
    show = _show(api, creator, lamp)
    assert set_drop(api, creator, show, other, dropQuantity=1).status == 404


def test_no_drop_on_an_ended_show(api, creator, lamp):
    show = _show(api, creator, lamp, status="ended")
    resp = set_drop(api, creator, show, lamp, dropQuantity=1)
    assert resp.status == 409
    assert resp.json["error"] == "session_ended"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"dropQuantity": -1},
        {"dropQuantity": "3"},
        {"dropQuantity": 1, "limitPerBuyer": 0},
        {"dropQuantity": 1, "dropPrice": 1.001},
        {"dropQuantity": 1, "startsAt": "2030-01-02T00:00:00Z", "endsAt": "2030-01-01T00:00:00Z"},
        {"dropQuantity": 1, "sellerId": 5},
    ],
)
def test_invalid_drops_are_400_and_change_nothing(api, creator, lamp, body):
    show = _show(api, creator, lamp)
    resp = set_drop(api, creator, show, lamp, **body)
    assert resp.status == 400, resp
    assert stock_of(lamp) == 10


def test_deleting_a_show_gives_back_its_drop_units(api, creator, lamp):
    show = _show(api, creator, lamp, status="scheduled")
    open_drop(api, creator, show, lamp, quantity=4)
    assert api.delete(f"/api/sessions/{show['id']}", as_=creator).status == 200
    assert stock_of(lamp) == 10


def test_taking_a_product_out_of_the_show_gives_back_its_drop_units(api, creator, lamp):
    show = _show(api, creator, lamp)
    open_drop(api, creator, show, lamp, quantity=4)
    assert api.delete(f"/api/sessions/{show['id']}/products/{lamp['id']}", as_=creator).status == 200
    assert stock_of(lamp) == 10
