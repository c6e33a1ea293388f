"""The signed payment webhook (SPEC §11): HMAC over `timestamp.body`, tolerance, replays, amounts."""

from __future__ import annotations

import json
import time

import pytest

from bazaar.domain.models import WebhookOutbox
from bazaar.infra import db
from bazaar.services.payments import signature_header
from tests.api.conftest import show_in_status
from tests.conftest import register
from tests.support import databases
from tests.support.selling import bought, expire_hold, open_drop, remaining_of, stocked_product

SECRET = "whsec_test_0123456789"


@pytest.fixture
def pay_api(own_app):
    """An app of its own with PAYMENT_WEBHOOK_SECRET set (on a database of its own, whose user ids start
    at 1 again: the rate limits of the shared Redis start afresh too)."""
    if databases.postgres_mode():
        databases.flush_redis()
    return own_app(payment_webhook_secret=SECRET)


def _order_in(api) -> dict:
    """A reserved order of 2 units (of a drop of 5) and its viewer, show and product."""
    creator = register(api, "creator")
    viewer = register(api)
    lamp = stocked_product(api, creator, stock=10, price=20)
    show = show_in_status(api, creator, "live", productIds=[lamp["id"]])
    open_drop(api, creator, show, lamp, quantity=5, limitPerBuyer=2)
    order = bought(api, viewer, show, lamp, quantity=2)
    return {"order": order, "viewer": viewer, "show": show, "lamp": lamp}


@pytest.fixture
def order(pay_api):
    return _order_in(pay_api)


def _event(order: dict, type_="payment.succeeded", event_id="evt_1", **data) -> dict:
    return {
        "id": event_id,
        "type": type_,
        "createdAt": "2026-12-01T10:00:00Z",
        "data": {
            "orderId": order["id"],
            "amount": order["total"],
            "currency": order["currency"],
            "reference": "pi_123",
            **data,
        },
    }


def _deliver(api, event: dict, *, secret=SECRET, age_s=0, header=None, provider="generic"):
    raw = json.dumps(event).encode()
    signature = header if header is not None else signature_header(secret, raw, int(time.time()) - age_s)
    return api.post(
        f"/api/payments/webhook/{provider}",
        body=raw,
        headers={"Content-Type": "application/json", "X-Bazaar-Signature": signature},
    )


def _status(api, ctx) -> str:
    return api.get(f"/api/orders/{ctx['order']['id']}", as_=ctx["viewer"]).data["status"]


def test_a_signed_success_marks_the_order_paid(pay_api, order):
    resp = _deliver(pay_api, _event(order["order"]))
    assert resp.status == 200, resp
    assert resp.data == {
        "eventId": "evt_1",
        "orderId": order["order"]["id"],
        "status": "paid",
        "duplicate": False,
    }
    paid = pay_api.get(f"/api/orders/{order['order']['id']}", as_=order["viewer"]).data
    assert (paid["status"], paid["paymentProvider"], paid["paymentReference"]) == (
        "paid",
        "generic",
        "pi_123",
    )


def test_a_replayed_event_changes_nothing(pay_api, order):
    _deliver(pay_api, _event(order["order"]))
    again = _deliver(pay_api, _event(order["order"]))
    assert again.status == 200
    assert again.data["duplicate"] is True
    assert _status(pay_api, order) == "paid"


def test_a_failed_payment_cancels_and_returns_units(pay_api, order):
    resp = _deliver(pay_api, _event(order["order"], "payment.failed"))
    assert resp.data["status"] == "cancelled"
    assert remaining_of(order["show"], order["lamp"]) == 5


@pytest.mark.parametrize("data", [{"amount": 1.0}, {"currency": "EUR"}])
def test_a_mismatched_amount_or_currency_is_409_and_changes_nothing(pay_api, order, data):
    resp = _deliver(pay_api, _event(order["order"], **data))
    assert resp.status == 409
    assert resp.json["error"] == "payment_mismatch"
    assert _status(pay_api, order) == "reserved"
    # Not recorded as seen: the corrected event with the same id still applies.
    assert _deliver(pay_api, _event(order["order"])).data["status"] == "paid"


