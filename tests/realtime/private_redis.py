"""Fixtures for the tests that take Redis away from a real server: a redis-server of the module's own
(stopped and started at will, and no other test server's workers on it), and a server on it."""

from __future__ import annotations

import pytest

from tests.load.chaos import PrivateRedis
from tests.realtime.conftest import launch, realtime_env
from tests.support import databases
from tests.support.server import RunningServer


@pytest.fixture(scope="module")
def private_redis():
    if not databases.postgres_mode():
        pytest.skip("needs Redis between the workers (postgres mode)")
    running = PrivateRedis()
    yield running
    running.stop()


def server_on(redis: PrivateRedis, database_url: str, name: str, **env: str) -> RunningServer:
    """A 2-worker server on `redis` (stopped by the caller)."""
    return launch(realtime_env(database_url, REDIS_URL=redis.url, **env), name)
