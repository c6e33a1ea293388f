"""Typed commands the services take: what may be written to a product, a session or an account, validated
before the service sees it (the REST bodies are these models, see `bazaar/entry/http/schemas.py`)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from bazaar.domain.inputs import (
    BlankIsNone,
    Body,
    Email,
    HttpUrl,
    Money,
    Password,
    Secret,
    Tags,
    Timestamp,
    Username,
    choice,
    id_list,
    integer,
    text,
)
from bazaar.domain.models import Role

Name = text(min_len=1, max_len=255)
Category = text(min_len=1, max_len=100)
Description = text(max_len=5000, free=True)  # keeps tabs and line breaks
MAX_STOCK_UNITS = 1_000_000_000
# null: not tracked; while tracked, inStock is derived from it (SPEC §11)
StockQuantity = integer(minimum=0, maximum=MAX_STOCK_UNITS) | None


class Changes(Body):
    """A partial update: only the fields the caller sent are written."""

    def written(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ProductCreate(Body):
    name: Name
    description: BlankIsNone[Description] = None
    price: Money
    original_price: BlankIsNone[Money] = None
    image_url: BlankIsNone[HttpUrl] = None
    category: BlankIsNone[Category] = None
    in_stock: bool = True
    stock_quantity: StockQuantity = None

    def written(self) -> dict[str, Any]:
        return self.model_dump()


class ProductUpdate(Changes):
    name: Name = None
    description: BlankIsNone[Description] = None
    price: Money = None
    original_price: BlankIsNone[Money] = None
    image_url: BlankIsNone[HttpUrl] = None
    category: BlankIsNone[Category] = None
    in_stock: bool = None
    stock_quantity: StockQuantity = None


class SessionUpdate(Changes):
    title: Name = None
    description: BlankIsNone[Description] = None
    category: BlankIsNone[Category] = None
    tags: Tags = None
    stream_url: BlankIsNone[HttpUrl] = None
    scheduled_at: BlankIsNone[Timestamp] = None


class SessionCreate(Body):
    title: Name
    description: BlankIsNone[Description] = None
    category: BlankIsNone[Category] = None
    tags: Tags = []
    stream_url: BlankIsNone[HttpUrl] = None
    scheduled_at: BlankIsNone[Timestamp] = None
    stream_key: BlankIsNone[text(min_len=1, max_len=255)] = None
    product_ids: id_list() = []  # the caller's own products, in display order

    def written(self) -> dict[str, Any]:
        """The session's own columns (`product_ids` become session products)."""
        return self.model_dump(exclude={"product_ids"})


class SelfUpdate(Changes):
    model_config = ConfigDict(json_schema_extra={"dependentRequired": {"password": ["currentPassword"]}})

    username: Username = None
    email: Email = None
    password: Password = None
    current_password: Secret = None  # needed to change one's own password


class UserUpdate(SelfUpdate):
    """An admin sets another user's password without theirs; one's own still needs currentPassword."""

    model_config = ConfigDict(json_schema_extra={})

    role: choice(Role.ALL) = None  # an admin's decision
