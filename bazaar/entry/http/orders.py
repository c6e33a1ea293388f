"""Drops and orders (SPEC §11): PUT …/products/:productId/drop, POST/GET …/orders, /orders/… moves."""

from __future__ import annotations

import functools
import threading
import uuid
from collections import deque
from contextlib import contextmanager

import falcon

from bazaar.domain.errors import Invalid, Unavailable
from bazaar.domain.views import order_view
from bazaar.entry.http import answers, schemas
from bazaar.entry.http.common import ok
from bazaar.entry.http.endpoint import REQUIRED, TOKEN, endpoint
from bazaar.services.drops import DropService
from bazaar.services.orders import OrderService

ORDER = answers.Ok[answers.Order]


def _idempotency_key(req: falcon.Request) -> str:
    key = (req.get_header("Idempotency-Key") or "").strip()
    if not key:
        raise Invalid("The Idempotency-Key header is required", code="idempotency_key_required")
    if len(key) > schemas.MAX_IDEMPOTENCY_KEY_CHARS:
        raise Invalid(
            f"The Idempotency-Key header must be at most {schemas.MAX_IDEMPOTENCY_KEY_CHARS} characters",
            code="idempotency_key_invalid",
        )
    return key


def _orders(found) -> dict:
    return ok([order_view(order) for order in found], count=True)


class Drop:
    def __init__(self, drops: DropService):
        self.drops = drops

    @endpoint(
        "Open, change or end (dropQuantity 0) a product's drop in the show (owner)",
        auth=REQUIRED,
        body=schemas.DropSettings,
        answer=answers.Ok[answers.Drop],
        errors=(403, 409),
    )
    def on_put(self, req, resp, session_id: uuid.UUID, product_id: uuid.UUID):
        fields = req.context.body.model_dump(exclude_unset=True)
        resp.media = ok(self.drops.set_drop(req.context.user, session_id, product_id, fields))


class Gate:
    """At most `size` holders at once; the others wait in arrival order, in memory.

    In front of the buy request (sign-in included): when the host says "go", thousands of requests
    reach a worker within a second, and a gevent worker would start them all at once. Each would then
    wait for a pooled connection once per statement, behind all the others, and hold it while the
    others run: connections held for seconds, pool waits running out (503). Behind the gate a few dozen
    at a time run their statements back to back (enough to keep the worker busy while some wait on the
    database), and once the drop is sold out the ones admitted after that answer from the worker's
    sold-out memo (`OrderService.place`)."""

    def __init__(self, size: int, wait_s: float):
        self._free = size
        self._wait_s = wait_s
        self._lock = threading.Lock()
        self._waiting: deque[threading.Event] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @contextmanager
    def admitted(self):
        with self._lock:
            turn = None
            if self._free and not self._waiting:
                self._free -= 1
            else:
                turn = threading.Event()
                self._waiting.append(turn)
        if turn is not None and not turn.wait(self._wait_s):
            with self._lock:
                served = turn.is_set()  # handed the place just as the wait ended: keep it
                if not served:
                    self._waiting.remove(turn)
            if not served:
                raise Unavailable("Too many buyers at once, try again")
        try:
            yield
        finally:
            self._leave()

    def _leave(self) -> None:
        """The place goes straight to the longest waiter, so a newcomer never overtakes one."""
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._free += 1


def _through_gate(responder):
    """The whole request behind the resource's gate (its `.endpoint` declaration is kept)."""

    @functools.wraps(responder)
    def gated(resource, req, resp, **params):
        with resource.gate.admitted():
            return responder(resource, req, resp, **params)

    return gated


class SessionOrders:
    def __init__(self, orders: OrderService):
        self.orders = orders
        self.gate = Gate(orders.settings.order_gate_size, orders.settings.order_gate_wait_s)

    @_through_gate
    @endpoint(
        "Buy from a drop (Idempotency-Key required; the same key and request again answers 200)",
        auth=TOKEN,
        headers=schemas.IdempotencyKey,
        body=schemas.NewOrder,
        status=201,
        answer=ORDER,
        errors=(200, 403, 409, 429),
    )
    def on_post(self, req, resp, session_id: uuid.UUID):
        key = _idempotency_key(req)
        new = req.context.body
        order, created = self.orders.place(req.context.user_id, session_id, new.product_id, new.quantity, key)
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.media = ok(order_view(order), message=None if created else "Already placed with this key")

    @endpoint(
        "The show's orders (owner, admin)",
        auth=REQUIRED,
        query=schemas.OrderList,
        answer=answers.OkList[answers.Order],
        errors=(403,),
    )
    def on_get(self, req, resp, session_id: uuid.UUID):
        page = req.context.query.model_dump()
        resp.media = _orders(self.orders.list_for_session(req.context.user, session_id, **page))


class Orders:
    def __init__(self, orders: OrderService):
        self.orders = orders

    @endpoint(
        "The caller's orders as a buyer, newest first",
        auth=REQUIRED,
        query=schemas.OrderList,
        answer=answers.OkList[answers.Order],
    )
    def on_get(self, req, resp):
        resp.media = _orders(self.orders.list_for_buyer(req.context.user, **req.context.query.model_dump()))


class OrderItem:
    def __init__(self, orders: OrderService):
        self.orders = orders

    @endpoint("An order (buyer, seller, admin)", auth=REQUIRED, answer=ORDER, errors=(403,))
    def on_get(self, req, resp, order_id: uuid.UUID):
        resp.media = ok(order_view(self.orders.get(req.context.user, order_id)))

    @endpoint(
        "Cancel a reservation (buyer, seller, admin)",
        auth=REQUIRED,
        body=schemas.NoBody,
        answer=ORDER,
        errors=(403, 409),
    )
    def on_post_cancel(self, req, resp, order_id: uuid.UUID):
        resp.media = ok(order_view(self.orders.cancel(req.context.user, order_id)))

    @endpoint(
        "Confirm payment received (seller, admin)",
        auth=REQUIRED,
        body=schemas.MarkPaid,
        answer=ORDER,
        errors=(403, 409),
    )
    def on_post_paid(self, req, resp, order_id: uuid.UUID):
        reference = req.context.body.reference
        resp.media = ok(order_view(self.orders.mark_paid(req.context.user, order_id, reference)))

    @endpoint(
        "Mark a paid order shipped (seller, admin)",
        auth=REQUIRED,
        body=schemas.Fulfil,
        answer=ORDER,
        errors=(403, 409),
    )
    def on_post_fulfil(self, req, resp, order_id: uuid.UUID):
        tracking = req.context.body.tracking_number
        resp.media = ok(order_view(self.orders.fulfil(req.context.user, order_id, tracking)))

    @endpoint(
        "Refund a paid order (seller, admin)",
        auth=REQUIRED,
        body=schemas.NoBody,
        answer=ORDER,
        errors=(403, 409),
    )
    def on_post_refund(self, req, resp, order_id: uuid.UUID):
        resp.media = ok(order_view(self.orders.refund(req.context.user, order_id)))
