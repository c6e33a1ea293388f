"""Outgoing webhooks (SPEC §11): from the outbox written with each change, signed, at least once, in
order per order id, retried with backoff, parked after WEBHOOK_MAX_ATTEMPTS. A real HTTP server started
by the test receives them."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bazaar.domain.models import WebhookOutbox
from bazaar.infra import db
from bazaar.services.payments import check_signature
from bazaar.services.webhooks import WebhookDelivery
from config import load_settings
from tests.api.conftest import show_in_status
from tests.conftest import base_env, register
from tests.support import databases
from tests.support.selling import bought, open_drop, stocked_product
from tests.support.server import free_port
from tests.support.shows import end

SECRET = "whsec_outgoing_0123456789"


class Receiver:
    """An HTTP endpoint that records every POST and answers with the next status of `answers` (200 once
    they run out)."""

    def __init__(self):
        self.received: list[dict] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.answers.pop(0) if receiver.answers else 200
                receiver.received.append({"headers": dict(self.headers), "body": body, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict]:
        """The events it took (2xx), as sent."""
        return [json.loads(r["body"]) for r in self.received if r["status"] < 300]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def hooked(own_app, receiver, tmp_path):
    """(api, delivery): an app of its own whose WEBHOOK_URL is the receiver."""

    def build(**overrides):
        overrides = {"webhook_url": receiver.url, "webhook_secret": SECRET, **overrides}
        if databases.postgres_mode():
            databases.flush_redis()
        api = own_app(**overrides)
        settings = load_settings(base_env("sqlite:///" + str(tmp_path / "own.db")), env_file=None)
        return api, WebhookDelivery(settings.with_overrides(**overrides))

    return build


def _sell(api):
    creator, viewer = register(api, "creator"), register(api)
    lamp = stocked_product(api, creator, stock=10, price=20)
    show = show_in_status(api, creator, "live", productIds=[lamp["id"]])
    open_drop(api, creator, show, lamp, quantity=5)
    return creator, viewer, show, lamp


def _of(events: list[dict], subject: str) -> list[str]:
    return [e["type"] for e in events if subject in (e["data"].get("id"), e["data"].get("sessionId"))]


def _drain(delivery: WebhookDelivery) -> int:
    with db.connection():
        return sum(iter(delivery.deliver_due, 0))


def _outbox() -> list[WebhookOutbox]:
    with db.connection():
        return list(WebhookOutbox.select().order_by(WebhookOutbox.id))


def test_order_and_session_events_arrive_signed_and_in_order(hooked, receiver):
    api, delivery = hooked()
    creator, viewer, show, lamp = _sell(api)
    order = bought(api, viewer, show, lamp)
    api.post(f"/api/orders/{order['id']}/mark-paid", as_=creator)
    api.post(f"/api/orders/{order['id']}/fulfil", as_=creator)
    end(api, creator, show)
    _drain(delivery)

    events = receiver.delivered()
    assert _of(events, order["id"]) == ["order.reserved", "order.paid", "order.fulfilled"]
    assert _of(events, show["id"])[:1] == ["session.started"]
    assert "session.ended" in _of(events, show["id"])
    paid = next(e for e in events if e["type"] == "order.paid")
    assert paid["data"]["status"] == "paid" and paid["data"]["id"] == order["id"]
    assert set(paid) == {"id", "type", "createdAt", "data"}
    for request in receiver.received:
        check_signature(SECRET, request["headers"]["X-Bazaar-Signature"], request["body"], 300, time.time())
    assert _outbox() == []  # delivered rows are gone


def test_a_failed_delivery_is_retried_later_and_holds_back_the_next_event(hooked, receiver):
    api, delivery = hooked(webhook_backoff_base_s=30)
    creator, viewer, show, lamp = _sell(api)
    _drain(delivery)
    order = bought(api, viewer, show, lamp)
    api.post(f"/api/orders/{order['id']}/cancel", as_=viewer)
    receiver.answers = [500]
    assert _drain(delivery) == 0
    failed = _outbox()
    assert [(r.event_type, r.attempts) for r in failed] == [("order.reserved", 1), ("order.cancelled", 0)]
    assert failed[0].next_attempt_at - failed[0].created_at >= timedelta(seconds=29)
    assert failed[0].last_error.startswith("HTTP 500")
    assert _drain(delivery) == 0  # not due yet, and the cancel waits behind it
    with db.connection():
        WebhookOutbox.update(next_attempt_at=WebhookOutbox.created_at).execute()
    _drain(delivery)
    assert _of(receiver.delivered(), order["id"]) == ["order.reserved", "order.cancelled"]
    reserved = [json.loads(r["body"])["id"] for r in receiver.received if b"order.reserved" in r["body"]]
    assert len(reserved) == 2 and reserved[0] == reserved[1]  # the retry is the same event


def test_after_max_attempts_a_delivery_is_parked_until_retried(hooked, receiver):
    api, delivery = hooked(webhook_max_attempts=2, webhook_backoff_base_s=0.001)
    creator, viewer, show, lamp = _sell(api)
    _drain(delivery)
    order = bought(api, viewer, show, lamp)
    receiver.answers = [503, 503]
    _drain(delivery)
    time.sleep(0.01)
    _drain(delivery)
    assert [(r.attempts, r.parked) for r in _outbox()] == [(2, True)]
    api.post(f"/api/orders/{order['id']}/cancel", as_=viewer)
    _drain(delivery)
    assert delivery.status() == {
        "pending": 1,
        "failed": 0,
        "parked": 1,
        "oldestCreatedAt": delivery.status()["oldestCreatedAt"],
    }
    assert _of(receiver.delivered(), order["id"]) == []  # the cancel waits behind the parked event
    assert delivery.retry_parked() == 1
    _drain(delivery)
    assert _of(receiver.delivered(), order["id"]) == ["order.reserved", "order.cancelled"]
    assert delivery.status()["parked"] == 0


def test_an_unreachable_receiver_counts_as_a_failure(hooked, receiver):
    api, delivery = hooked(webhook_url=f"http://127.0.0.1:{free_port()}/nobody")
    _sell(api)
    _drain(delivery)
    assert all(r.attempts == 1 and "Error" in r.last_error for r in _outbox())


def test_without_a_webhook_url_nothing_is_recorded(api, creator, viewer):
    lamp = stocked_product(api, creator, stock=3)
    show = show_in_status(api, creator, "live", productIds=[lamp["id"]])
    open_drop(api, creator, show, lamp, quantity=1)
    bought(api, viewer, show, lamp)
    assert _outbox() == []


def test_the_cli_shows_the_status(hooked, receiver, monkeypatch, capsys, tmp_path):
    from bazaar import cli

    api, delivery = hooked()
    _sell(api)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "own.db"))
    cli.main(["webhooks", "status"])
    out = capsys.readouterr().out
    assert "pending: 1" in out and "parked: 0" in out  # session.started
