"""Helpers for tests about live shows: create one through the API and move it along its status machine."""

from __future__ import annotations

from bazaar.domain.models import SearchOutbox
from bazaar.infra import db
from tests.support.api_client import Actor, ApiClient


def make_show(api: ApiClient, owner: Actor, **fields) -> dict:
    """A scheduled session of `owner` (pass `productIds` to sell products in it)."""
    resp = api.post("/api/sessions", json={"title": "Friday Night Gadgets", **fields}, as_=owner)
    assert resp.status == 201, resp
    return resp.data


def set_status(api: ApiClient, owner: Actor, show: dict, status: str) -> dict:
    resp = api.patch(f"/api/sessions/{show['id']}/status", json={"status": status}, as_=owner)
    assert resp.status == 200, resp
    return resp.data


def start(api: ApiClient, owner: Actor, show: dict) -> dict:
    """start-stream; returns the publisher token data."""
    resp = api.post(f"/api/sessions/{show['id']}/start-stream", as_=owner)
    assert resp.status == 200, resp
    return resp.data


def end(api: ApiClient, owner: Actor, show: dict) -> None:
    resp = api.post(f"/api/sessions/{show['id']}/end-stream", as_=owner)
    assert resp.status == 200, resp


def session_outbox_rows(session_id: str) -> int:
    """How many search-outbox rows the session has collected (one per recorded change)."""
    with db.connection():
        return (
            SearchOutbox.select()
            .where((SearchOutbox.doc_type == "session") & (SearchOutbox.doc_id == session_id))
            .count()
        )
