"""Orders: buying units of a drop during the show, and the order's way through its status machine.

A purchase is one transaction: take the units from the drop with a conditional decrement, check the
buyer's limit, write the order and its outgoing-webhook row. On PostgreSQL that transaction is one
round trip (`_Reservation`), on SQLite statement by statement under its write lock. Until it commits
the drop row stays locked (PostgreSQL) or the database does (SQLite), so the units and the order
exist together or not at all: nothing is lost between reserving and writing, and nothing is sold
twice (README, "Selling").

Every status move is a compare-and-set on the current status, so of two concurrent moves (a cancel
and the expiry sweep, two webhook deliveries) exactly one happens; the moves that give units back
do it in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import NamedTuple

import peewee as pw

from bazaar.domain.clock import now
from bazaar.domain.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from bazaar.domain.models import (
    IllegalTransition,
    Order,
    OrderStatus,
    Product,
    Session,
    SessionProduct,
    SessionStatus,
    User,
    WebhookOutbox,
    money,
)
from bazaar.domain.views import order_view
from bazaar.infra.db import database, is_postgres
from bazaar.infra.rows import PreparedSelect
from bazaar.infra.webhook_outbox import NOTIFY_CHANNEL, WebhookRecorder
from bazaar.live import events
from bazaar.live.coalesce import Coalescer
from bazaar.live.publisher import Publisher
from bazaar.live.state import LiveState
from bazaar.services import drops
from bazaar.services.auth import user_gone
from bazaar.services.sessions import SessionService
from config import Settings

log = logging.getLogger("bazaar.orders")


def _request_hash(session_id, product_id, quantity: int) -> str:
    canonical = json.dumps(
        {"sessionId": str(session_id), "productId": str(product_id), "quantity": quantity}, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _illegal(current: str, wanted: str) -> Conflict:
    return Conflict(
        f"Cannot move a {current} order to {wanted}", code="invalid_status_transition", currentStatus=current
    )


# Read first on every buy attempt, in one round trip (SQL built once, see PreparedSelect): one row when the
# token's user still exists, holding the id and request hash of their order made with the Idempotency-Key
# (both None when the key is new to them). The burst's losers read nothing else; only a retry then reads its
# order whole (two columns to map instead of every order and product column: ~20 µs less per attempt).
_BUYER_KEY_USE = PreparedSelect(
    lambda buyer, key: (
        Order.select(Order.id, Order.request_hash)
        .from_(User)
        .join(Order, pw.JOIN.LEFT_OUTER, on=(Order.buyer == User.id) & (Order.idempotency_key == key))
        .where(User.id == buyer)
    ),
    User.id,
    Order.idempotency_key,
)


# Read on every buy attempt until the worker knows the drop sold out: the drop, its product and its show
# in one round trip.
_OFFER = PreparedSelect(
    lambda session_id, product_id: (
        SessionProduct.select(SessionProduct, Product, Session)
        .join(Product)
        .switch(SessionProduct)
        .join(Session)
        .where((SessionProduct.session == session_id) & (SessionProduct.product == product_id))
    ),
    SessionProduct.session,
    SessionProduct.product,
)


def _insert_columns(model: type[pw.Model], prefix: str) -> tuple[str, str]:
    """("col, col, …", "%(prefix_field)s, …") for every column of `model` but an auto-incremented id."""
    fields = [f for f in model._meta.sorted_fields if not isinstance(f, pw.AutoField)]
    return (
        ", ".join(f.column_name for f in fields),
        ", ".join(f"%({prefix}{f.name})s" for f in fields),
    )


def _insert_values(instance: pw.Model, prefix: str) -> dict:
    """The parameters `_insert_columns` names, from an unsaved instance (its defaults filled in)."""
    return {
        f"{prefix}{f.name}": f.db_value(instance.__data__.get(f.name))
        for f in instance._meta.sorted_fields
        if not isinstance(f, pw.AutoField)
    }


def _buyer_drop_lock(buyer_id: int, session_id, product_id) -> int:
    """The advisory lock key of one buyer on one drop (a signed 64-bit integer; a collision only makes
    two buyers wait for each other)."""
    digest = hashlib.blake2b(f"{buyer_id}:{session_id}:{product_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _Reservation:
    """A purchase on PostgreSQL as one query string: sent in one round trip, and run by PostgreSQL as one
    implicit transaction (the statements of one simple-protocol message commit or roll back together).

    1. `pg_advisory_xact_lock` on (buyer, drop): the buyer's other attempts on this drop wait here, so
       statement 2 — whose snapshot READ COMMITTED takes when it starts, after the lock — counts every
       order of theirs that committed, and none can commit meanwhile: the per-buyer limit stays exact.
    2. `held` (the buyer's units of this drop), `taken` (the conditional decrement: the drop open, with
       the units, the limit allowing), the order inserted from `taken` (nothing when nothing was taken),
       its webhook row from the order, and (units left or NULL, units held) as the result.

    The drop's row is locked from the decrement to the commit, all inside PostgreSQL. Driven statement
    by statement from a busy worker, the transaction held it across its round trips and across every
    wait of its greenlet for the CPU, and all of the drop's buyers queued behind that."""

    def __init__(self) -> None:
        self._sql: dict[bool, str] = {}

    def run(self, order: Order, limit: int, outbox_row: WebhookOutbox | None) -> tuple[int | None, int]:
        with_outbox = outbox_row is not None
        sql = self._sql.get(with_outbox) or self._sql.setdefault(with_outbox, self._build(with_outbox))
        params = {
            "lock": _buyer_drop_lock(order.buyer_id, order.session_id, order.product_id),
            "session": str(order.session_id),
            "product": str(order.product_id),
            "buyer": order.buyer_id,
            "holding": tuple(OrderStatus.HOLDING),
            "quantity": order.quantity,
            "limit": limit,
            **_insert_values(order, "o_"),
        }
        if with_outbox:
            params |= _insert_values(outbox_row, "w_")
        remaining, held, *_ = database.execute_sql(sql, params).fetchone()
        return remaining, held

    @staticmethod
    def _build(with_outbox: bool) -> str:
        order_columns, order_values = _insert_columns(Order, "o_")
        sql = (
            "SELECT pg_advisory_xact_lock(%(lock)s); "
            "WITH held AS ("
            "SELECT COALESCE(SUM(quantity), 0) AS units FROM orders WHERE session_id = %(session)s "
            "AND product_id = %(product)s AND buyer_id = %(buyer)s AND status IN %(holding)s"
            "), taken AS ("
            "UPDATE session_products SET drop_remaining = drop_remaining - %(quantity)s "
            "WHERE session_id = %(session)s AND product_id = %(product)s AND drop_quantity > 0 "
            "AND drop_remaining >= %(quantity)s AND (SELECT units FROM held) + %(quantity)s <= %(limit)s "
            "RETURNING drop_remaining"
            f"), placed AS (INSERT INTO orders ({order_columns}) SELECT {order_values} FROM taken "
            "RETURNING id)"
        )
        result = "SELECT (SELECT drop_remaining FROM taken), (SELECT units FROM held)"
        if with_outbox:
            outbox_columns, outbox_values = _insert_columns(WebhookOutbox, "w_")
            sql += (
                f", recorded AS (INSERT INTO webhook_outbox ({outbox_columns}) "
                f"SELECT {outbox_values} FROM placed RETURNING id)"
            )
            # Delivered on commit only, as the statement-by-statement path's NOTIFY is.
            result += f", (SELECT pg_notify('{NOTIFY_CHANNEL}', '') FROM recorded)"
        return sql + " " + result


