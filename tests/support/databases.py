"""Fresh databases and Redis dbs for a test run, on PostgreSQL + Redis or on the embedded default.

`BAZAAR_TEST_MODE=postgres` (default): a new PostgreSQL database per run on
`TEST_PG_URL` (default postgresql://postgres@127.0.0.1:5432/postgres) and the Redis db
of `TEST_REDIS_URL` (default redis://127.0.0.1:6379/12). `BAZAAR_TEST_MODE=embedded`:
a SQLite file in a temporary directory and no Redis.
"""

from __future__ import annotations

import atexit
import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg2

MODE = os.environ.get("BAZAAR_TEST_MODE", "postgres")
PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_SERVER_URL = os.environ.get("TEST_REDIS_SERVER", "redis://127.0.0.1:6379")
_CLAIM_KEY = "bazaar-test:claimed-by"


def _owner_gone(owner: bytes | None) -> bool:
    """A claim is stale when the process that made it (on this machine) is gone."""
    pid = (owner or b"").split(b":")[0]
    if not pid.isdigit():
        return owner is None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim_redis_db(preferred: int) -> str:
    """A Redis db of this run's own: `preferred` if free, else another unclaimed one, so that
    concurrent runs on one machine never flush each other's state. Released at exit."""
    import redis

    admin = redis.Redis.from_url(REDIS_SERVER_URL)
    try:
        count = int(admin.config_get("databases").get("databases", 16))
    except redis.RedisError:
        return f"{REDIS_SERVER_URL}/{preferred}"  # no Redis: the tests that need it say so
    owner = f"{os.getpid()}:{uuid.uuid4().hex[:6]}"
    for number in [preferred] + [n for n in range(count - 1, 0, -1) if n != preferred]:
        client = redis.Redis.from_url(f"{REDIS_SERVER_URL}/{number}")
        if not client.set(_CLAIM_KEY, owner, nx=True, ex=4 * 3600) and _owner_gone(client.get(_CLAIM_KEY)):
            client.set(_CLAIM_KEY, owner, ex=4 * 3600)  # a killed run's claim
        if client.get(_CLAIM_KEY) == owner.encode():
            atexit.register(
                lambda c=client: c.delete(_CLAIM_KEY) if c.get(_CLAIM_KEY) == owner.encode() else None
            )
            return f"{REDIS_SERVER_URL}/{number}"
    raise RuntimeError("every Redis db is claimed by another test run")


REDIS_URL = os.environ.get("TEST_REDIS_URL") or claim_redis_db(12)
# The live-state and broker unit tests flush their db before each test: a db apart from the servers'.
REDIS_UNIT_URL = os.environ.get("TEST_REDIS_UNIT_URL") or claim_redis_db(11)


def postgres_mode() -> bool:
    return MODE == "postgres"


def create_pg_database(prefix: str = "bazaar_test") -> str:
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    parts = urlsplit(PG_ADMIN_URL)
    return urlunsplit(parts._replace(path="/" + name))


def drop_pg_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def flush_redis(url: str = REDIS_URL) -> None:
    """Empty the run's db, keeping its claim."""
    import redis

    client = redis.Redis.from_url(url)
    owner = client.get(_CLAIM_KEY)
    client.flushdb()
    if owner:
        client.set(_CLAIM_KEY, owner, ex=4 * 3600)


def unit_redis():
    """The unit tests' own Redis db, emptied (a client decoding to str); skips where no Redis runs,
    except under CI (`CI` set), where a missing Redis is a failure."""
    import pytest
    import redis

    client = redis.Redis.from_url(REDIS_UNIT_URL, decode_responses=True)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {REDIS_UNIT_URL}")
    flush_redis(REDIS_UNIT_URL)
    return client
