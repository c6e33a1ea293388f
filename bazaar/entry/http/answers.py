"""What the routes answer, as pydantic models: the success envelope and the public shapes of
`bazaar.domain.views`, for `/api/openapi.json` only (responses are built by the views, and
tests/api/test_openapi.py checks real answers against these schemas).

Answers stay open to new fields (no `additionalProperties: false`): a client must not break when a shape
grows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from bazaar.domain.models import OrderStatus, Role, SessionStatus
from bazaar.services.agora import ROLES

T = TypeVar("T")
Amount = float  # JSON number, two decimals
UserRole = Literal[Role.ALL]
Status = Literal[SessionStatus.ALL]


class Answer(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="allow")


# envelopes -----------------------------------------------------------------------------------------------
class Done(Answer):
    success: Literal[True]
    message: str | None = None


class Ok(Done, Generic[T]):
    data: T


class OkList(Done, Generic[T]):
    data: list[T]
    count: int


class Error(Answer):
    success: Literal[False]
    message: str
    error: str  # a short machine code: validation_error, not_found, token_expired, …
    details: dict[str, str] | None = None  # per field, for validation errors
    request_id: str | None = None  # on 500s: the id the log line carries


# rows ------------------------------------------------------------------------------------------------------
class User(Answer):
    id: int
    username: str
    role: UserRole
    created_at: datetime
    updated_at: datetime
    email: str | None = None  # for the user themself and admins only


class TokenPair(Answer):
    access_token: str
    token: str  # = accessToken
    refresh_token: str


class SignedIn(TokenPair):
    user: User


class Product(Answer):
    id: uuid.UUID
    name: str
    description: str | None
    price: Amount
    original_price: Amount | None
    category: str | None
    in_stock: bool
    image_url: str | None
    seller_id: int
    created_at: datetime
    updated_at: datetime


class ListedProduct(Product):
    """A session's product as the watch page reads it: the product with its place in the session."""

    featured: bool
    display_order: int


class SessionSummary(Answer):
    id: uuid.UUID
    title: str
    description: str | None
    category: str | None
    tags: list[str]
    status: Status
    started_at: datetime | None
    agora_channel_name: str | None


class Creator(Answer):
    id: int
    username: str


class Session(SessionSummary):
    stream_url: str | None
    scheduled_at: datetime | None
    ended_at: datetime | None
    creator_id: int
    creator: Creator
    active_product_id: uuid.UUID | None
    active_product: Product | None
    reaction_counts: dict[str, int]
    created_at: datetime
    updated_at: datetime
    viewer_count: int | None = Field(None, description="while live or paused")
    stream_key: str | None = Field(None, description="for its creator only")
    products: list[ListedProduct] | None = None


class LiveCreator(User):
    live_session: SessionSummary


class SessionProduct(Answer):
    id: uuid.UUID
    session_id: uuid.UUID
    product_id: uuid.UUID
    product: Product
    featured: bool
    display_order: int
    created_at: datetime


class StreamToken(Answer):
    session_id: uuid.UUID
    channel_name: str
    token: str
    uid: int
    app_id: str
    expires_at: datetime
    role: Literal[ROLES]


class RankedReaction(Answer):
    type: str
    count: int


class Reactions(Answer):
    session_id: uuid.UUID
    session_status: Status
    is_live: bool
    reactions: dict[str, int]
    sorted_reactions: list[RankedReaction]
    total: int


class Showcased(Answer):
    session_id: uuid.UUID
    active_product_id: uuid.UUID | None
    product: Product | None


class ProductClicks(Answer):
    product_id: uuid.UUID
    product_name: str | None
    unique_clicks: int
    total_clicks: int
    click_through_rate: float


class Conversion(Answer):
    total_viewers: int
    products: list[ProductClicks]


class ConversionStats(Done):
    session_id: uuid.UUID
    session_status: Status
    data: Conversion


class ChatMessage(Answer):
    id: uuid.UUID
    session_id: uuid.UUID
    user_id: int
    username: str
    user_name: str  # = username (the front end reads userName)
    message: str
    created_at: datetime


class Count(Answer):
    count: int


class CreatorReport(Ok[dict[str, Any]]):
    creator_id: int


# selling ---------------------------------------------------------------------------------------------------
class Drop(Answer):
    product_id: uuid.UUID
    drop_quantity: int
    remaining: int
    drop_price: Amount | None
    limit_per_buyer: int | None
    starts_at: datetime | None
    ends_at: datetime | None


class OrderedProduct(Answer):
    id: uuid.UUID
    name: str
    image_url: str | None


class Order(Answer):
    id: uuid.UUID
    session_id: uuid.UUID
    product_id: uuid.UUID
    product: OrderedProduct
    buyer_id: int
    seller_id: int
    quantity: int
    unit_price: Amount
    total: Amount
    currency: str
    status: Literal[OrderStatus.ALL]
    reserved_until: datetime | None
    paid_at: datetime | None
    fulfilled_at: datetime | None
    cancelled_at: datetime | None
    expired_at: datetime | None
    refunded_at: datetime | None
    payment_provider: str | None
    payment_reference: str | None
    tracking_number: str | None
    created_at: datetime
    updated_at: datetime


class PaymentReceipt(Answer):
    event_id: str
    order_id: uuid.UUID
    status: Literal[OrderStatus.ALL]
    duplicate: bool  # the event was applied before: nothing changed


# search ----------------------------------------------------------------------------------------------------
class Hits(Answer, Generic[T]):
    results: list[T]
    total: int
    limit: int
    offset: int
    has_more: bool


class SearchCounts(Answer):
    sessions: int
    products: int


class Overview(Answer):
    sessions: list[Session]
    products: list[Product]
    total: int
    counts: SearchCounts


# operations ------------------------------------------------------------------------------------------------
class Health(Answer):
    status: Literal["ok"]


class Ready(Answer):
    success: bool
    status: Literal["ready", "unavailable"]
    checks: dict[str, Literal["ok", "unavailable"]]
