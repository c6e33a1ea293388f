"""/api/products: bare product bodies (the front end reads them unwrapped); errors use the envelope."""

from __future__ import annotations

import uuid

import falcon

from bazaar.domain.validation import Bool, HttpUrl, Money, Str, page_schema
from bazaar.domain.views import product_view
from bazaar.entry.http.common import (
    body,
    path_params,
    query,
    require_user,
)
from bazaar.services.products import ProductService

FIELDS = {
    "name": Str(min_len=1, max_len=255, required=True),
    "description": Str(max_len=5000, nullable=True, allow_control=True),
    "price": Money(required=True),
    "originalPrice": Money(attr="original_price", nullable=True),
    "imageUrl": HttpUrl(attr="image_url", nullable=True),
    "category": Str(min_len=1, max_len=100, nullable=True),
    "inStock": Bool(attr="in_stock"),
}
CATEGORY = {"category": Str(min_len=1, max_len=100)}
# The front end reads whole lists (bare arrays), so paging here is opt-in.
OWN_PAGE = page_schema(default_limit=None)


def _own_products(products: ProductService, req, **filters) -> list[dict]:
    page = query(req, OWN_PAGE)
    return [
        product_view(p)
        for p in products.list_own(
            req.context.user, limit=page.get("limit"), offset=page["offset"], **filters
        )
    ]


class Products:
    def __init__(self, products: ProductService):
        self.products = products

    @falcon.before(require_user)
    def on_get(self, req, resp):
        resp.media = _own_products(self.products, req)

    @falcon.before(require_user)  # who may sell: the service (SELLERS)
    def on_post(self, req, resp):
        product = self.products.create(req.context.user, body(req, FIELDS))
        resp.status = falcon.HTTP_201
        resp.media = product_view(product)


class ProductItem:
    def __init__(self, products: ProductService):
        self.products = products

    def on_get(self, req, resp, product_id: uuid.UUID):
        resp.media = product_view(self.products.get(product_id))

    @falcon.before(require_user)
    def on_put(self, req, resp, product_id: uuid.UUID):
        changes = body(req, FIELDS, partial=True)
        resp.media = product_view(self.products.update(req.context.user, product_id, changes))

    @falcon.before(require_user)
    def on_delete(self, req, resp, product_id: uuid.UUID):
        self.products.delete(req.context.user, product_id)
        resp.status = falcon.HTTP_204


class ProductsInCategory:
    def __init__(self, products: ProductService):
        self.products = products

    @falcon.before(require_user)
    def on_get(self, req, resp, category: str):
        category = path_params({"category": category}, CATEGORY)["category"]
        resp.media = _own_products(self.products, req, category=category)


class ProductsInStock:
    def __init__(self, products: ProductService):
        self.products = products

    @falcon.before(require_user)
    def on_get(self, req, resp):
        resp.media = _own_products(self.products, req, in_stock=True)


class ProductCategories:
    def __init__(self, products: ProductService):
        self.products = products

    def on_get(self, req, resp):
        resp.media = self.products.categories()
