"""Drops: units of a product reserved for one show out of its stock, sold during the show.

Every change to the counters is a relative, conditional UPDATE, so it is exact under any
number of concurrent writers on any number of workers and hosts:

- opening or growing a drop takes units from the product's stock
  (`stock_quantity >= n`, or stock not tracked) in the same transaction;
- an order takes units from the drop (`drop_remaining >= q`, see `take`);
- a cancelled or expired order gives them back to the drop while it is open, else to the stock
  (`give_back`);
- ending the drop (`{dropQuantity: 0}`) or the show gives the unsold units back to the stock.

Where a decision depends on what was read (closing a drop, changing its size), the transaction
writes to the row first: that takes the row lock on PostgreSQL and the write lock on SQLite, so what
it reads next stays true until it commits.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import peewee as pw

from bazaar.domain.clock import now
from bazaar.domain.errors import Conflict, Invalid, NotFound
from bazaar.domain.models import Order, OrderStatus, Product, SessionProduct, SessionStatus, User
from bazaar.domain.views import drop_view
from bazaar.infra import search_outbox
from bazaar.infra.db import database
from bazaar.infra.rows import PreparedSelect
from bazaar.live import events
from bazaar.live.publisher import Publisher

if TYPE_CHECKING:
    from bazaar.services.sessions import SessionService

DEFAULT_LIMIT_PER_BUYER = 1


def _link_where(session_id, product_id):
    return (SessionProduct.session == session_id) & (SessionProduct.product == product_id)


def _restock(product_id, units: int) -> None:
    """Units back into the product's stock (nothing to do when its stock is not tracked)."""
    if units <= 0:
        return
    stock = Product.stock_quantity + units
    updated = (
        Product.update(stock_quantity=stock, in_stock=stock > 0, updated_at=now())
        .where((Product.id == product_id) & Product.stock_quantity.is_null(False))
        .execute()
    )
    if updated:
        search_outbox.record_product(product_id)


def _unstock(product_id, units: int) -> bool:
    """Take units out of the product's stock; False when it has fewer (an untracked stock always has)."""
    if units <= 0:
        _restock(product_id, -units)
        return True
    stock = Product.stock_quantity - units
    updated = (
        Product.update(stock_quantity=stock, in_stock=stock > 0, updated_at=now())
        .where((Product.id == product_id) & (Product.stock_quantity >= units))
        .execute()
    )
    if updated:
        search_outbox.record_product(product_id)
        return True
    return Product.select().where((Product.id == product_id) & Product.stock_quantity.is_null()).exists()


def take(session_id, product_id, quantity: int) -> int | None:
    """Take `quantity` units of the open drop; the units left, or None when it has fewer (or is closed).

    One statement: the condition and the decrement cannot be split by another buyer. The purchase's
    on SQLite, whose write lock holds until the caller's transaction ends, so nothing can be lost
    between this and writing the order; on PostgreSQL the same decrement is part of the one statement
    that also writes the order (`orders._Reservation`)."""
    row = (
        SessionProduct.update(drop_remaining=SessionProduct.drop_remaining - quantity)
        .where(
            _link_where(session_id, product_id)
            & (SessionProduct.drop_quantity > 0)
            & (SessionProduct.drop_remaining >= quantity)
        )
        .returning(SessionProduct.drop_remaining)
        .tuples()
        .execute()
    )
    found = list(row)
    return found[0][0] if found else None


def _reserved_units(session_id, product_id) -> int:
    """Units held by the drop's reserved orders (those that can still come back to it)."""
    return (
        Order.select(pw.fn.COALESCE(pw.fn.SUM(Order.quantity), 0))
        .where(
            (Order.session == session_id)
            & (Order.product == product_id)
            & (Order.status == OrderStatus.RESERVED)
        )
        .scalar()
    )


def give_back(session_id, product_id, quantity: int) -> bool:
    """Return the units of a cancelled or expired order: to the drop while it is open (True), else to
    the product's stock (False)."""
    to_drop = (
        SessionProduct.update(drop_remaining=SessionProduct.drop_remaining + quantity)
        .where(_link_where(session_id, product_id) & (SessionProduct.drop_quantity > 0))
        .execute()
    )
    if not to_drop:
        _restock(product_id, quantity)
    return bool(to_drop)


def close_session_drops(session_id) -> None:
    """The show ended: every open drop closes and its unsold units go back to stock (caller's transaction)."""
    open_drops = (
        SessionProduct.select(SessionProduct.product)
        .where((SessionProduct.session == session_id) & (SessionProduct.drop_quantity > 0))
        .tuples()
    )
    for (product_id,) in list(open_drops):
        close_drop(session_id, product_id)


