"""/api/products: bare product bodies (the front end reads them unwrapped); errors use the envelope."""

from __future__ import annotations

import uuid

import falcon

from bazaar.domain.views import product_view
from bazaar.entry.http import answers, schemas
from bazaar.entry.http.endpoint import REQUIRED, endpoint
from bazaar.services.products import ProductService


def _own_products(products: ProductService, req, **filters) -> list[dict]:
    page = req.context.query
    return [
        product_view(p)
        for p in products.list_own(req.context.user, limit=page.limit, offset=page.offset, **filters)
    ]


class Products:
    def __init__(self, products: ProductService):
        self.products = products

    @endpoint("Own products", auth=REQUIRED, query=schemas.OwnProducts, answer=list[answers.Product])
    def on_get(self, req, resp):
        resp.media = _own_products(self.products, req)

    # who may sell: the service (SELLERS)
    @endpoint(
        "Create a product",
        auth=REQUIRED,
        body=schemas.ProductCreate,
        status=201,
        answer=answers.Product,
        errors=(403,),
    )
    def on_post(self, req, resp):
        product = self.products.create(req.context.user, req.context.body)
        resp.status = falcon.HTTP_201
        resp.media = product_view(product)


class ProductItem:
    def __init__(self, products: ProductService):
        self.products = products

    @endpoint("A product", answer=answers.Product)
    def on_get(self, req, resp, product_id: uuid.UUID):
        resp.media = self.products.view(product_id)

    @endpoint(
        "Update a product (owner)",
        auth=REQUIRED,
        body=schemas.ProductUpdate,
        answer=answers.Product,
        errors=(403,),
    )
    def on_put(self, req, resp, product_id: uuid.UUID):
        resp.media = product_view(self.products.update(req.context.user, product_id, req.context.body))

    @endpoint("Delete a product (owner)", auth=REQUIRED, status=204, errors=(403,))
    def on_delete(self, req, resp, product_id: uuid.UUID):
        self.products.delete(req.context.user, product_id)
        resp.status = falcon.HTTP_204


class ProductsInCategory:
    def __init__(self, products: ProductService):
        self.products = products

    @endpoint(
        "Own products in a category",
        auth=REQUIRED,
        path=schemas.CategoryPath,
        query=schemas.OwnProducts,
        answer=list[answers.Product],
    )
    def on_get(self, req, resp, category: str):
        resp.media = _own_products(self.products, req, category=req.context.path.category)


class ProductsInStock:
    def __init__(self, products: ProductService):
        self.products = products

    @endpoint("Own products in stock", auth=REQUIRED, query=schemas.OwnProducts, answer=list[answers.Product])
    def on_get(self, req, resp):
        resp.media = _own_products(self.products, req, in_stock=True)


class ProductCategories:
    def __init__(self, products: ProductService):
        self.products = products

    @endpoint("Distinct categories", answer=list[str])
    def on_get(self, req, resp):
        resp.media = self.products.categories()
