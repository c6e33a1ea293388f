"""Every REST body, query string and free-text path segment, as pydantic models (field types from
`bazaar.domain.inputs`). Responders name theirs in `@endpoint(...)`; `/api/openapi.json` publishes them.

Bodies are strict and refuse unknown fields; query strings convert text and ignore unknown parameters.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, PlainValidator, WithJsonSchema, model_validator

from bazaar.domain.errors import Invalid
from bazaar.domain.inputs import (
    MAX_INT32,
    BlankIsNone,
    Body,
    Email,
    Lenient,
    Money,
    Page,
    Password,
    Query,
    QueryBool,
    QueryMoney,
    Secret,
    Timestamp,
    Username,
    Uuid,
    choice,
    id_list,
    integer,
    query_int,
    text,
    to_timestamp,
    to_uuid,
)
from bazaar.domain.models import OrderStatus, Role, SessionStatus
from bazaar.infra.search import query as search
from bazaar.services.agora import ROLES, SUBSCRIBER
from bazaar.services.commands import (  # the bodies that are services' commands
    Category,
    ProductCreate,
    ProductUpdate,
    SelfUpdate,
    SessionCreate,
    SessionUpdate,
    UserUpdate,
)

Token = text(min_len=1, max_len=512)
DisplayOrder = integer(minimum=0, maximum=MAX_INT32)  # a 32-bit column


# auth and users ---------------------------------------------------------------------------------------
class Register(Body):
    username: Username
    email: Email
    password: Password
    role: choice(Role.SELF_REGISTRABLE) = Role.VIEWER


class Login(Body):
    """`username` may be an email; `email` is accepted as well (one of the two is required)."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["username"]}, {"required": ["email"]}]}
    )

    username: text(min_len=1, max_len=255) = None
    email: text(min_len=1, max_len=255) = None
    password: Secret


class RefreshToken(Body):
    refresh_token: Token


class Logout(Body):
    refresh_token: Token = None  # without it every refresh token of the caller is revoked


class UserCreate(Body):
    username: Username
    email: Email
    password: Password
    role: choice(Role.ALL) = Role.VIEWER


# sessions and their products ---------------------------------------------------------------------------
class SessionList(Page):
    status: choice(SessionStatus.ALL) = None


class StatusChange(Body):
    status: choice(SessionStatus.ALL)


class StreamTokenRequest(Body):
    role: choice(ROLES) = SUBSCRIBER


class ShowcaseRequest(Body):
    product_id: Uuid | None  # null clears the showcase


class ProductLink(Body):
    product_id: Uuid
    featured: bool = False
    display_order: DisplayOrder = None


class FeaturedProducts(Body):
    product_ids: id_list()


class DisplayOrderChange(Body):
    display_order: DisplayOrder


class SessionProductsQuery(Query):
    featured: QueryBool = None


class OwnProducts(Query):
    """The front end reads whole lists, so paging is opt-in here: no `limit`, no limit."""

    limit: query_int(minimum=1, maximum=100) = None
    offset: query_int(minimum=0, maximum=MAX_INT32) = 0


class CategoryPath(Query):
    category: Category


# chat ------------------------------------------------------------------------------------------------
def _time_or_message_id(value: Any):
    for form in (to_uuid, to_timestamp):
        try:
            return form(value)
        except ValueError:
            pass
    raise ValueError("must be an ISO time or a message id")


class ChatHistory(Query):
    limit: query_int(minimum=1, maximum=100) = 50
    before: Annotated[
        Any,
        PlainValidator(_time_or_message_id),
        WithJsonSchema(
            {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "string", "format": "date-time"}]}
        ),
    ] = None


class ChatPost(Lenient):
    """The text is checked by the chat service (the same rules as a WebSocket `chat-message`); identity
    fields the front end sends along (`userId`, `userName`) are ignored: the author is the caller."""

    message: text(min_len=1, max_len=None)  # at most CHAT_MAX_CHARS: the chat service checks it


# search: each query builds the request both search backends answer ------------------------------------------
SearchText = text(max_len=search.MAX_QUERY_CHARS)


