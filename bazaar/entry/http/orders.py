"""Drops and orders (SPEC §11): PUT …/products/:productId/drop, POST/GET …/orders, /orders/… moves."""

from __future__ import annotations

import uuid

import falcon

from bazaar.domain.errors import Invalid
from bazaar.domain.models import OrderStatus
from bazaar.domain.validation import Choice, Id, Int, Money, Str, Timestamp, page_schema
from bazaar.domain.views import order_view
from bazaar.entry.http.common import body, ok, query, require_user
from bazaar.services.drops import DropService
from bazaar.services.orders import OrderService

MAX_IDEMPOTENCY_KEY_CHARS = 64
MAX_DROP_UNITS = 1_000_000
MAX_UNITS_PER_ORDER = 1000

DROP = {
    "dropQuantity": Int(attr="drop_quantity", minimum=0, maximum=MAX_DROP_UNITS, required=True),
    "dropPrice": Money(attr="drop_price", nullable=True),
    "limitPerBuyer": Int(attr="limit_per_buyer", minimum=1, maximum=MAX_UNITS_PER_ORDER, nullable=True),
    "startsAt": Timestamp(attr="drop_starts_at", nullable=True),
    "endsAt": Timestamp(attr="drop_ends_at", nullable=True),
}
NEW_ORDER = {
    "productId": Id(attr="product_id", required=True),
    "quantity": Int(minimum=1, maximum=MAX_UNITS_PER_ORDER, default=1),
}
ORDER_LIST = {**page_schema(), "status": Choice(OrderStatus.ALL, default=None)}
MARK_PAID = {"reference": Str(min_len=1, max_len=255, nullable=True)}
FULFIL = {"trackingNumber": Str(attr="tracking_number", min_len=1, max_len=255, nullable=True)}


def _idempotency_key(req: falcon.Request) -> str:
    key = (req.get_header("Idempotency-Key") or "").strip()
    if not key:
        raise Invalid("The Idempotency-Key header is required", code="idempotency_key_required")
    if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise Invalid(
            f"The Idempotency-Key header must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters",
            code="idempotency_key_invalid",
        )
    return key


def _orders(found) -> dict:
    return ok([order_view(order) for order in found], count=True)


class Drop:
    def __init__(self, drops: DropService):
        self.drops = drops

    @falcon.before(require_user)
    def on_put(self, req, resp, session_id: uuid.UUID, product_id: uuid.UUID):
        drop = self.drops.set_drop(req.context.user, session_id, product_id, body(req, DROP))
        resp.media = ok(drop)


class SessionOrders:
    def __init__(self, orders: OrderService):
        self.orders = orders

    @falcon.before(require_user)
    def on_post(self, req, resp, session_id: uuid.UUID):
        key = _idempotency_key(req)
        fields = body(req, NEW_ORDER)
        order, created = self.orders.place(
            req.context.user, session_id, fields["product_id"], fields["quantity"], key
        )
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.media = ok(order_view(order), message=None if created else "Already placed with this key")

    @falcon.before(require_user)
    def on_get(self, req, resp, session_id: uuid.UUID):
        page = query(req, ORDER_LIST)
        resp.media = _orders(self.orders.list_for_session(req.context.user, session_id, **page))


class Orders:
    def __init__(self, orders: OrderService):
        self.orders = orders

    @falcon.before(require_user)
    def on_get(self, req, resp):
        resp.media = _orders(self.orders.list_for_buyer(req.context.user, **query(req, ORDER_LIST)))


class OrderItem:
    def __init__(self, orders: OrderService):
        self.orders = orders

    @falcon.before(require_user)
    def on_get(self, req, resp, order_id: uuid.UUID):
        resp.media = ok(order_view(self.orders.get(req.context.user, order_id)))

    @falcon.before(require_user)
    def on_post_cancel(self, req, resp, order_id: uuid.UUID):
        body(req, {})
        resp.media = ok(order_view(self.orders.cancel(req.context.user, order_id)))

    @falcon.before(require_user)
    def on_post_paid(self, req, resp, order_id: uuid.UUID):
        reference = body(req, MARK_PAID).get("reference")
        resp.media = ok(order_view(self.orders.mark_paid(req.context.user, order_id, reference)))

    @falcon.before(require_user)
    def on_post_fulfil(self, req, resp, order_id: uuid.UUID):
        tracking = body(req, FULFIL).get("tracking_number")
        resp.media = ok(order_view(self.orders.fulfil(req.context.user, order_id, tracking)))

    @falcon.before(require_user)
    def on_post_refund(self, req, resp, order_id: uuid.UUID):
        body(req, {})
        resp.media = ok(order_view(self.orders.refund(req.context.user, order_id)))
