"""Orders (SPEC §11): buying from a drop, idempotent retries, every status move, permissions, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bazaar.domain.clock import parse_iso
from tests.api.conftest import show_in_status
from tests.conftest import register
from tests.support.selling import (
    bought,
    buy,
    expire_hold,
    open_drop,
    remaining_of,
    stock_of,
    stocked_product,
)
from tests.support.shows import end, set_status


@pytest.fixture
def lamp(api, creator):
    return stocked_product(api, creator, stock=10, name="Desk Lamp", price=20)


@pytest.fixture
def show(api, creator, lamp):
    """A live show selling `lamp` with a drop of 5 at 15.00, 2 per buyer."""
    show = show_in_status(api, creator, "live", productIds=[lamp["id"]])
    open_drop(api, creator, show, lamp, quantity=5, dropPrice=15, limitPerBuyer=2)
    return show


def _post(api, actor, order, action, json=None):
    return api.post(f"/api/orders/{order['id']}/{action}", as_=actor, json=json)


# buying ----------------------------------------------------------------------------------------------
def test_buying_reserves_units_at_the_drop_price(api, show, lamp, viewer, creator, settings, room_events):
    events = room_events(show["id"])
    resp = buy(api, viewer, show, lamp, quantity=2)
    assert resp.status == 201, resp
    order = resp.data
    assert order["status"] == "reserved"
    assert (order["quantity"], order["unitPrice"], order["total"], order["currency"]) == (
        2,
        15.0,
        30.0,
        "USD",
    )
    assert order["buyerId"] == viewer.id and order["sellerId"] == creator.id
    assert order["product"] == {"id": lamp["id"], "name": "Desk Lamp", "imageUrl": None}
    hold = parse_iso(order["reservedUntil"]) - parse_iso(order["createdAt"])
    assert hold == timedelta(seconds=settings.order_hold_s)
    assert remaining_of(show, lamp) == 3
    placed = events.wait_for("order-placed")
    assert placed == {
        "sessionId": show["id"],
        "productId": lamp["id"],
        "quantity": 2,
        "buyerName": viewer.username[0] + "*" * (len(viewer.username) - 1),
    }
    assert events.wait_for("stock-update") == {
        "sessionId": show["id"],
        "productId": lamp["id"],
        "remaining": 3,
    }


def test_without_a_drop_price_the_product_price_applies(api, creator, lamp, viewer):
    show = show_in_status(api, creator, "live", productIds=[lamp["id"]])
    open_drop(api, creator, show, lamp, quantity=1)
    assert bought(api, viewer, show, lamp)["unitPrice"] == 20.0


def test_a_retry_with_the_same_key_returns_the_same_order(api, show, lamp, viewer):
    first = buy(api, viewer, show, lamp, key="tap-1")
    again = buy(api, viewer, show, lamp, key="tap-1")
    assert (first.status, again.status) == (201, 200)
    assert again.data["id"] == first.data["id"]
    assert remaining_of(show, lamp) == 4


def test_after_the_sell_out_a_retry_still_returns_its_whole_order(api, creator, lamp, viewer):
    show = show_in_status(api, creator, "live", productIds=[lamp["id"]])
    open_drop(api, creator, show, lamp, quantity=1)
    first = buy(api, viewer, show, lamp, key="tap-1")
    assert buy(api, register(api), show, lamp).json["error"] == "sold_out"  # the worker knows it sold out
    again = buy(api, viewer, show, lamp, key="tap-1")
    assert (first.status, again.status) == (201, 200)
    assert again.data == first.data
    assert again.data["product"]["name"] == lamp["name"]
    reused = buy(api, viewer, show, lamp, quantity=2, key="tap-1")
    assert (reused.status, reused.json["error"]) == (409, "idempotency_key_reused")


def test_a_used_key_with_another_body_is_409(api, show, lamp, viewer):
    buy(api, viewer, show, lamp, key="tap-1")
    resp = buy(api, viewer, show, lamp, quantity=2, key="tap-1")
    assert resp.status == 409
    assert resp.json["error"] == "idempotency_key_reused"
    assert remaining_of(show, lamp) == 4


def test_keys_are_per_buyer(api, show, lamp, viewer):
    other = register(api)
    assert buy(api, viewer, show, lamp, key="same").status == 201
    assert buy(api, other, show, lamp, key="same").status == 201


@pytest.mark.parametrize("key", [None, "", "k" * 65])
def test_the_idempotency_key_is_required_and_short(api, show, lamp, viewer, key):
    headers = {} if key is None else {"Idempotency-Key": key}
    resp = api.post(
        f"/api/sessions/{show['id']}/orders", json={"productId": lamp["id"]}, as_=viewer, headers=headers
    )
    assert resp.status == 400
    assert remaining_of(show, lamp) == 5


def test_buying_needs_sign_in(api, show, lamp):
    assert buy(api, None, show, lamp).status == 401


def test_a_deleted_buyer_token_is_401_even_on_a_sold_out_drop(api, show, lamp, viewer):
    # The buy request reads its user in the same statement as the Idempotency-Key (not before it).
    for quantity in (2, 2, 1):
        bought(api, register(api), show, lamp, quantity=quantity)
    assert buy(api, register(api), show, lamp).json["error"] == "sold_out"
    assert api.delete(f"/api/users/{viewer.id}", as_=viewer).status == 204
    for _ in range(2):  # the second answer comes after the worker learned the drop sold out
        resp = buy(api, viewer, show, lamp)
        assert resp.status == 401
        assert resp.json["error"] == "invalid_token"
    assert remaining_of(show, lamp) == 0


@pytest.mark.parametrize("body", [{}, {"productId": "nope"}, {"productId": None}])
def test_a_malformed_order_is_400(api, show, viewer, body):
    resp = api.post(
        f"/api/sessions/{show['id']}/orders", json=body, as_=viewer, headers={"Idempotency-Key": "k"}
    )
    assert resp.status == 400


def test_a_bad_quantity_is_400(api, show, lamp, viewer):
    assert buy(api, viewer, show, lamp, quantity=0).status == 400


def test_a_product_not_in_the_show_is_400(api, show, creator, viewer):
    stranger = stocked_product(api, creator)
    assert buy(api, viewer, show, stranger).status == 400


def test_sold_out_is_a_clean_409(api, creator, lamp, viewer, room_events):
    show = show_in_status(api, creator, "live", productIds=[lamp["id"]])
    open_drop(api, creator, show, lamp, quantity=1)
    events = room_events(show["id"])
    bought(api, viewer, show, lamp)
    resp = buy(api, register(api), show, lamp)
    assert resp.status == 409
    assert resp.json["error"] == "sold_out"
    assert events.wait_for("sold-out") == {"sessionId": show["id"], "productId": lamp["id"]}
    assert remaining_of(show, lamp) == 0


def test_without_a_drop_nothing_is_on_sale(api, creator, lamp, viewer):
    show = show_in_status(api, creator, "live", productIds=[lamp["id"]])
    resp = buy(api, viewer, show, lamp)
    assert resp.status == 409
    assert resp.json["error"] == "drop_not_open"


@pytest.mark.parametrize("window", [{"startsAt": "2099-01-01T00:00:00Z"}, {"endsAt": "2000-01-01T00:00:00Z"}])
def test_outside_its_window_a_drop_is_not_open(api, creator, lamp, viewer, window):
    show = show_in_status(api, creator, "live", productIds=[lamp["id"]])
    open_drop(api, creator, show, lamp, quantity=2, **window)
    resp = buy(api, viewer, show, lamp)
    assert resp.status == 409
    assert resp.json["error"] == "drop_not_open"


def test_buying_needs_the_show_on_air(api, creator, lamp, viewer):
    show = show_in_status(api, creator, "scheduled", productIds=[lamp["id"]])
    open_drop(api, creator, show, lamp, quantity=2)
    resp = buy(api, viewer, show, lamp)
    assert resp.status == 409
    assert resp.json["error"] == "session_not_live"
    set_status(api, creator, show, "live")
    set_status(api, creator, show, "paused")
    assert buy(api, viewer, show, lamp).status == 201  # paused still sells


def test_after_the_show_ended_buying_is_409(api, show, creator, lamp, viewer):
    end(api, creator, show)
    resp = buy(api, viewer, show, lamp)
    assert resp.status == 409
    assert resp.json["error"] == "session_not_live"


def test_the_per_buyer_limit(api, show, lamp, viewer):
    assert buy(api, viewer, show, lamp, quantity=3).json["error"] == "limit_reached"
    bought(api, viewer, show, lamp, quantity=2)
    resp = buy(api, viewer, show, lamp)
    assert resp.status == 409
    assert resp.json["error"] == "limit_reached"
    assert remaining_of(show, lamp) == 3


def test_a_cancelled_order_no_longer_counts_against_the_limit(api, show, lamp, viewer):
    order = bought(api, viewer, show, lamp, quantity=2)
    _post(api, viewer, order, "cancel")
    assert buy(api, viewer, show, lamp, quantity=2).status == 201


def test_too_many_attempts_are_429(api, show, lamp, viewer, settings):
    for _ in range(settings.order_rate_count):
        buy(api, viewer, show, lamp, quantity=3)  # limit_reached, but counted
    resp = buy(api, viewer, show, lamp)
    assert resp.status == 429
    assert int(resp.headers["retry-after"]) >= 1


# reading ---------------------------------------------------------------------------------------------
def test_a_buyer_lists_only_their_own_orders_newest_first(api, show, lamp, viewer):
    first = bought(api, viewer, show, lamp)
    second = bought(api, viewer, show, lamp)
    bought(api, register(api), show, lamp)
    resp = api.get("/api/orders", as_=viewer)
    assert resp.status == 200
    assert [o["id"] for o in resp.data] == [second["id"], first["id"]]
    assert resp.json["count"] == 2
    _post(api, viewer, first, "cancel")
    cancelled = api.get("/api/orders", as_=viewer, params={"status": "cancelled"}).data
    assert [o["id"] for o in cancelled] == [first["id"]]


@pytest.mark.parametrize("params", [{"status": "lost"}, {"limit": "0"}, {"offset": "-1"}])
def test_bad_list_parameters_are_400(api, viewer, params):
    assert api.get("/api/orders", as_=viewer, params=params).status == 400


def test_an_order_is_visible_to_its_buyer_seller_and_admins_only(api, show, lamp, viewer, creator, admin):
    order = bought(api, viewer, show, lamp)
    for actor in (viewer, creator, admin):
        resp = api.get(f"/api/orders/{order['id']}", as_=actor)
        assert resp.status == 200
        assert resp.data["id"] == order["id"]
    assert api.get(f"/api/orders/{order['id']}", as_=register(api)).status == 404
    assert api.get(f"/api/orders/{order['id']}").status == 401


def test_the_show_orders_are_for_its_owner_and_admins(api, show, lamp, viewer, creator, admin, other_creator):
    order = bought(api, viewer, show, lamp)
    for actor in (creator, admin):
        resp = api.get(f"/api/sessions/{show['id']}/orders", as_=actor)
        assert [o["id"] for o in resp.data] == [order["id"]]
    assert api.get(f"/api/sessions/{show['id']}/orders", as_=other_creator).status == 403
    assert api.get(f"/api/sessions/{show['id']}/orders", as_=viewer).status == 403
    paid = api.get(f"/api/sessions/{show['id']}/orders", as_=creator, params={"status": "paid"})
    assert paid.data == []


# status moves ----------------------------------------------------------------------------------------
def test_the_buyer_cancels_a_reservation_and_units_return(api, show, lamp, viewer):
    order = bought(api, viewer, show, lamp, quantity=2)
    resp = _post(api, viewer, order, "cancel")
    assert resp.status == 200
    assert resp.data["status"] == "cancelled"
    assert resp.data["cancelledAt"] is not None
    assert remaining_of(show, lamp) == 5
    assert _post(api, viewer, order, "cancel").status == 409  # nothing leaves cancelled
    assert remaining_of(show, lamp) == 5


def test_the_seller_cancels_too_but_strangers_cannot(api, show, lamp, viewer, creator):
    order = bought(api, viewer, show, lamp)
    assert _post(api, register(api), order, "cancel").status == 404
    assert _post(api, creator, order, "cancel").data["status"] == "cancelled"


def test_the_seller_marks_paid_fulfils_and_refunds(api, show, lamp, viewer, creator):
    order = bought(api, viewer, show, lamp)
    paid = _post(api, creator, order, "mark-paid", json={"reference": "bank transfer 42"})
    assert paid.status == 200
    assert paid.data["status"] == "paid"
    assert (paid.data["paymentProvider"], paid.data["paymentReference"]) == ("manual", "bank transfer 42")
    assert paid.data["paidAt"] is not None
    assert _post(api, viewer, order, "cancel").json["currentStatus"] == "paid"
    fulfilled = _post(api, creator, order, "fulfil", json={"trackingNumber": "1Z999"})
    assert fulfilled.data["status"] == "fulfilled"
    assert fulfilled.data["trackingNumber"] == "1Z999"
    assert _post(api, creator, order, "refund").status == 409  # fulfilled → refunded is not a move


def test_a_paid_order_is_refunded_by_the_seller_or_an_admin(api, show, lamp, viewer, creator, admin):
    order = bought(api, viewer, show, lamp)
    _post(api, creator, order, "mark-paid")
    assert _post(api, viewer, order, "refund").status == 403
    resp = _post(api, admin, order, "refund")
    assert resp.data["status"] == "refunded"
    assert resp.data["refundedAt"] is not None
    assert remaining_of(show, lamp) == 4  # a refund does not put goods back on sale


def test_the_buyer_cannot_mark_paid_or_fulfil(api, show, lamp, viewer):
    order = bought(api, viewer, show, lamp)
    assert _post(api, viewer, order, "mark-paid").status == 403
    assert _post(api, viewer, order, "fulfil").status == 403


@pytest.mark.parametrize("action", ["fulfil", "refund"])
def test_a_reservation_cannot_skip_payment(api, show, lamp, viewer, creator, action):
    order = bought(api, viewer, show, lamp)
    resp = _post(api, creator, order, action)
    assert resp.status == 409
    assert resp.json["currentStatus"] == "reserved"


def test_unknown_orders_are_404(api, viewer):
    assert api.get("/api/orders/00000000-0000-0000-0000-000000000000", as_=viewer).status == 404
    assert api.get("/api/orders/not-a-uuid", as_=viewer).status == 404


def test_mark_paid_refuses_unknown_fields(api, show, lamp, viewer, creator):
    order = bought(api, viewer, show, lamp)
    assert _post(api, creator, order, "mark-paid", json={"status": "fulfilled"}).status == 400
    assert api.get(f"/api/orders/{order['id']}", as_=viewer).data["status"] == "reserved"


# expiry ----------------------------------------------------------------------------------------------
def test_an_unpaid_reservation_expires_once_and_its_units_return(api, services, show, lamp, viewer):
    order = bought(api, viewer, show, lamp, quantity=2)
    kept = bought(api, register(api), show, lamp)
    expire_hold(order)
    assert services.orders.expire_due() == 1
    assert services.orders.expire_due() == 0
    expired = api.get(f"/api/orders/{order['id']}", as_=viewer).data
    assert expired["status"] == "expired"
    assert expired["expiredAt"] is not None
    assert api.get(f"/api/orders/{kept['id']}", as_=viewer).status == 404  # not theirs
    assert remaining_of(show, lamp) == 4
    assert _post(api, viewer, order, "cancel").status == 409


def test_units_of_an_expiry_after_the_show_go_back_to_stock(api, services, show, creator, lamp, viewer):
    order = bought(api, viewer, show, lamp)
    end(api, creator, show)
    assert stock_of(lamp) == 9  # 4 unsold back; 1 still reserved
    expire_hold(order)
    services.orders.expire_due()
    assert stock_of(lamp) == 10


def test_a_paid_order_never_expires(api, services, show, lamp, viewer, creator):
    order = bought(api, viewer, show, lamp)
    _post(api, creator, order, "mark-paid")
    expire_hold(order)
    assert services.orders.expire_due() == 0


def test_a_show_or_product_with_orders_cannot_be_deleted(api, show, creator, lamp, viewer):
    bought(api, viewer, show, lamp)
    end(api, creator, show)
    resp = api.delete(f"/api/sessions/{show['id']}", as_=creator)
    assert resp.status == 409
    assert resp.json["error"] == "session_has_orders"
    resp = api.delete(f"/api/products/{lamp['id']}", as_=creator)
    assert resp.status == 409
    assert resp.json["error"] == "product_has_orders"
    assert len(api.get("/api/orders", as_=viewer).data) == 1
