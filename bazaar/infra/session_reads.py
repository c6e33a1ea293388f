"""Reads of sessions with what their views need joined: shared by the session service, search and the indexer.

GET /sessions/:id is the hottest read: its two queries are prepared once (`PreparedSelect`).
"""

from __future__ import annotations

import uuid

import peewee as pw

from bazaar.domain.models import Product, Session, SessionProduct, User
from bazaar.infra.rows import PreparedSelect, select_all


def with_relations() -> pw.ModelSelect:
    """Sessions with their creator and active product joined (what `session_view` reads)."""
    return (
        Session.select(Session, User, Product)
        .join(User, on=Session.creator)
        .switch(Session)
        .join(Product, pw.JOIN.LEFT_OUTER, on=Session.active_product)
    )


def _session_products(where) -> pw.ModelSelect:
    return (
        SessionProduct.select(SessionProduct, Product)
        .join(Product)
        .where(where)
        .order_by(
            SessionProduct.session, SessionProduct.display_order, SessionProduct.created_at, SessionProduct.id
        )
    )


SESSION_BY_ID = PreparedSelect(lambda sid: with_relations().where(Session.id == sid), Session.id)
_PRODUCTS_OF_ONE = PreparedSelect(
    lambda sid: _session_products(SessionProduct.session == sid), SessionProduct.session
)


def session_products_of(
    session_ids, *, featured: bool | None = None
) -> dict[uuid.UUID, list[SessionProduct]]:
    """Session id → its products (with the product rows), by displayOrder then createdAt; one query."""
    session_ids = list(session_ids)
    if len(session_ids) == 1 and featured is None:
        links = _PRODUCTS_OF_ONE.rows(session_ids[0])
    else:
        where = SessionProduct.session.in_(session_ids)
        if featured is not None:
            where &= SessionProduct.featured == featured
        links = select_all(_session_products(where))
    grouped: dict[uuid.UUID, list[SessionProduct]] = {}
    for link in links:
        grouped.setdefault(link.session_id, []).append(link)
    return grouped
