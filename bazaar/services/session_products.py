"""The products of a session: which of the creator's products it sells, which are featured, in what order.

Changes to the set of products record a session search-outbox row in their transaction.
"""

from __future__ import annotations

import uuid

import peewee as pw

from bazaar.domain.errors import Conflict, Invalid, NotFound
from bazaar.domain.models import Product, Session, SessionProduct, User
from bazaar.infra import search_outbox as outbox
from bazaar.infra.db import database
from bazaar.infra.session_reads import session_products_of
from bazaar.live import events
from bazaar.live.publisher import Publisher
from bazaar.services.drops import close_drop
from bazaar.services.sessions import SessionService, require_own_products


class SessionProductService:
    def __init__(self, sessions: SessionService, publisher: Publisher):
        self.sessions = sessions
        self.publisher = publisher

    def list(self, session_id: uuid.UUID, *, featured: bool | None = None) -> list[SessionProduct]:
        links = session_products_of([session_id], featured=featured).get(session_id, [])
        if not links and not Session.select().where(Session.id == session_id).exists():
            raise NotFound("Session not found")
        return links

    def add(
        self,
        actor: User,
        session_id: uuid.UUID,
        product_id: uuid.UUID,
        *,
        featured: bool = False,
        display_order: int | None = None,
    ) -> SessionProduct:
        """Add one of the creator's products; without a displayOrder it goes last."""
        session = self.sessions.owned(session_id, actor)
        require_own_products(session.creator_id, [product_id], "productId")
        if display_order is None:
            last = (
                SessionProduct.select(pw.fn.MAX(SessionProduct.display_order))
                .where(SessionProduct.session == session.id)
                .scalar()
            )
            display_order = 0 if last is None else last + 1
        try:
            with database.atomic():
                link = SessionProduct.create(
                    session=session.id, product=product_id, featured=featured, display_order=display_order
                )
                outbox.record_session(session.id)
        except pw.IntegrityError:
            raise Conflict("That product is already in this session", code="already_exists") from None
        return self._link(session.id, link.product_id)

    def remove(self, actor: User, session_id: uuid.UUID, product_id: uuid.UUID) -> None:
        """Take a product out of the session; if it was on screen, the showcase is cleared too."""
        session = self.sessions.owned(session_id, actor)
        with database.atomic():
            close_drop(session.id, product_id)  # a drop's units go back to stock before its row goes
            removed = (
                SessionProduct.delete()
                .where((SessionProduct.session == session.id) & (SessionProduct.product == product_id))
                .execute()
            )
            if not removed:
                raise NotFound("That product is not in this session")
            cleared = (
                Session.update(active_product=None)
                .where((Session.id == session.id) & (Session.active_product == product_id))
                .execute()
            )
            if cleared:
                self.publisher.publish(session.id, events.showcase_cleared(session.id))
            outbox.record_session(session.id)

    def set_featured(
        self, actor: User, session_id: uuid.UUID, product_ids: list[uuid.UUID]
    ) -> list[SessionProduct]:
        """Exactly these products are featured afterwards; every id must be in the session."""
        session = self.sessions.owned(session_id, actor)
        in_session = {
            pid
            for (pid,) in SessionProduct.select(SessionProduct.product)
            .where(SessionProduct.session == session.id)
            .tuples()
        }
        strangers = [str(pid) for pid in product_ids if pid not in in_session]
        if strangers:
            raise Invalid(
                "Invalid body: productIds must be products of this session",
                details={"productIds": "not in this session: " + ", ".join(strangers)},
            )
        (
            SessionProduct.update(featured=SessionProduct.product.in_(product_ids))
            .where(SessionProduct.session == session.id)
            .execute()
        )
        return self.list(session.id)

    def toggle_featured(self, actor: User, session_id: uuid.UUID, product_id: uuid.UUID) -> SessionProduct:
        session = self.sessions.owned(session_id, actor)
        self._update_link(session.id, product_id, featured=~SessionProduct.featured)
        return self._link(session.id, product_id)

    def reorder(
        self, actor: User, session_id: uuid.UUID, product_id: uuid.UUID, display_order: int
    ) -> SessionProduct:
        session = self.sessions.owned(session_id, actor)
        self._update_link(session.id, product_id, display_order=display_order)
        return self._link(session.id, product_id)

    @staticmethod
    def _update_link(session_id: uuid.UUID, product_id: uuid.UUID, **changes) -> None:
        updated = (
            SessionProduct.update(**changes)
            .where((SessionProduct.session == session_id) & (SessionProduct.product == product_id))
            .execute()
        )
        if not updated:
            raise NotFound("That product is not in this session")

    @staticmethod
    def _link(session_id: uuid.UUID, product_id: uuid.UUID) -> SessionProduct:
        return (
            SessionProduct.select(SessionProduct, Product)
            .join(Product)
            .where((SessionProduct.session == session_id) & (SessionProduct.product == product_id))
            .get()
        )
