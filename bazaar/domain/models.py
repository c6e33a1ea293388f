"""Rows. Models own their invariants (the session status machine lives here).

Every datetime is naive UTC (see `bazaar.domain.clock`). Money is NUMERIC(10,2).
The schema itself is created by the migrations in `bazaar/infra/migrations/`.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from enum import StrEnum, nonmember

import peewee as pw

from bazaar.domain.clock import now

# Bound once per process by `bazaar.infra.db.open_database`.
database = pw.DatabaseProxy()


class JSONTextField(pw.TextField):
    """JSON stored as text, portable between PostgreSQL and SQLite."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value):
        return None if value is None else json.loads(value)


class EnumField(pw.CharField):
    """A StrEnum stored as its string value; rows read back as members."""

    def __init__(self, enum: type[StrEnum], **kwargs):
        self.enum = enum
        super().__init__(**kwargs)

    def python_value(self, value):
        return None if value is None else self.enum(value)


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


class Role(StrEnum):
    VIEWER = "viewer"
    CREATOR = "creator"
    MODERATOR = "moderator"
    ADMIN = "admin"
    ALL = nonmember((VIEWER, CREATOR, MODERATOR, ADMIN))
    SELF_REGISTRABLE = nonmember((VIEWER, CREATOR))


class User(BaseModel):
    id = pw.AutoField()
    username = pw.CharField(max_length=50)
    email = pw.CharField(max_length=255)  # stored lower-cased
    password_hash = pw.CharField(max_length=100)
    role = EnumField(Role, max_length=20, default=Role.VIEWER, index=True)
    created_at = pw.DateTimeField(default=now)
    updated_at = pw.DateTimeField(default=now)

    class Meta:
        table_name = "users"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_sell(self) -> bool:
        return self.role in (Role.CREATOR, Role.ADMIN)

    @property
    def can_moderate(self) -> bool:
        return self.role in (Role.MODERATOR, Role.ADMIN)


class RefreshToken(BaseModel):
    id = pw.UUIDField(primary_key=True, default=uuid.uuid4)
    user = pw.ForeignKeyField(User, on_delete="CASCADE", backref="refresh_tokens")
    token_hash = pw.CharField(max_length=64, unique=True)
    family_id = pw.UUIDField(index=True)
    expires_at = pw.DateTimeField()
    revoked_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=now)

    class Meta:
        table_name = "refresh_tokens"


class Product(BaseModel):
    id = pw.UUIDField(primary_key=True, default=uuid.uuid4)
    seller = pw.ForeignKeyField(User, on_delete="CASCADE", backref="products")
    name = pw.CharField(max_length=255)
    description = pw.TextField(null=True)
    price = pw.DecimalField(max_digits=10, decimal_places=2, auto_round=True)
    original_price = pw.DecimalField(max_digits=10, decimal_places=2, auto_round=True, null=True)
    category = pw.CharField(max_length=100, null=True, index=True)
    in_stock = pw.BooleanField(default=True)  # derived from stock_quantity while that is tracked
    stock_quantity = pw.IntegerField(null=True)  # None: stock not tracked
    image_url = pw.CharField(max_length=2048, null=True)
    created_at = pw.DateTimeField(default=now, index=True)
    updated_at = pw.DateTimeField(default=now)

    class Meta:
        table_name = "products"
        indexes = (
            (("seller", "created_at"), False),
            (("seller", "category"), False),
            (("seller", "in_stock"), False),
            (("price",), False),
            (("name",), False),
        )


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    PAUSED = "paused"
    ENDED = "ended"
    ALL = nonmember((SCHEDULED, LIVE, PAUSED, ENDED))
    ON_AIR = nonmember((LIVE, PAUSED))
    # Allowed moves: scheduled → live ⇄ paused → ended, and scheduled → ended (cancel).
    TRANSITIONS = nonmember(
        {
            SCHEDULED: (LIVE, ENDED),
            LIVE: (PAUSED, ENDED),
            PAUSED: (LIVE, ENDED),
            ENDED: (),
        }
    )


class IllegalTransition(Exception):
    """A status move its machine does not allow (of a session, or of an order)."""

    def __init__(self, current: str, wanted: str, kind: str = "session"):
        super().__init__(f"cannot move a {current} {kind} to {wanted}")
        self.current = current
        self.wanted = wanted


