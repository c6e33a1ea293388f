"""POST /api/payments/webhook/:provider — a payment provider's signed event (SPEC §11)."""

from __future__ import annotations

from bazaar.entry.http.common import ok
from bazaar.services.payments import PaymentService


class PaymentWebhook:
    def __init__(self, payments: PaymentService):
        self.payments = payments

    def on_post(self, req, resp, provider: str):
        # The signature covers the exact bytes sent: read them raw, never re-encoded.
        raw = req.bounded_stream.read()
        resp.media = ok(self.payments.receive(provider, req.headers, raw))
