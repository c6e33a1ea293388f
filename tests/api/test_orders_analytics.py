"""Sales in analytics (SPEC §11 → §7): per show, per product, creator-wide; paid and fulfilled orders
count, reserved/cancelled/expired ones do not, a refund takes its order back out."""

from __future__ import annotations

import pytest

from tests.api.conftest import show_in_status
from tests.api.test_analytics import add_view
from tests.conftest import register
from tests.support.selling import bought, open_drop, stocked_product
from tests.support.shows import end


@pytest.fixture
def lamp(api, creator):
    return stocked_product(api, creator, stock=20, name="Desk Lamp", price=20)


@pytest.fixture
def mug(api, creator):
    return stocked_product(api, creator, stock=20, name="Mug", price=8)


@pytest.fixture
def show(api, creator, lamp, mug):
    show = show_in_status(api, creator, "live", productIds=[lamp["id"], mug["id"]])
    open_drop(api, creator, show, lamp, quantity=10, dropPrice=15, limitPerBuyer=3)
    open_drop(api, creator, show, mug, quantity=10, limitPerBuyer=3)
    return show


def _pay(api, seller, order):
    assert api.post(f"/api/orders/{order['id']}/mark-paid", as_=seller).status == 200


def _report(api, creator, show):
    resp = api.get(f"/api/sessions/{show['id']}/analytics", as_=creator)
    assert resp.status == 200, resp
    return resp.json


def test_show_and_product_sales(api, creator, show, lamp, mug):
    alice, bob, carol = register(api), register(api), register(api)
    for i, buyer in enumerate((alice, bob, carol, register(api))):
        add_view(show, f"u:{buyer.id}", i, None, user_id=buyer.id)
    _pay(api, creator, bought(api, alice, show, lamp, quantity=2))  # 30.00
    _pay(api, creator, bought(api, alice, show, mug))  # 8.00
    paid_then_refunded = bought(api, bob, show, lamp)
    _pay(api, creator, paid_then_refunded)
    api.post(f"/api/orders/{paid_then_refunded['id']}/refund", as_=creator)
    bought(api, carol, show, mug)  # reserved: not a sale
    cancelled = bought(api, carol, show, lamp)
    api.post(f"/api/orders/{cancelled['id']}/cancel", as_=carol)

    report = _report(api, creator, show)
    assert report["sales"] == {
        "orders": 2,
        "unitsSold": 3,
        "revenue": 38.0,
        "buyers": 1,
        "conversionRate": 25.0,
    }
    by_product = {p["productName"]: p["sales"] for p in report["products"]["list"]}
    assert by_product["Desk Lamp"] == {
        "orders": 1,
        "unitsSold": 2,
        "revenue": 30.0,
        "buyers": 1,
        "conversionRate": 25.0,
    }
    assert by_product["Mug"]["revenue"] == 8.0


def test_sales_stay_after_the_show_and_fulfilment_keeps_them(api, creator, show, lamp, viewer):
    order = bought(api, viewer, show, lamp)
    _pay(api, creator, order)
    api.post(f"/api/orders/{order['id']}/fulfil", as_=creator)
    end(api, creator, show)
    sales = _report(api, creator, show)["sales"]
    assert (sales["orders"], sales["unitsSold"], sales["revenue"]) == (1, 1, 15.0)
    assert sales["conversionRate"] == 0.0  # no recorded viewers: no rate rather than a division by zero


def test_a_show_without_orders_has_zero_sales(api, creator, show):
    assert _report(api, creator, show)["sales"] == {
        "orders": 0,
        "unitsSold": 0,
        "revenue": 0.0,
        "buyers": 0,
        "conversionRate": 0.0,
    }


def test_the_creator_report_sums_every_show(api, creator, show, lamp, viewer):
    other = show_in_status(api, creator, "live", productIds=[lamp["id"]])
    open_drop(api, creator, other, lamp, quantity=5)
    add_view(show, f"u:{viewer.id}", 0, None, user_id=viewer.id)
    add_view(other, f"u:{viewer.id}", 0, None, user_id=viewer.id)
    _pay(api, creator, bought(api, viewer, show, lamp))
    _pay(api, creator, bought(api, viewer, other, lamp))
    resp = api.get(f"/api/analytics/creator/{creator.id}", as_=creator)
    assert resp.json["data"]["sales"] == {
        "orders": 2,
        "unitsSold": 2,
        "revenue": 35.0,
        "buyers": 2,
        "conversionRate": 100.0,
    }