class Session(BaseModel):
    id = pw.UUIDField(primary_key=True, default=uuid.uuid4)
    creator = pw.ForeignKeyField(User, on_delete="CASCADE", backref="sessions")
    title = pw.CharField(max_length=255)
    description = pw.TextField(null=True)
    category = pw.CharField(max_length=100, null=True, index=True)
    tags = JSONTextField(default=list)
    status = EnumField(SessionStatus, max_length=20, default=SessionStatus.SCHEDULED, index=True)
    stream_url = pw.CharField(max_length=2048, null=True)
    stream_key = pw.CharField(max_length=255, null=True)
    agora_channel_name = pw.CharField(max_length=64, null=True)
    scheduled_at = pw.DateTimeField(null=True, index=True)
    started_at = pw.DateTimeField(null=True)
    ended_at = pw.DateTimeField(null=True)
    active_product = pw.ForeignKeyField(Product, null=True, on_delete="SET NULL", backref="+")
    reaction_counts = JSONTextField(default=dict)
    peak_viewers = pw.IntegerField(default=0)
    unique_clickers = pw.IntegerField(default=0)
    created_at = pw.DateTimeField(default=now, index=True)
    updated_at = pw.DateTimeField(default=now)

    class Meta:
        table_name = "sessions"
        indexes = (
            (("creator", "created_at"), False),
            (("creator", "status"), False),
            (("status", "scheduled_at"), False),
            (("title",), False),
        )

    def move_to(self, status: str, at) -> None:
        """Apply a status move with its timestamps; raises IllegalTransition."""
        if status not in SessionStatus.TRANSITIONS[self.status]:
            raise IllegalTransition(self.status, status)
        if status == SessionStatus.LIVE and self.started_at is None:
            self.started_at = at
            self.agora_channel_name = str(self.id)
        if status == SessionStatus.ENDED:
            self.ended_at = at
            self.active_product = None
        self.status = status
        self.updated_at = at

    @property
    def on_air(self) -> bool:
        return self.status in SessionStatus.ON_AIR


class SessionProduct(BaseModel):
    id = pw.UUIDField(primary_key=True, default=uuid.uuid4)
    session = pw.ForeignKeyField(Session, on_delete="CASCADE", backref="session_products")
    product = pw.ForeignKeyField(Product, on_delete="CASCADE", backref="session_links")
    featured = pw.BooleanField(default=False)
    display_order = pw.IntegerField(default=0)
    created_at = pw.DateTimeField(default=now)
    # A drop: units reserved for this show out of the product's stock (bazaar/services/drops.py).
    # drop_quantity 0 or None: no open drop; drop_remaining: units still for sale in it.
    drop_quantity = pw.IntegerField(null=True)
    drop_remaining = pw.IntegerField(null=True)
    drop_price = pw.DecimalField(max_digits=10, decimal_places=2, auto_round=True, null=True)
    limit_per_buyer = pw.IntegerField(null=True)
    drop_starts_at = pw.DateTimeField(null=True)
    drop_ends_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "session_products"
        indexes = (
            (("session", "product"), True),
            (("session", "display_order", "created_at"), False),
        )


class ChatMessage(BaseModel):
    id = pw.UUIDField(primary_key=True, default=uuid.uuid4)
    session = pw.ForeignKeyField(Session, on_delete="CASCADE", backref="messages")
    user = pw.ForeignKeyField(User, on_delete="CASCADE", backref="messages")
    message = pw.TextField()
    created_at = pw.DateTimeField(default=now)

    class Meta:
        table_name = "chat_messages"
        indexes = ((("session", "created_at", "id"), False),)


class SessionView(BaseModel):
    """One viewer's presence in a session: opened on join, closed on leave."""

    id = pw.UUIDField(primary_key=True, default=uuid.uuid4)
    session = pw.ForeignKeyField(Session, on_delete="CASCADE", backref="views")
    user = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="views")
    viewer_key = pw.CharField(max_length=64)  # "u:<id>" or "c:<connection id>"
    joined_at = pw.DateTimeField(default=now)
    left_at = pw.DateTimeField(null=True)
    watch_seconds = pw.IntegerField(null=True)

    class Meta:
        table_name = "session_views"
        indexes = (
            (("session", "joined_at"), False),
            (("session", "left_at"), False),
            (("session", "viewer_key"), False),
        )


class ProductClickStat(BaseModel):
    """Persisted click counters of one product in one session (live ones are in LiveState)."""

    id = pw.UUIDField(primary_key=True, default=uuid.uuid4)
    session = pw.ForeignKeyField(Session, on_delete="CASCADE", backref="click_stats")
    product = pw.ForeignKeyField(Product, on_delete="CASCADE", backref="click_stats")
    total_clicks = pw.IntegerField(default=0)
    unique_clicks = pw.IntegerField(default=0)
    updated_at = pw.DateTimeField(default=now)

    class Meta:
        table_name = "product_click_stats"
        indexes = ((("session", "product"), True),)


class SearchOutbox(BaseModel):
    """A search document that changed and must be (re)sent to the search index."""

    id = pw.BigAutoField()
    doc_type = pw.CharField(max_length=20)  # "session" | "product"
    doc_id = pw.CharField(max_length=64)
    created_at = pw.DateTimeField(default=now)
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=now)
    last_error = pw.TextField(null=True)
    parked = pw.BooleanField(default=False)

    class Meta:
        table_name = "search_outbox"
        indexes = (
            (("parked", "next_attempt_at"), False),
            (("doc_type", "doc_id"), False),
        )


