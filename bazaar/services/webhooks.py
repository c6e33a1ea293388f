"""Outgoing webhooks: deliver the webhook outbox to `WEBHOOK_URL` (`bazaar webhooks run`).

At least once: a row is deleted only after the receiver answered 2xx, so a crash between sending and
deleting sends it again (receivers de-duplicate by the event `id`, which a retry keeps). In order per
subject (an order or a session): only the oldest row of a subject is ever taken, so a later event waits
until the earlier one is delivered — or parked, which holds the later ones back too until
`retry-parked`. A failed delivery is retried after `WEBHOOK_BACKOFF_BASE_S` × 2^(attempts−1), at most
`WEBHOOK_BACKOFF_MAX_S`, and parked after `WEBHOOK_MAX_ATTEMPTS`. Several delivery processes may
run: on PostgreSQL each claims its rows with SKIP LOCKED.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

import peewee as pw
import requests

from bazaar.domain.clock import iso, now
from bazaar.domain.models import WebhookOutbox
from bazaar.infra.db import connection, database, is_postgres
from bazaar.services.payments import SIGNATURE_HEADER, signature_header
from config import Settings

log = logging.getLogger("bazaar.webhooks")


class WebhookDelivery:
    def __init__(self, settings: Settings, http: requests.Session | None = None):
        self.settings = settings
        self.http = http or requests.Session()

    def deliver_due(self) -> int:
        """Send the due head event of each subject, at most a batch; the number delivered."""
        earlier = WebhookOutbox.alias()
        query = (
            WebhookOutbox.select()
            .where(
                ~WebhookOutbox.parked
                & (WebhookOutbox.next_attempt_at <= now())
                & ~pw.fn.EXISTS(
                    earlier.select(earlier.id).where(
                        (earlier.subject == WebhookOutbox.subject) & (earlier.id < WebhookOutbox.id)
                    )
                )
            )
            .order_by(WebhookOutbox.id)
            .limit(self.settings.webhook_batch_size)
        )
        if is_postgres():
            query = query.for_update(of=WebhookOutbox, skip_locked=True)
        delivered = 0
        with database.atomic():
            for row in list(query):
                error = self._send(row)
                if error is None:
                    row.delete_instance()
                    delivered += 1
                else:
                    self._failed(row, error)
        return delivered

    def _send(self, row: WebhookOutbox) -> str | None:
        """None when the receiver took it (2xx), else what went wrong."""
        body = json.dumps(row.payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Bazaar-Event": row.event_type}
        if self.settings.webhook_secret:
            headers[SIGNATURE_HEADER] = signature_header(self.settings.webhook_secret, body)
        try:
            answer = self.http.post(
                self.settings.webhook_url, data=body, headers=headers, timeout=self.settings.webhook_timeout_s
            )
        except requests.RequestException as exc:
            return f"{type(exc).__name__}: {exc}"[:1000]
        if 200 <= answer.status_code < 300:
            return None
        return f"HTTP {answer.status_code}: {answer.text[:200]}"

    def _failed(self, row: WebhookOutbox, error: str) -> None:
        s = self.settings
        attempts = row.attempts + 1
        parked = attempts >= s.webhook_max_attempts
        delay_s = min(s.webhook_backoff_base_s * 2 ** (attempts - 1), s.webhook_backoff_max_s)
        (
            WebhookOutbox.update(
                attempts=attempts,
                parked=parked,
                last_error=error,
                next_attempt_at=now() + timedelta(seconds=delay_s),
            )
            .where(WebhookOutbox.id == row.id)
            .execute()
        )
        if parked:
            log.warning(
                "webhook %s (%s) parked after %d attempts: %s", row.event_id, row.event_type, attempts, error
            )

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set: at once while there is work, every poll interval otherwise."""
        log.info("delivering webhooks to %s", self.settings.webhook_url)
        while not stop.is_set():
            try:
                with connection():
                    delivered = self.deliver_due()
            except pw.DatabaseError as exc:  # the database is away: try again after a poll interval
                log.warning("webhook delivery failed: %r", exc)
                delivered = 0
            if not delivered:
                stop.wait(self.settings.webhook_poll_interval_s)

    @staticmethod
    def status() -> dict:
        """Pending (never tried), failed (being retried) and parked deliveries, and the oldest waiting."""
        with connection():
            counts = dict(
                WebhookOutbox.select(
                    pw.Case(
                        None,
                        [(WebhookOutbox.parked, "parked"), (WebhookOutbox.attempts > 0, "failed")],
                        "pending",
                    ).alias("state"),
                    pw.fn.COUNT(WebhookOutbox.id),
                )
                .group_by(pw.SQL("1"))
                .tuples()
            )
            oldest = WebhookOutbox.select(WebhookOutbox.created_at).order_by(WebhookOutbox.id).first()
        return {
            "pending": counts.get("pending", 0),
            "failed": counts.get("failed", 0),
            "parked": counts.get("parked", 0),
            "oldestCreatedAt": iso(oldest.created_at) if oldest else None,
        }

    @staticmethod
    def retry_parked() -> int:
        """Parked deliveries go back to the queue, due now, with their attempts counted afresh."""
        with connection():
            return (
                WebhookOutbox.update(parked=False, attempts=0, next_attempt_at=now())
                .where(WebhookOutbox.parked)
                .execute()
            )