_RESERVE = _Reservation()


class OrderService:
    def __init__(
        self,
        settings: Settings,
        sessions: SessionService,
        publisher: Publisher,
        live_state: LiveState,
        webhooks: WebhookRecorder,
    ):
        self.settings = settings
        self.sessions = sessions
        self.publisher = publisher
        self.live_state = live_state
        self.webhooks = webhooks
        self.stock_updates = Coalescer(settings.stock_update_interval_s, live_state)
        self._sold_out_until: dict[tuple, float] = {}  # (session id, product id) → monotonic deadline

    # buying --------------------------------------------------------------------------------------
    def place(
        self, buyer_id: int, session_id: uuid.UUID, product_id: uuid.UUID, quantity: int, key: str
    ) -> tuple[Order, bool]:
        """Reserve `quantity` units for the user `buyer_id` (an access token's subject, not read yet);
        (order, created). The same key with the same request returns the order it made; with another
        request it is a 409."""
        request_hash = _request_hash(session_id, product_id, quantity)
        earlier = self._by_key(buyer_id, key, request_hash)
        if earlier is not None:
            return earlier, False
        if self._sold_out_until.get((session_id, product_id), 0.0) > time.monotonic():
            raise Conflict("Sold out", code="sold_out", remaining=0)  # the burst's losers cost no more
        try:
            return self._place(buyer_id, session_id, product_id, quantity, key, request_hash)
        except pw.IntegrityError:
            # The same key won a race against itself (a client retrying before the first answer).
            earlier = self._by_key(buyer_id, key, request_hash)
            if earlier is None:
                raise
            return earlier, False

    def _place(
        self,
        buyer_id: int,
        session_id: uuid.UUID,
        product_id: uuid.UUID,
        quantity: int,
        key: str,
        request_hash: str,
    ) -> tuple[Order, bool]:
        """The checks (plain reads: a burst's losers never wait for the drop's row lock), then the units
        taken and the order written in one transaction; its events once it committed."""
        wait_s = self.live_state.hit(
            f"order:{buyer_id}", self.settings.order_rate_count, self.settings.order_rate_window_s
        )
        if wait_s:
            raise RateLimited(
                f"At most {self.settings.order_rate_count} purchases per "
                f"{self.settings.order_rate_window_s:g} seconds, slow down",
                retry_after_s=wait_s,
            )
        link = _OFFER.first(session_id, product_id)
        session = link.session if link is not None else self.sessions.get(session_id)  # 404 if none
        if not session.on_air:
            raise Conflict(
                "Buying is open only while the show is live",
                code="session_not_live",
                currentStatus=session.status,
            )
        if link is None:
            raise Invalid(
                "Invalid body: productId is not a product of this session",
                details={"productId": "is not a product of this session"},
            )
        if not drops.drop_is_open(link):
            raise Conflict("This product is not on sale in this show right now", code="drop_not_open")
        limit = link.limit_per_buyer or drops.DEFAULT_LIMIT_PER_BUYER
        if quantity > limit:
            raise Conflict(f"At most {limit} per buyer", code="limit_reached", limitPerBuyer=limit)
        if link.drop_remaining < quantity:  # without a write: a sold-out burst costs one read each
            if not link.drop_remaining:
                self._remember_sold_out(session.id, product_id)
            raise Conflict("Sold out", code="sold_out", remaining=link.drop_remaining)
        unit_price = link.drop_price if link.drop_price is not None else link.product.price
        at = now()
        order = Order(
            id=uuid.uuid4(),
            session=session.id,
            product=product_id,
            buyer=buyer_id,
            seller=session.creator_id,
            quantity=quantity,
            unit_price=unit_price,
            total=Decimal(unit_price) * quantity,
            currency=self.settings.currency,
            status=OrderStatus.RESERVED,
            reserved_until=at + timedelta(seconds=self.settings.order_hold_s),
            idempotency_key=key,
            request_hash=request_hash,
            created_at=at,
            updated_at=at,
        )
        order.product = link.product
        outbox_row = self.webhooks.row("order.reserved", order.id, order_view(order))
        try:
            if is_postgres():
                remaining = self._reserve_in_one_statement(order, limit, outbox_row)
            else:
                remaining = self._reserve_in_transaction(order, limit, outbox_row)
        except Conflict:
            # A retry of this key may have made the order meanwhile: the buyer's attempts take turns, so
            # this one then found the buyer's limit (or the last units) taken by it. Answer that order.
            earlier = self._by_key(buyer_id, key, request_hash)
            if earlier is None:
                raise
            return earlier, False
        buyer_name = User.select(User.username).where(User.id == buyer_id).scalar()  # the winners only
        self.publisher.publish(
            session.id, events.order_placed(session.id, product_id, quantity, buyer_name or "")
        )
        if remaining == 0:
            self.publisher.publish(session.id, events.sold_out(session.id, product_id))
            self._remember_sold_out(session.id, product_id)
        self._stock_changed(session.id, product_id)
        return order, True

    def _reserve_in_one_statement(self, order: Order, limit: int, outbox_row: WebhookOutbox | None) -> int:
        """PostgreSQL: take the units, write the order (and its webhook row) in one round trip; the units
        left. The drop's row lock is held only while PostgreSQL runs it, never while this greenlet waits
        for the CPU between statements (see `_Reservation`)."""
        remaining, held = _RESERVE.run(order, limit, outbox_row)
        if remaining is not None:
            return remaining
        if held + order.quantity > limit:
            raise Conflict(f"At most {limit} per buyer", code="limit_reached", limitPerBuyer=limit)
        raise self._not_taken(order.session_id, order.product_id)

    def _reserve_in_transaction(self, order: Order, limit: int, outbox_row: WebhookOutbox | None) -> int:
        """SQLite: statement by statement under its database-wide write lock; the units left."""
        with database.atomic():
            remaining = drops.take(order.session_id, order.product_id, order.quantity)
            if remaining is None:
                raise self._not_taken(order.session_id, order.product_id)
            self._check_limit(order.buyer_id, order.session_id, order.product_id, order.quantity, limit)
            order.save(force_insert=True)
            self.webhooks.write(outbox_row)
        return remaining

    def _remember_sold_out(self, session_id, product_id) -> None:
        """This worker answers sold_out for `sold_out_memo_s` without reading the drop (a unit returned
        meanwhile is on sale again after at most that long)."""
        if len(self._sold_out_until) > 1000:  # forget drops whose memo ran out
            now_s = time.monotonic()
            self._sold_out_until = {k: t for k, t in self._sold_out_until.items() if t > now_s}
        self._sold_out_until[(session_id, product_id)] = time.monotonic() + self.settings.sold_out_memo_s

    def _by_key(self, buyer_id: int, key: str, request_hash: str) -> Order | None:
        """The buyer's order made with `key`, None when there is none; 401 when the buyer no longer exists,
        409 when the key was used for another request."""
        used = _BUYER_KEY_USE.first(buyer_id, key)
        if used is None:
            raise user_gone()
        if used.id is None:
            return None
        if used.request_hash != request_hash:
            raise Conflict(
                "This Idempotency-Key was used for a different request", code="idempotency_key_reused"
            )
        return self.get_any(used.id)

    def _not_taken(self, session_id, product_id) -> Conflict:
        """Why the drop had no units for us: the show ended meanwhile, the drop closed, or it sold out."""
        status = Session.select(Session.status).where(Session.id == session_id).scalar()
        if status not in SessionStatus.ON_AIR:
            return Conflict(
                "Buying is open only while the show is live", code="session_not_live", currentStatus=status
            )
        link = drops.DropService.link(session_id, product_id)
        if link is None or not link.drop_quantity:
            return Conflict("This product is not on sale in this show right now", code="drop_not_open")
        return Conflict("Sold out", code="sold_out", remaining=link.drop_remaining)

    @staticmethod
    def _check_limit(buyer_id: int, session_id, product_id, quantity: int, limit: int) -> None:
        """Counted after taking the units: the database is locked, so the buyer's other attempts wait."""
        held = (
            Order.select(pw.fn.COALESCE(pw.fn.SUM(Order.quantity), 0))
            .where(
                (Order.session == session_id)
                & (Order.product == product_id)
                & (Order.buyer == buyer_id)
                & Order.status.in_(OrderStatus.HOLDING)
            )
            .scalar()
        )
        if held + quantity > limit:
            raise Conflict(f"At most {limit} per buyer", code="limit_reached", limitPerBuyer=limit)

    def _stock_changed(self, session_id, product_id) -> None:
        """A coalesced stock-update once the transaction commits (it reads the count when it goes out)."""

        def send() -> None:
            remaining = (
                SessionProduct.select(SessionProduct.drop_remaining)
                .where((SessionProduct.session == session_id) & (SessionProduct.product == product_id))
                .scalar()
            )
            self.publisher.publish(session_id, events.stock_update(session_id, product_id, remaining or 0))

        database.after_commit(lambda: self.stock_updates.touch(f"stock:{session_id}:{product_id}", send))

    # reading -------------------------------------------------------------------------------------
    @staticmethod
    def get_any(order_id: uuid.UUID) -> Order:
        """Whoever asks (a payment provider's verified event)."""
        order = Order.select(Order, Product).join(Product).where(Order.id == order_id).get_or_none()
        if order is None:
            raise NotFound("Order not found")
        return order

    def get(self, actor: User, order_id: uuid.UUID) -> Order:
        """For its buyer, its seller and admins; to anyone else it does not exist."""
        order = self.get_any(order_id)
        if actor.id not in (order.buyer_id, order.seller_id) and not actor.is_admin:
            raise NotFound("Order not found")
        return order

    @staticmethod
    def _page(query, status: str | None, limit: int, offset: int) -> list[Order]:
        if status is not None:
            query = query.where(Order.status == status)
        return list(query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit).offset(offset))

    def list_for_buyer(self, buyer: User, *, status: str | None, limit: int, offset: int) -> list[Order]:
        query = Order.select(Order, Product).join(Product).where(Order.buyer == buyer.id)
        return self._page(query, status, limit, offset)

    def list_for_session(
        self, actor: User, session_id: uuid.UUID, *, status: str | None, limit: int, offset: int
    ) -> list[Order]:
        session = self.sessions.owned(session_id, actor)
        query = Order.select(Order, Product).join(Product).where(Order.session == session.id)
        return self._page(query, status, limit, offset)

    # status moves --------------------------------------------------------------------------------
    def cancel(self, actor: User, order_id: uuid.UUID) -> Order:
        """The buyer (while reserved), the seller or an admin."""
        order = self.get(actor, order_id)
        return self._move(order, OrderStatus.CANCELLED)

    def mark_paid(self, actor: User, order_id: uuid.UUID, reference: str | None) -> Order:
        """The manual payment provider: the seller (or an admin) confirms the money arrived."""
        order = self._as_seller(actor, order_id)
        return self._move(order, OrderStatus.PAID, payment_provider="manual", payment_reference=reference)

    def fulfil(self, actor: User, order_id: uuid.UUID, tracking_number: str | None) -> Order:
        order = self._as_seller(actor, order_id)
        return self._move(order, OrderStatus.FULFILLED, tracking_number=tracking_number)

    def refund(self, actor: User, order_id: uuid.UUID) -> Order:
        order = self._as_seller(actor, order_id)
        return self._move(order, OrderStatus.REFUNDED)

    def _as_seller(self, actor: User, order_id: uuid.UUID) -> Order:
        order = self.get(actor, order_id)
        if actor.id != order.seller_id and not actor.is_admin:
            raise Forbidden("Only the seller can do this")
        return order

    def apply_payment(
        self,
        order: Order,
        *,
        succeeded: bool,
        provider: str,
        event_id: str,
        reference: str | None,
        amount,
        currency: str,
    ) -> Order:
        """A payment provider's verdict (caller's transaction): paid when the amount and currency match
        the order, else 409 and nothing changes; a failed payment cancels the reservation.

        Money for an order that expired or was cancelled first (its units may be sold again) pays for
        nothing: the order stays as it is, an `order.refund_due` webhook row goes out in the caller's
        transaction, and the caller answers 409 (`payment_refused`) once the event is recorded."""
        if not succeeded:
            return self._move(order, OrderStatus.CANCELLED)
        if (
            Decimal(str(amount)).quantize(Decimal("0.01")) != Decimal(order.total)
            or currency.upper() != order.currency
        ):
            raise Conflict(
                "The payment does not match the order's total and currency",
                code="payment_mismatch",
                expected={"amount": money(order.total), "currency": order.currency},
            )
        try:
            return self._move(order, OrderStatus.PAID, payment_provider=provider, payment_reference=reference)
        except Conflict:
            order = self.get_any(order.id)  # the status that refused the move
            if order.status not in OrderStatus.RETURNING:
                raise
        payment = {"provider": provider, "eventId": event_id, "amount": money(amount), "currency": currency}
        log.warning("payment %s/%s for %s order %s: refund due", provider, event_id, order.status, order.id)
        self.webhooks.record("order.refund_due", order.id, {**order_view(order), "payment": payment})
        return order

    @staticmethod
    def payment_refused(order: Order) -> Conflict | None:
        """The 409 for a successful payment that reached `order` after it expired or was cancelled."""
        if order.status not in OrderStatus.RETURNING:
            return None
        return Conflict(
            f"The order was {order.status} before this payment arrived: it must be refunded",
            code="payment_refused",
            currentStatus=order.status,
        )

    def _move(self, order: Order, target: str, **changes) -> Order:
        previous = order.status
        try:
            order.move_to(target, now())
        except IllegalTransition:
            raise _illegal(previous, target) from None
        for name, value in changes.items():
            setattr(order, name, value)
        with database.atomic():
            if not self._compare_and_set(order, previous):
                current = Order.select(Order.status).where(Order.id == order.id).scalar()
                raise _illegal(current, target)
            self._after_move(order)
        return order

    @staticmethod
    def _compare_and_set(order: Order, previous: str) -> bool:
        return bool(
            Order.update({f: getattr(order, f.name) for f in order.dirty_fields})
            .where((Order.id == order.id) & (Order.status == previous))
            .execute()
        )

    def _after_move(self, order: Order) -> None:
        """The effects of a move, in its transaction: units back, the webhook row, the owner's stats."""
        if order.status in OrderStatus.RETURNING:
            drops.give_back(order.session_id, order.product_id, order.quantity)
            self._sold_out_until.pop((order.session_id, order.product_id), None)
            self._stock_changed(order.session_id, order.product_id)
        self.webhooks.record(f"order.{order.status}", order.id, order_view(order))
        if order.status in (OrderStatus.PAID, OrderStatus.REFUNDED):
            self._publish_sales_stats(order.session_id)

    def _publish_sales_stats(self, session_id) -> None:
        sales, _ = show_sales(session_id)
        self.publisher.publish(
            events.owner_room(session_id),
            events.sales_stats(session_id, sales.orders, sales.units, money(sales.revenue)),
        )

    # expiry --------------------------------------------------------------------------------------
    def expire_due(self) -> int:
        """Expire the reservations past their hold, at most a batch, in one transaction: each expires
        once across the cluster (rows claimed with SKIP LOCKED on PostgreSQL, the write lock on SQLite,
        and a compare-and-set on the status either way); a worker dying midway rolls back whole."""
        at = now()
        query = (
            Order.select(Order, Product)
            .join(Product)
            .where((Order.status == OrderStatus.RESERVED) & (Order.reserved_until <= at))
            .order_by(Order.reserved_until)
            .limit(self.settings.order_expiry_batch)
        )
        if is_postgres():
            query = query.for_update(of=Order, skip_locked=True)
        expired = 0
        with database.atomic():
            for order in list(query):
                order.move_to(OrderStatus.EXPIRED, at)
                if self._compare_and_set(order, OrderStatus.RESERVED):
                    self._after_move(order)
                    expired += 1
        if expired:
            log.info("expired %d reservation(s)", expired)
        return expired


