"""Products and shows (sessions) in each status, owned by `creator`, made through the API."""
from __future__ import annotations

import pytest

from bazaar.models import SessionStatus
from tests.conftest import make_product
from tests.support.api_client import Actor, ApiClient
from tests.support.shows import end, make_show, set_status, start


@pytest.fixture
def earbuds(api, creator):
    return make_product(api, creator, name="Wireless Earbuds")


@pytest.fixture
def speaker(api, creator):
    return make_product(api, creator, name="Bluetooth Speaker")


def show_in_status(api: ApiClient, owner: Actor, status: str, **fields) -> dict:
    """A session of `owner` moved to `status`; an ended one went live first (a show that took place)."""
    show = make_show(api, owner, **fields)
    if status != SessionStatus.SCHEDULED:
        start(api, owner, show)
    if status == SessionStatus.PAUSED:
        set_status(api, owner, show, SessionStatus.PAUSED)
    if status == SessionStatus.ENDED:
        end(api, owner, show)
    resp = api.get(f"/api/sessions/{show['id']}", as_=owner)
    assert resp.data["status"] == status, resp
    return resp.data


def _show_of_creator(status: str):
    @pytest.fixture
    def show(api, creator) -> dict:
        return show_in_status(api, creator, status)
    show.__doc__ = f"A {status} show of `creator`."
    return show


scheduled_show = _show_of_creator(SessionStatus.SCHEDULED)
live_show = _show_of_creator(SessionStatus.LIVE)
paused_show = _show_of_creator(SessionStatus.PAUSED)
ended_show = _show_of_creator(SessionStatus.ENDED)
