"""Products: a creator's catalogue. Every write records a search outbox row in its transaction."""

from __future__ import annotations

import uuid

import peewee as pw

from bazaar.domain.clock import now
from bazaar.domain.errors import Conflict, Forbidden, NotFound
from bazaar.domain.models import Order, Product, SessionProduct, User
from bazaar.domain.views import product_view
from bazaar.infra import search_outbox as outbox
from bazaar.infra.db import database
from bazaar.infra.rows import PreparedSelect, RowViews
from bazaar.services.commands import ProductCreate, ProductUpdate
from bazaar.services.users import admit_seller

_PRODUCT_BY_ID = PreparedSelect(lambda pid: Product.select().where(Product.id == pid), Product.id)
_PRODUCT_VIEWS = RowViews(product_view)  # GET /api/products/:id: a row read again has its view (and JSON)


class ProductService:
    def __init__(self, open_selling: bool):
        self.open_selling = open_selling  # SELLERS=open: see admit_seller

    @staticmethod
    def get(product_id: uuid.UUID) -> Product:
        return _found(_PRODUCT_BY_ID.first(product_id))

    @staticmethod
    def view(product_id: uuid.UUID) -> dict:
        """A product's public view (shared: never change it, copy it)."""
        return _found(_PRODUCT_BY_ID.first(product_id, views=_PRODUCT_VIEWS))

    def owned(self, product_id: uuid.UUID, actor: User) -> Product:
        product = self.get(product_id)
        if product.seller_id != actor.id and not actor.is_admin:
            raise Forbidden("You can only change your own products")
        return product

    @staticmethod
    def list_own(
        actor: User,
        *,
        category: str | None = None,
        in_stock: bool | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Product]:
        query = Product.select().where(Product.seller == actor.id)
        if category is not None:
            query = query.where(pw.fn.lower(Product.category) == category.lower())
        if in_stock is not None:
            query = query.where(Product.in_stock == in_stock)
        return list(query.order_by(Product.created_at.desc(), Product.id).limit(limit).offset(offset))

    @staticmethod
    def categories() -> list[str]:
        rows = (
            Product.select(Product.category)
            .where(Product.category.is_null(False) & (Product.category != ""))
            .distinct()
            .order_by(Product.category)
            .tuples()
        )
        return [category for (category,) in rows]

    def create(self, actor: User, new: ProductCreate) -> Product:
        with database.atomic():
            admit_seller(actor, open_selling=self.open_selling, what="products")
            product = Product.create(seller=actor.id, **_with_derived_stock(new.written()))
            outbox.record_product(product.id)
        return product

    def update(self, actor: User, product_id: uuid.UUID, update: ProductUpdate) -> Product:
        product = self.owned(product_id, actor)
        changes = update.written()
        if not changes:
            return product
        with database.atomic():
            for name, value in _with_derived_stock(changes).items():
                setattr(product, name, value)
            product.updated_at = now()
            # Only what changed: drops move stock_quantity concurrently (bazaar/services/drops.py).
            product.save(only=list(product.dirty_fields))
            outbox.record_product(product.id)
            if "name" in changes:
                _record_sessions_listing(product.id)
        return product

    def delete(self, actor: User, product_id: uuid.UUID) -> None:
        product = self.owned(product_id, actor)
        with database.atomic():
            if Order.select().where(Order.product == product.id).exists():
                raise Conflict("A product with orders cannot be deleted", code="product_has_orders")
            _record_sessions_listing(product.id)  # before the links go with the product
            product.delete_instance()
            outbox.record_product(product.id)


def _with_derived_stock(fields: dict) -> dict:
    """While stock is tracked, inStock is whether any is left."""
    if fields.get("stock_quantity") is not None:
        return {**fields, "in_stock": fields["stock_quantity"] > 0}
    return fields


def _record_sessions_listing(product_id: uuid.UUID) -> None:
    """Session search documents carry the names of their products."""
    links = SessionProduct.select(SessionProduct.session).where(SessionProduct.product == product_id)
    outbox.record_session(*[link.session_id for link in links])


def _found(product):
    """The product (or its view) read by id; NotFound when there is none."""
    if product is None:
        raise NotFound("Product not found")
    return product
