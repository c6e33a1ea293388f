"""Payments confirmed by a provider's signed webhook, behind a provider seam.

A provider turns a signed HTTP request into a `PaymentNotice` (its own signature scheme, its own
body); the rules of what a notice does to an order live in `OrderService.apply_payment` and are the
same for every provider. Adding a provider is a class with `verify` and `notice`, registered in
`PROVIDERS` under the name that appears in the URL (`POST /api/payments/webhook/<name>`).

Replays are harmless: the notice's event id is recorded in the transaction that applies it, under a
unique key, so a second delivery (even a concurrent one) finds it and changes nothing. A payment that
arrives after its order expired or was cancelled is recorded too, and answered 409 `payment_refused`
(first delivery and replays alike) while an `order.refund_due` webhook tells the seller to refund it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol

from bazaar.domain.errors import Invalid, NotFound, Unavailable
from bazaar.domain.inputs import Lenient, Money, Uuid, choice, text, validated
from bazaar.domain.models import PaymentEvent
from bazaar.infra.db import database
from bazaar.services.orders import OrderService
from config import Settings

SIGNATURE_HEADER = "X-Bazaar-Signature"


def signature_header(secret: str, body: bytes, at: int | None = None) -> str:
    """`t=<unix>,v1=<hex>`: HMAC-SHA256 with `secret` over `<t>.<body>` (outgoing webhooks sign so too)."""
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), str(at).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def check_signature(secret: str, header: str | None, body: bytes, tolerance_s: int, now_s: float) -> None:
    """400 unless `header` signs `body` with `secret` within `tolerance_s` of now (any of its v1 values)."""
    if not header:
        raise Invalid(f"The {SIGNATURE_HEADER} header is missing", code="invalid_signature")
    parts = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in parts if key == "t"]
    signatures = [value for key, _, value in parts if key == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not signatures:
        raise Invalid(f"The {SIGNATURE_HEADER} header must be t=<unix>,v1=<hex>", code="invalid_signature")
    at = int(stamps[0])
    if abs(now_s - at) > tolerance_s:
        raise Invalid("The signature's timestamp is outside the tolerance", code="signature_expired")
    expected = signature_header(secret, body, at).partition(",v1=")[2]
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise Invalid("The signature does not match the body", code="invalid_signature")


class PaymentNotice(NamedTuple):
    """What a provider's event says about one order."""

    event_id: str
    event_type: str
    order_id: uuid.UUID
    succeeded: bool
    amount: object  # Decimal
    currency: str
    reference: str | None


class PaymentProvider(Protocol):
    name: str

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise `Invalid` unless the request is authentic."""

    def notice(self, body: bytes) -> PaymentNotice:
        """The event as a notice; `Invalid` when the body is not one."""


class _GenericEventData(Lenient):
    order_id: Uuid
    amount: Money
    currency: text(min_len=3, max_len=3)
    reference: text(min_len=1, max_len=255) | None = None


class _GenericEvent(Lenient):
    id: text(min_len=1, max_len=255)
    type: choice(("payment.succeeded", "payment.failed"))
    created_at: text(max_len=64) | None = None
    data: _GenericEventData


class GenericProvider:
    """The built-in provider: `{id, type, createdAt, data: {orderId, amount, currency, reference}}`,
    `type` payment.succeeded or payment.failed, signed as `signature_header` signs."""

    name = "generic"
    SUCCEEDED, FAILED = "payment.succeeded", "payment.failed"

    def __init__(self, secret: str | None, tolerance_s: int):
        self.secret = secret
        self.tolerance_s = tolerance_s

    @classmethod
    def from_settings(cls, settings: Settings) -> GenericProvider:
        return cls(settings.payment_webhook_secret, settings.payment_webhook_tolerance_s)

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        if not self.secret:
            raise Unavailable("Payment webhooks are not configured (PAYMENT_WEBHOOK_SECRET)")
        check_signature(
            self.secret, headers.get(SIGNATURE_HEADER.upper()), body, self.tolerance_s, time.time()
        )

    def notice(self, body: bytes) -> PaymentNotice:
        try:
            event = json.loads(body)
        except ValueError:
            raise Invalid("The event is not JSON", code="invalid_json") from None
        event = validated(_GenericEvent, event, what="event")
        return PaymentNotice(
            event_id=event.id,
            event_type=event.type,
            order_id=event.data.order_id,
            succeeded=event.type == self.SUCCEEDED,
            amount=event.data.amount,
            currency=event.data.currency,
            reference=event.data.reference,
        )


# Providers by the name in the URL; each built from the settings.
PROVIDERS: dict[str, Callable[[Settings], PaymentProvider]] = {
    GenericProvider.name: GenericProvider.from_settings,
}


class PaymentService:
    def __init__(self, settings: Settings, orders: OrderService):
        self.orders = orders
        self.providers = {name: make(settings) for name, make in PROVIDERS.items()}

    def receive(self, provider_name: str, headers: Mapping[str, str], body: bytes) -> dict:
        """Apply a provider's signed event once: a replay of its id changes nothing."""
        provider = self.providers.get(provider_name)
        if provider is None:
            raise NotFound(f"Unknown payment provider {provider_name!r}")
        provider.verify(headers, body)
        notice = provider.notice(body)
        order = self.orders.get_any(notice.order_id)
        with database.atomic():
            first = (
                PaymentEvent.insert(
                    provider=provider.name,
                    event_id=notice.event_id,
                    event_type=notice.event_type,
                    order=order.id,
                )
                .on_conflict_ignore()
                .as_rowcount()
                .execute()
            )
            if first:
                order = self.orders.apply_payment(
                    order,
                    succeeded=notice.succeeded,
                    provider=provider.name,
                    event_id=notice.event_id,
                    reference=notice.reference,
                    amount=notice.amount,
                    currency=notice.currency,
                )
        if not first:
            order = self.orders.get_any(order.id)
        refused = self.orders.payment_refused(order) if notice.succeeded else None
        if refused is not None:  # recorded (a replay answers the same), the refund left to the seller
            raise refused
        return {
            "eventId": notice.event_id,
            "orderId": str(order.id),
            "status": order.status,
            "duplicate": not first,
        }
