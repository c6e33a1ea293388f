"""POST /api/payments/webhook/:provider — a payment provider's signed event (SPEC §11)."""

from __future__ import annotations

from bazaar.entry.http import answers
from bazaar.entry.http.common import ok
from bazaar.entry.http.endpoint import endpoint
from bazaar.services.payments import PaymentService


class PaymentWebhook:
    def __init__(self, payments: PaymentService):
        self.payments = payments

    @endpoint(
        "A payment provider's signed event (the signature covers the raw body; a replay changes nothing)",
        answer=answers.Ok[answers.PaymentReceipt],
        errors=(400, 404, 409, 413),  # 404: an unknown provider
    )
    def on_post(self, req, resp, provider: str):
        # The signature covers the exact bytes sent: read them raw, never re-encoded.
        raw = req.bounded_stream.read()
        resp.media = ok(self.payments.receive(provider, req.headers, raw))
