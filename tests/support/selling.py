"""Helpers for tests about selling: products with stock, drops, buying with an idempotency key."""

from __future__ import annotations

import itertools

from bazaar.domain.models import Order, Product, SessionProduct, User
from bazaar.infra import db
from bazaar.services.auth import AuthService
from tests.conftest import make_product
from tests.support.api_client import Actor, ApiClient, Response

_keys = itertools.count(1)


def stocked_product(api: ApiClient, owner: Actor, stock: int | None = 10, **fields) -> dict:
    return make_product(api, owner, stockQuantity=stock, **fields)


def set_drop(api: ApiClient, owner: Actor, show: dict, product: dict, **drop) -> Response:
    return api.put(f"/api/sessions/{show['id']}/products/{product['id']}/drop", json=drop, as_=owner)


def open_drop(api: ApiClient, owner: Actor, show: dict, product: dict, quantity: int = 5, **drop) -> dict:
    resp = set_drop(api, owner, show, product, dropQuantity=quantity, **drop)
    assert resp.status == 200, resp
    return resp.data


def buy(
    api: ApiClient,
    buyer: Actor,
    show: dict,
    product: dict,
    quantity: int | None = None,
    key: str | None = None,
) -> Response:
    body = {"productId": product["id"]}
    if quantity is not None:
        body["quantity"] = quantity
    return api.post(
        f"/api/sessions/{show['id']}/orders",
        json=body,
        as_=buyer,
        headers={"Idempotency-Key": key or f"key-{next(_keys)}"},
    )


def bought(api: ApiClient, buyer: Actor, show: dict, product: dict, quantity: int | None = None) -> dict:
    resp = buy(api, buyer, show, product, quantity)
    assert resp.status == 201, resp
    return resp.data


def stock_of(product: dict) -> int | None:
    with db.connection():
        return Product.select(Product.stock_quantity).where(Product.id == product["id"]).scalar()


def remaining_of(show: dict, product: dict) -> int | None:
    with db.connection():
        return (
            SessionProduct.select(SessionProduct.drop_remaining)
            .where((SessionProduct.session == show["id"]) & (SessionProduct.product == product["id"]))
            .scalar()
        )


def expire_hold(order: dict) -> None:
    """Move the order's hold into the past, as if ORDER_HOLD_S had gone by."""
    with db.connection():
        Order.update(reserved_until=Order.created_at).where(Order.id == order["id"]).execute()


def many_buyers(count: int, settings) -> list[str]:
    """`count` signed-in viewers made straight in the database (registering each through the API would
    take longer than the burst itself): their access tokens, signed with `settings`' JWT secret."""
    auth = AuthService(settings, live_state=None)
    first = f"burst{next(_keys)}x"
    with db.connection():
        rows = [
            {"username": f"{first}{i}", "email": f"{first}{i}@example.test", "password_hash": "!"}
            for i in range(count)
        ]
        User.insert_many(rows).execute()
        buyers = list(User.select().where(User.username.startswith(first)))
    return [auth.access_token(buyer) for buyer in buyers]


def orders_of(show: dict) -> list[Order]:
    with db.connection():
        return list(Order.select().where(Order.session == show["id"]))