def close_drop(session_id, product_id) -> None:
    """End the drop (if open): its unsold units go back to the product's stock (caller's transaction)."""
    closed = (
        SessionProduct.update(drop_quantity=0)
        .where(_link_where(session_id, product_id) & (SessionProduct.drop_quantity > 0))
        .execute()
    )
    if not closed:
        return
    # The row is ours until commit: no order can take from it meanwhile.
    unsold = (
        SessionProduct.select(SessionProduct.drop_remaining)
        .where(_link_where(session_id, product_id))
        .scalar()
    )
    SessionProduct.update(drop_remaining=0).where(_link_where(session_id, product_id)).execute()
    _restock(product_id, unsold or 0)


_LINK = PreparedSelect(
    lambda session_id, product_id: (
        SessionProduct.select(SessionProduct, Product)
        .join(Product)
        .where(_link_where(session_id, product_id))
    ),
    SessionProduct.session,
    SessionProduct.product,
)


class DropService:
    def __init__(self, sessions: SessionService, publisher: Publisher):
        self.sessions = sessions
        self.publisher = publisher

    @staticmethod
    def link(session_id: uuid.UUID, product_id: uuid.UUID) -> SessionProduct | None:
        """The session product with its product and drop (read on every buy attempt)."""
        return _LINK.first(session_id, product_id)

    def set_drop(self, actor: User, session_id: uuid.UUID, product_id: uuid.UUID, fields: dict) -> dict:
        """Open, resize, reprice or (with dropQuantity 0) end the drop of one of the session's products.
        A PUT: the fields not sent go back to their defaults."""
        session = self.sessions.owned(session_id, actor)
        if session.status == SessionStatus.ENDED:
            raise Conflict(
                "The show has ended: its drops are closed", code="session_ended", currentStatus=session.status
            )
        quantity = fields["drop_quantity"]
        starts_at, ends_at = fields.get("drop_starts_at"), fields.get("drop_ends_at")
        if starts_at is not None and ends_at is not None and ends_at <= starts_at:
            raise Invalid(
                "Invalid body: endsAt must be after startsAt", details={"endsAt": "must be after startsAt"}
            )
        with database.atomic():
            # Write first: the row is ours until commit (see the module docstring).
            touched = (
                SessionProduct.update(drop_quantity=SessionProduct.drop_quantity)
                .where(_link_where(session.id, product_id))
                .execute()
            )
            if not touched:
                raise NotFound("That product is not in this session")
            link = self.link(session.id, product_id)
            if quantity == 0:
                close_drop(session.id, product_id)
            else:
                self._resize(link, quantity)
                (
                    SessionProduct.update(
                        drop_price=fields.get("drop_price"),
                        limit_per_buyer=fields.get("limit_per_buyer") or DEFAULT_LIMIT_PER_BUYER,
                        drop_starts_at=starts_at,
                        drop_ends_at=ends_at,
                    )
                    .where(SessionProduct.id == link.id)
                    .execute()
                )
            drop = drop_view(self.link(session.id, product_id))
            self.publisher.publish(session.id, events.drop_updated(session.id, product_id, drop))
        return drop

    @staticmethod
    def _resize(link: SessionProduct, quantity: int) -> None:
        """The drop offers `quantity` units in all: the difference comes from (or goes back to) the stock.

        An ended drop that opens again counts the units its reservations still hold as offered: a
        cancelled or expired one gives them back to the open drop, which would otherwise have more left
        than it offers. (A reservation expiring while this runs may be counted and still give its units
        to the stock: the drop then has that many fewer left than it offers, never more.)"""
        offered = link.drop_quantity or 0
        remaining = link.drop_remaining or 0
        if not offered:  # ended: nothing left, nothing counted
            offered = _reserved_units(link.session_id, link.product_id)
        taken = offered - remaining  # units held by orders of this drop
        if quantity < taken:
            raise Conflict(
                f"{taken} units of this drop are already ordered: it cannot offer fewer",
                code="drop_below_ordered",
                ordered=taken,
            )
        more = quantity - offered
        if not _unstock(link.product_id, more):
            raise Conflict(
                "The product does not have that many units in stock",
                code="insufficient_stock",
                stockQuantity=link.product.stock_quantity,
            )
        (
            SessionProduct.update(drop_quantity=quantity, drop_remaining=remaining + more)
            .where(SessionProduct.id == link.id)
            .execute()
        )

    def get_drop(self, session_id: uuid.UUID, product_id: uuid.UUID) -> dict:
        link = self.link(session_id, product_id)
        if link is None:
            raise NotFound("That product is not in this session")
        return drop_view(link)


def drop_is_open(link: SessionProduct, at=None) -> bool:
    """Open: units offered, and now within its optional window."""
    at = at or now()
    if not link.drop_quantity:
        return False
    if link.drop_starts_at is not None and at < link.drop_starts_at:
        return False
    return link.drop_ends_at is None or at < link.drop_ends_at
