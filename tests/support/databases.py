"""Fresh databases and Redis dbs for a test run, on PostgreSQL + Redis or on the embedded default.

`BAZAAR_TEST_MODE=postgres` (default): a new PostgreSQL database per run on
`TEST_PG_URL` (default postgresql://postgres@127.0.0.1:5432/postgres) and the Redis db
of `TEST_REDIS_URL` (default redis://127.0.0.1:6379/12). `BAZAAR_TEST_MODE=embedded`:
a SQLite file in a temporary directory and no Redis.
"""
from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg2

MODE = os.environ.get("BAZAAR_TEST_MODE", "postgres")
PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/12")


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
    import redis
    redis.Redis.from_url(url).flushdb()