class Sales(NamedTuple):
    """Paid and fulfilled orders (a refund takes its order back out)."""

    orders: int = 0
    units: int = 0
    revenue: Decimal = Decimal(0)
    buyers: int = 0  # distinct


def _sales(query) -> Sales:
    orders, units, revenue, buyers = query.tuples().get()
    return Sales(orders, int(units or 0), Decimal(str(revenue or 0)), buyers)


def _sold(where) -> pw.ModelSelect:
    return Order.select(
        pw.fn.COUNT(Order.id),
        pw.fn.SUM(Order.quantity),
        pw.fn.SUM(Order.total),
        pw.fn.COUNT(Order.buyer.distinct()),
    ).where(where & Order.status.in_(OrderStatus.SOLD))


def show_sales(session_id) -> tuple[Sales, dict[str, Sales]]:
    """A show's sales, and each product's (by product id); from the orders themselves, so live while
    on air and the same after."""
    total = _sales(_sold(Order.session == session_id))
    rows = _sold(Order.session == session_id).select_extend(Order.product).group_by(Order.product).tuples()
    per_product = {
        str(product_id): Sales(orders, int(units or 0), Decimal(str(revenue or 0)), buyers)
        for orders, units, revenue, buyers, product_id in rows
    }
    return total, per_product


def creator_sales(creator_id: int) -> Sales:
    """Summed over the creator's shows; buyers are counted per show (as unique viewers are)."""
    rows = _sold(Order.seller == creator_id).select_extend(Order.session).group_by(Order.session).tuples()
    per_show = [Sales(o, int(u or 0), Decimal(str(r or 0)), b) for o, u, r, b, _ in rows]
    return Sales(*(sum(column) for column in zip(*per_show))) if per_show else Sales()


def sales_view(sales: Sales | None, unique_viewers: int) -> dict:
    """`sales{orders, unitsSold, revenue, buyers, conversionRate}`: conversion = buyers per unique viewer
    × 100, two decimals."""
    sales = sales or Sales()
    return {
        "orders": sales.orders,
        "unitsSold": sales.units,
        "revenue": money(sales.revenue),
        "buyers": sales.buyers,
        "conversionRate": round(sales.buyers * 100.0 / unique_viewers, 2) if unique_viewers else 0.0,
    }