class SearchPage(Page):
    limit: query_int(minimum=1, maximum=100) = search.LIST_DEFAULT_LIMIT

    def page(self) -> search.Page:
        return search.Page(self.limit, self.offset)


class Overview(Query):
    q: text(min_len=1, max_len=search.MAX_QUERY_CHARS)
    limit: query_int(minimum=1, maximum=100) = search.OVERVIEW_DEFAULT_LIMIT

    def request(self) -> search.Overview:
        return search.Overview(text=self.q, limit=self.limit)


class SessionSearch(SearchPage):
    q: SearchText = ""
    status: choice(SessionStatus.ALL) = None
    category: text(max_len=100) = None
    creator_id: query_int(minimum=1, maximum=MAX_INT32) = None
    sort_by: choice(search.SESSION_SORTS) = None

    def request(self) -> search.SessionSearch:
        """Without `sortBy`: best match first with a text, else newest."""
        return search.SessionSearch(
            text=self.q,
            status=self.status,
            category=self.category,
            creator_id=self.creator_id,
            sort=self.sort_by or (search.RELEVANCE if self.q else "newest"),
            page=self.page(),
        )


class ProductSearch(SearchPage):
    q: SearchText = ""
    category: text(max_len=100) = None
    in_stock: QueryBool = None
    min_price: QueryMoney = None
    max_price: Annotated[QueryMoney, Field(description="not below minPrice")] = None
    seller_id: query_int(minimum=1, maximum=MAX_INT32) = None
    sort_by: choice(search.PRODUCT_SORTS) = None

    @model_validator(mode="after")
    def _a_price_range(self):
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise Invalid(
                "Invalid query: minPrice must not be greater than maxPrice",
                details={"minPrice": "must not be greater than maxPrice"},
            )
        return self

    def request(self) -> search.ProductSearch:
        """Without a text, `relevance` means newest first."""
        return search.ProductSearch(
            text=self.q,
            category=self.category,
            in_stock=self.in_stock,
            min_price=self.min_price,
            max_price=self.max_price,
            seller_id=self.seller_id,
            sort=self.sort_by or search.RELEVANCE,
            page=self.page(),
        )


# selling: drops and orders (SPEC §11) --------------------------------------------------------------------
MAX_IDEMPOTENCY_KEY_CHARS = 64
MAX_DROP_UNITS = 1_000_000
MAX_UNITS_PER_ORDER = 1000


class NoBody(Body):
    """Nothing to send (an empty object, or no body at all)."""


class DropSettings(Body):
    """A PUT: what is not sent goes back to its default; dropQuantity 0 ends the drop; endsAt must be after
    startsAt."""

    drop_quantity: integer(minimum=0, maximum=MAX_DROP_UNITS)
    drop_price: Money | None = None
    limit_per_buyer: integer(minimum=1, maximum=MAX_UNITS_PER_ORDER) | None = None
    drop_starts_at: Timestamp | None = Field(None, alias="startsAt")
    drop_ends_at: Timestamp | None = Field(None, alias="endsAt")


class NewOrder(Body):
    product_id: Uuid
    quantity: integer(minimum=1, maximum=MAX_UNITS_PER_ORDER) = 1


class IdempotencyKey(Query):
    """Read by the responder, which names each problem with its own code (idempotency_key_required, …)."""

    idempotency_key: Annotated[str, Field(min_length=1, max_length=MAX_IDEMPOTENCY_KEY_CHARS)] = Field(
        alias="Idempotency-Key"
    )


class OrderList(Page):
    status: choice(OrderStatus.ALL) = None


class MarkPaid(Body):
    reference: BlankIsNone[text(min_len=1, max_len=255)] = None


class Fulfil(Body):
    tracking_number: BlankIsNone[text(min_len=1, max_len=255)] = None


__all__ = [
    "ProductCreate",
    "ProductUpdate",
    "SelfUpdate",
    "SessionCreate",
    "SessionUpdate",
    "UserUpdate",
]
