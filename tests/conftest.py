"""Shared fixtures: one app per run on a fresh database, clean tables per test, named actors."""

from __future__ import annotations

import itertools

import pytest

from bazaar.app import build_services, create_api
from bazaar.domain.models import ALL_MODELS, Role
from bazaar.infra import db, schema
from config import load_settings
from tests.support import databases
from tests.support.api_client import Actor, ApiClient
from tests.support.room_events import RoomEvents

AGORA_APP_ID = "970ca35de60c44645bbae8a215061b33"
AGORA_APP_CERTIFICATE = "5cfd2fd1755d40ecb72977518be15d3b"
PASSWORD = "correct-horse-9"


def base_env(database_url: str) -> dict:
    env = {
        "DATABASE_URL": database_url,
        "BCRYPT_ROUNDS": "4",
        "JWT_SECRET": "test-secret-0123456789abcdef-0123456789",
        "AGORA_APP_ID": AGORA_APP_ID,
        "AGORA_APP_CERTIFICATE": AGORA_APP_CERTIFICATE,
        "CORS_ORIGIN": "http://localhost:3001,http://app.test",
    }
    if databases.postgres_mode():
        env["REDIS_URL"] = databases.REDIS_URL
    return env


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if databases.postgres_mode():
        url = databases.create_pg_database()
        yield url
        if db.database.obj is not None:
            db.database.obj.close_all()
        databases.drop_pg_database(url)
    else:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "bazaar.db")


@pytest.fixture(scope="session")
def settings(database_url):
    return load_settings(base_env(database_url), env_file=None)


@pytest.fixture(scope="session")
def services(settings):
    db.open_database(settings)
    schema.migrate()
    db.release()
    return build_services(settings)


@pytest.fixture(scope="session")
def app(settings, services):
    return create_api(settings, services)


@pytest.fixture
def room_events(services):
    """`room_events(session_id)` records every event broadcast to that room, through the real
    publish path (after commit → broker → this worker's hub)."""
    recorders = []

    def listen(room) -> RoomEvents:
        recorder = RoomEvents(str(room))
        services.hub.join(recorder.room, recorder)
        recorders.append(recorder)
        return recorder

    yield listen
    for recorder in recorders:
        services.hub.leave(recorder.room, recorder)


@pytest.fixture(autouse=True)
def clean_state(request):
    """Every test starts from empty tables and an empty Redis db."""
    if "app" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("app")
    yield
    tables = [m._meta.table_name for m in reversed(ALL_MODELS)]
    # DELETE in one transaction is ~50x faster than TRUNCATE on PostgreSQL for tables this small.
    with db.connection(), db.database.atomic():
        for table in tables:
            db.database.execute_sql(f"DELETE FROM {table}")
    if databases.postgres_mode():
        databases.flush_redis()
    else:
        # The embedded live state lives in this process for the whole run, and SQLite hands the next
        # test's actors the same ids: start it afresh, as flushing Redis does.
        services = request.getfixturevalue("services")
        services.live_state.__init__(services.settings)


@pytest.fixture
def api(app) -> ApiClient:
    return ApiClient(app)


_names = itertools.count(1)


def register(api: ApiClient, role: str = Role.VIEWER, username: str | None = None) -> Actor:
    """Sign up through the API (viewer/creator); moderators and admins are promoted in the database."""
    username = username or f"{role}{next(_names)}"
    email = f"{username}@example.test"
    signup_role = role if role in Role.SELF_REGISTRABLE else Role.VIEWER
    resp = api.post(
        "/api/auth/register",
        json={"username": username, "email": email, "password": PASSWORD, "role": signup_role},
    )
    assert resp.status == 201, resp
    if role != signup_role:
        from bazaar.domain.models import User

        with db.connection():
            User.update(role=role).where(User.id == resp.data["user"]["id"]).execute()
        resp = api.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    data = resp.data
    return Actor(
        id=data["user"]["id"],
        username=username,
        email=email,
        password=PASSWORD,
        role=role,
        token=data["accessToken"],
        refresh_token=data["refreshToken"],
    )


@pytest.fixture
def creator(api):
    return register(api, Role.CREATOR)


@pytest.fixture
def other_creator(api):
    return register(api, Role.CREATOR)


@pytest.fixture
def viewer(api):
    return register(api, Role.VIEWER)


@pytest.fixture
def moderator(api):
    return register(api, Role.MODERATOR)


@pytest.fixture
def admin(api):
    return register(api, Role.ADMIN)


def make_product(api: ApiClient, owner: Actor, **fields) -> dict:
    body = {"name": "Wireless Earbuds", "price": 49.99, "category": "audio", **fields}
    resp = api.post("/api/products", json=body, as_=owner)
    assert resp.status == 201, resp
    return resp.json
