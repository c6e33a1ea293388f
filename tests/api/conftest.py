"""Products and shows (sessions) in each status, owned by `creator`, made through the API; apps of their
own."""

from __future__ import annotations

import pytest

from bazaar.app import build_services, create_api, create_app
from bazaar.domain.models import SessionStatus
from bazaar.infra import db, schema
from config import load_settings
from tests.conftest import base_env, make_product
from tests.support import databases
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


@pytest.fixture
def app_with(app, settings):
    """`app_with(**overrides)`: a second app on the same database, built from other settings."""
    built = []

    def build(**overrides) -> ApiClient:
        changed = settings.with_overrides(**overrides)
        built.append(build_services(changed))
        return ApiClient(create_api(changed, built[-1]))

    yield build
    for services in built:
        services.broker.stop()


@pytest.fixture
def own_app(tmp_path):
    """Factory: an app of its own on a fresh database; the shared binding is put back afterwards."""
    previous = db.database.obj
    made = []

    def build(database_url: str | None = None, **overrides) -> ApiClient:
        url = database_url or ("sqlite:///" + str(tmp_path / "own.db"))
        settings = load_settings(base_env(url), env_file=None).with_overrides(**overrides)
        app = create_app(settings)
        made.append(db.database.obj)
        schema.migrate()
        db.release()
        return ApiClient(app)

    yield build
    for database in made:
        database.close_all()
    db.database.initialize(previous)


@pytest.fixture
def pg_url():
    url = databases.create_pg_database("bazaar_own")
    yield url
    databases.drop_pg_database(url)