class OrderStatus:
    RESERVED = "reserved"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    ALL = (RESERVED, PAID, FULFILLED, CANCELLED, EXPIRED, REFUNDED)
    HOLDING = (RESERVED, PAID, FULFILLED)  # orders whose units are out of the drop and the stock
    SOLD = (PAID, FULFILLED)  # what sales analytics count
    RETURNING = (CANCELLED, EXPIRED)  # moves that give the units back
    # reserved → paid → fulfilled; reserved → cancelled | expired; paid → refunded.
    TRANSITIONS = {
        RESERVED: (PAID, CANCELLED, EXPIRED),
        PAID: (FULFILLED, REFUNDED),
        FULFILLED: (),
        CANCELLED: (),
        EXPIRED: (),
        REFUNDED: (),
    }


class Order(BaseModel):
    """A buyer's purchase of units of a drop; its status machine is `OrderStatus.TRANSITIONS`."""

    id = pw.UUIDField(primary_key=True, default=uuid.uuid4)
    session = pw.ForeignKeyField(Session, on_delete="CASCADE", backref="orders")
    product = pw.ForeignKeyField(Product, on_delete="CASCADE", backref="orders")
    buyer = pw.ForeignKeyField(User, on_delete="CASCADE", backref="orders")
    seller = pw.ForeignKeyField(User, on_delete="CASCADE", backref="sales")
    quantity = pw.IntegerField()
    unit_price = pw.DecimalField(max_digits=10, decimal_places=2, auto_round=True)
    total = pw.DecimalField(max_digits=10, decimal_places=2, auto_round=True)
    currency = pw.CharField(max_length=3)
    status = pw.CharField(max_length=20, default=OrderStatus.RESERVED)
    reserved_until = pw.DateTimeField()
    paid_at = pw.DateTimeField(null=True)
    fulfilled_at = pw.DateTimeField(null=True)
    cancelled_at = pw.DateTimeField(null=True)
    expired_at = pw.DateTimeField(null=True)
    refunded_at = pw.DateTimeField(null=True)
    payment_provider = pw.CharField(max_length=32, null=True)
    payment_reference = pw.CharField(max_length=255, null=True)
    tracking_number = pw.CharField(max_length=255, null=True)
    idempotency_key = pw.CharField(max_length=64)
    request_hash = pw.CharField(max_length=64)  # of the request body the key was first used with
    created_at = pw.DateTimeField(default=now)
    updated_at = pw.DateTimeField(default=now)

    class Meta:
        table_name = "orders"
        indexes = (
            (("buyer", "idempotency_key"), True),
            (("buyer", "created_at"), False),
            (("buyer", "status", "created_at"), False),
            (("session", "created_at"), False),
            (("session", "status", "created_at"), False),
            (("session", "product", "buyer"), False),
            (("seller", "created_at"), False),
            (("status", "reserved_until"), False),
        )

    _STAMPS = {
        OrderStatus.PAID: "paid_at",
        OrderStatus.FULFILLED: "fulfilled_at",
        OrderStatus.CANCELLED: "cancelled_at",
        OrderStatus.EXPIRED: "expired_at",
        OrderStatus.REFUNDED: "refunded_at",
    }

    def move_to(self, status: str, at) -> None:
        """Apply a status move with its timestamp; raises IllegalTransition."""
        if status not in OrderStatus.TRANSITIONS[self.status]:
            raise IllegalTransition(self.status, status, "order")
        setattr(self, self._STAMPS[status], at)
        self.status = status
        self.updated_at = at


class PaymentEvent(BaseModel):
    """A payment provider's event already applied: a replay of the same event id changes nothing."""

    id = pw.BigAutoField()
    provider = pw.CharField(max_length=32)
    event_id = pw.CharField(max_length=255)
    event_type = pw.CharField(max_length=64)
    order = pw.ForeignKeyField(Order, null=True, on_delete="SET NULL", backref="payment_events")
    received_at = pw.DateTimeField(default=now)

    class Meta:
        table_name = "payment_events"
        indexes = ((("provider", "event_id"), True),)


class WebhookOutbox(BaseModel):
    """An outgoing webhook event not yet delivered; delivered in id order per `subject` (an order or a
    session id)."""

    id = pw.BigAutoField()
    event_id = pw.UUIDField(default=uuid.uuid4)
    event_type = pw.CharField(max_length=40)
    subject = pw.CharField(max_length=64)
    payload = JSONTextField()  # the whole event body as POSTed: {id, type, createdAt, data}
    created_at = pw.DateTimeField(default=now)
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=now)
    last_error = pw.TextField(null=True)
    parked = pw.BooleanField(default=False)

    class Meta:
        table_name = "webhook_outbox"
        indexes = (
            (("parked", "next_attempt_at"), False),
            (("subject", "id"), False),
        )


ALL_MODELS = [
    User,
    RefreshToken,
    Product,
    Session,
    SessionProduct,
    ChatMessage,
    SessionView,
    ProductClickStat,
    SearchOutbox,
    Order,
    PaymentEvent,
    WebhookOutbox,
]


def money(value) -> float | None:
    """NUMERIC → JSON number with two decimals."""
    if value is None:
        return None
    return float(Decimal(value).quantize(Decimal("0.01")))