@pytest.mark.parametrize(
    "tamper",
    [
        {"secret": "wrong-secret"},
        {"header": ""},
        {"header": "t=abc,v1=00"},
        {"header": "v1=00"},
        {"age_s": 301},
        {"age_s": -301},
    ],
)
def test_a_bad_signature_is_400_and_changes_nothing(pay_api, order, tamper):
    resp = _deliver(pay_api, _event(order["order"]), **tamper)
    assert resp.status == 400, resp
    assert resp.json["error"] in ("invalid_signature", "signature_expired")
    assert _status(pay_api, order) == "reserved"


def test_a_signature_over_another_body_is_refused(pay_api, order):
    header = signature_header(SECRET, b'{"id":"evt_other"}')
    resp = _deliver(pay_api, _event(order["order"]), header=header)
    assert resp.status == 400
    assert _status(pay_api, order) == "reserved"


def test_an_event_for_a_cancelled_order_is_409(pay_api, order):
    pay_api.post(f"/api/orders/{order['order']['id']}/cancel", as_=order["viewer"])
    resp = _deliver(pay_api, _event(order["order"]))
    assert resp.status == 409
    assert (resp.json["error"], resp.json["currentStatus"]) == ("payment_refused", "cancelled")


def test_a_payment_after_expiry_is_refused_recorded_and_reported_for_a_refund(own_app, services):
    """The money arrived, the order had expired (its units back on sale): 409, the order stays expired,
    the seller's system is told to refund (order.refund_due), and a replay answers the same."""
    if databases.postgres_mode():
        databases.flush_redis()
    api = own_app(payment_webhook_secret=SECRET, webhook_url="http://127.0.0.1:9/receiver")
    ctx = _order_in(api)
    expire_hold(ctx["order"])
    assert services.orders.expire_due() == 1

    first, replay = (_deliver(api, _event(ctx["order"], event_id="evt_late")) for _ in range(2))

    for resp in (first, replay):
        assert resp.status == 409, resp
        assert (resp.json["error"], resp.json["currentStatus"]) == ("payment_refused", "expired")
    assert _status(api, ctx) == "expired"
    assert remaining_of(ctx["show"], ctx["lamp"]) == 5  # the expired units stay on sale
    with db.connection():
        due = [r.payload for r in WebhookOutbox.select() if r.event_type == "order.refund_due"]
    assert len(due) == 1
    assert due[0]["data"]["id"] == ctx["order"]["id"]
    assert due[0]["data"]["status"] == "expired"
    assert due[0]["data"]["payment"] == {
        "provider": "generic",
        "eventId": "evt_late",
        "amount": ctx["order"]["total"],
        "currency": "USD",
    }


@pytest.mark.parametrize(
    "event",
    [
        {"id": "evt_x", "type": "payment.refunded", "data": {}},
        {"id": "evt_x", "type": "payment.succeeded"},
        {
            "id": "evt_x",
            "type": "payment.succeeded",
            "data": {"orderId": "nope", "amount": 1, "currency": "USD"},
        },
    ],
)
def test_malformed_events_are_400(pay_api, order, event):
    assert _deliver(pay_api, event).status == 400


def test_an_unknown_order_is_404(pay_api, order):
    event = _event(order["order"], orderId="00000000-0000-0000-0000-000000000000")
    assert _deliver(pay_api, event).status == 404


def test_an_unknown_provider_is_404(pay_api, order):
    assert _deliver(pay_api, _event(order["order"]), provider="acme").status == 404


def test_without_a_secret_the_webhook_is_unavailable(api):
    resp = api.post(
        "/api/payments/webhook/generic",
        body=b"{}",
        headers={"Content-Type": "application/json", "X-Bazaar-Signature": "t=1,v1=00"},
    )
    assert resp.status == 503
