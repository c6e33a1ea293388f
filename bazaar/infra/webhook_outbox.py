"""Outgoing-webhook outbox: a row per event, written in the transaction of the change it reports.

Modelled on the search outbox: on PostgreSQL a NOTIFY rides along and is delivered only on commit, so
the delivery loop (`bazaar webhooks run`) wakes exactly when the event is visible; it polls anyway.
The row holds the whole body as POSTed, so a retry sends the same bytes' meaning (same event id).
Rows of one `subject` (an order id, a session id) are delivered in id order.
"""

from __future__ import annotations

import uuid

from bazaar.domain.clock import iso, now
from bazaar.domain.models import WebhookOutbox
from bazaar.infra.db import database, is_postgres

NOTIFY_CHANNEL = "bazaar_webhook_outbox"


class WebhookRecorder:
    """Records events only when outgoing webhooks are configured (`WEBHOOK_URL`): otherwise nobody would
    ever drain the rows."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def row(self, event_type: str, subject, data: dict) -> WebhookOutbox | None:
        """The event's row, unsaved (None when webhooks are off): for a caller that writes it itself."""
        if not self.enabled:
            return None
        event_id = uuid.uuid4()
        return WebhookOutbox(
            event_id=event_id,
            event_type=event_type,
            subject=str(subject),
            payload={"id": str(event_id), "type": event_type, "createdAt": iso(now()), "data": data},
        )

    def record(self, event_type: str, subject, data: dict) -> None:
        self.write(self.row(event_type, subject, data))

    @staticmethod
    def write(row: WebhookOutbox | None) -> None:
        """Save a row `row` made (in the caller's transaction); nothing when webhooks are off."""
        if row is None:
            return
        row.save(force_insert=True)
        if is_postgres():
            database.execute_sql(f"NOTIFY {NOTIFY_CHANNEL}")
