"""The one settings object: built from the environment (and an optional `.env`).

Nothing else in the code base reads `os.environ`. Every limit is a field here
with its unit in the name and a sane default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import quote, urlsplit

from dotenv import dotenv_values

DEFAULT_JWT_SECRET = "dev-insecure-jwt-secret-change-me"
DEFAULT_SQLITE_URL = "sqlite:///bazaar.db"
SELLERS_OPEN, SELLERS_APPROVED = "open", "approved"


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names it."""


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    host: str = "0.0.0.0"
    port: int = 3000
    workers: int | None = None  # None: 1 on the embedded default, 2 otherwise
    worker_connections: int = 10000
    graceful_timeout_s: int = 10
    log_level: str = "info"

    database_url: str = DEFAULT_SQLITE_URL
    # Per worker. Connections are held per statement or transaction (bazaar/infra/db.py), so a few keep
    # PostgreSQL busy;
    # more only add server processes competing for the same cores (measured: README, REST figures).
    db_pool_size: int = 10
    db_pool_timeout_s: float = 5.0
    db_connect_timeout_s: int = 3

    redis_url: str | None = None
    redis_socket_timeout_s: float = 5.0

    meili_url: str | None = None
    meili_master_key: str | None = None
    meili_index_prefix: str = "bazaar"
    meili_timeout_s: float = 2.0
    meili_task_timeout_s: float = 60.0
    meili_retry_after_s: float = 5.0  # after a failed search, the database answers this long before retrying

    jwt_secret: str = DEFAULT_JWT_SECRET
    jwt_expires_in_s: int = 15 * 60
    refresh_expires_in_s: int = 7 * 24 * 3600
    bcrypt_rounds: int = 12
    # Who creates products and sessions: "open" (any account; a viewer becomes a creator) or "approved"
    # (creators and admins only)
    sellers: str = SELLERS_OPEN

    agora_app_id: str | None = None
    agora_app_certificate: str | None = None
    agora_token_expiry_s: int = 86400

    cors_origins: tuple[str, ...] = ("http://localhost:3001",)
    max_body_bytes: int = 1024 * 1024
    # what one client connection may cost a worker (bazaar/serving.py)
    http_header_timeout_s: float = 10.0  # from a request's first byte (a new connection's: from accept)
    http_body_timeout_s: float = 30.0  # to receive a whole request body
    http_keepalive_timeout_s: float = 15.0  # an idle kept-alive connection is closed after this
    http_max_header_bytes: int = 32 * 1024
    # per worker; behind a reverse proxy every connection comes from the proxy's address: raise it there
    max_connections_per_address: int = 1000

    # real-time
    ws_max_frame_bytes: int = 64 * 1024
    ws_send_queue_size: int = 512
    ws_heartbeat_interval_s: float = 20.0
    ws_idle_timeout_s: float = 60.0
    # Socket.IO (Engine.IO heartbeat): the server pings every interval; no pong within the timeout drops
    socketio_ping_interval_s: float = 25.0
    socketio_ping_timeout_s: float = 20.0
    presence_ttl_s: int = 30
    presence_refresh_s: float = 10.0
    viewer_count_interval_s: float = 0.25
    reaction_stats_interval_s: float = 0.5
    click_stats_interval_s: float = 2.0
    checkpoint_interval_s: float = 10.0
    trending_window_s: int = 300
    ws_close_timeout_s: float = 2.0  # how long a closing socket waits for the peer's close frame
    chat_replay_limit: int = 200  # most chat messages a join with sinceMessageId replays
    session_facts_cache_s: float = 2.0  # per-worker cache of a session's status and product ids (clicks)
    reaction_broadcast_max_per_s: int = 20  # new-reaction broadcasts per room per worker; counts stay exact

    # rate limits: N events per window
    chat_rate_count: int = 5
    chat_rate_window_s: float = 10.0
    chat_max_chars: int = 500
    reaction_rate_count: int = 20
    reaction_rate_window_s: float = 1.0
    click_rate_count: int = 10
    click_rate_window_s: float = 1.0
    login_rate_count: int = 10
    login_rate_window_s: float = 60.0

    # database search: totals up to this many matches are counted on every request; larger ones
    # (counting them reads every match) are counted once and reused for a few seconds per worker
    search_exact_count_max: int = 1000
    search_count_cache_s: float = 10.0

    # search indexer
    indexer_batch_size: int = 500
    indexer_poll_interval_s: float = 0.5
    indexer_max_attempts: int = 8
    indexer_backoff_base_s: float = 1.0
    indexer_backoff_max_s: float = 300.0
    indexer_listen_timeout_s: float = 5.0  # longest wait for a NOTIFY before looking at the outbox anyway
    indexer_max_lag_s: float = 60.0  # `search-indexer status` is unhealthy past this lag

    # selling during the show (SPEC §11)
    currency: str = "USD"
    order_hold_s: int = 600  # an unpaid reservation expires after this
    order_expiry_interval_s: float = 5.0  # how often each worker sweeps for expired reservations
    order_expiry_batch: int = 200  # most reservations one sweep transaction expires
    order_rate_count: int = 5  # buy attempts per buyer per window
    order_rate_window_s: float = 10.0
    stock_update_interval_s: float = 0.25  # stock-update broadcasts per product per worker at most this often
    payment_webhook_secret: str | None = None  # signs the payment providers' webhooks; unset: refused (503)
    payment_webhook_tolerance_s: int = 300  # oldest signature timestamp accepted
    webhook_url: str | None = None  # outgoing webhooks go here; unset: none are recorded
    webhook_secret: str | None = None
    webhook_timeout_s: float = 5.0
    webhook_batch_size: int = 100
    webhook_poll_interval_s: float = 1.0
    webhook_max_attempts: int = 8  # then the delivery is parked until `bazaar webhooks retry-parked`
    webhook_backoff_base_s: float = 1.0
    webhook_backoff_max_s: float = 300.0

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def open_selling(self) -> bool:
        return self.sellers == SELLERS_OPEN

    @property
    def db_kind(self) -> str:
        return "postgresql" if self.database_url.startswith(("postgres://", "postgresql://")) else "sqlite"

    @property
    def embedded(self) -> bool:
        return self.db_kind == "sqlite" and not self.redis_url

    @property
    def worker_count(self) -> int:
        if self.workers:
            return self.workers
        return 1 if self.embedded else 2

    def mode_description(self) -> str:
        parts = [
            "database=" + ("PostgreSQL" if self.db_kind == "postgresql" else f"SQLite ({self.sqlite_path})"),
            "fan-out=" + ("Redis" if self.redis_url else "in-process"),
            "search=" + ("Meilisearch" if self.meili_url else "database"),
        ]
        return ("embedded default: " if self.embedded else "") + ", ".join(parts)

    @property
    def sqlite_path(self) -> str:
        path = self.database_url[len("sqlite:///") :]
        return path or ":memory:"

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)


_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration_s(name: str, value: str) -> int:
    """`900`, `15m`, `1h`, `7d` → seconds (the Node backend used the same forms)."""
    match = _DURATION.match(value)
    if not match or match.group(2) == "ms":
        raise SettingsError(f"{name} must be a duration like 900, 15m, 1h or 7d (got {value!r})")
    seconds = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds <= 0:
        raise SettingsError(f"{name} must be positive (got {value!r})")
    return seconds


def _int(name: str, value: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be an integer (got {value!r})") from None
    if number < minimum:
        raise SettingsError(f"{name} must be at least {minimum} (got {number})")
    return number


def _float(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number (got {value!r})") from None
    if number <= 0:
        raise SettingsError(f"{name} must be positive (got {value!r})")
    return number


def _one_of(name: str, value: str, choices: tuple[str, ...]) -> str:
    value = value.lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)} (got {value!r})")
    return value


def _database_url(env: Mapping[str, str]) -> str:
    url = env.get("DATABASE_URL", "").strip()
    if not url and env.get("DB_HOST"):
        user = quote(env.get("DB_USERNAME", "postgres"), safe="")
        password = env.get("DB_PASSWORD", "")
        auth = user + (":" + quote(password, safe="") if password else "")
        port = _int("DB_PORT", env.get("DB_PORT", "5432"), 1)
        url = f"postgresql://{auth}@{env['DB_HOST']}:{port}/{env.get('DB_DATABASE', 'stream_bazaar')}"
    if not url:
        return DEFAULT_SQLITE_URL
    if url.startswith("sqlite:///"):
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SettingsError(
            f"DATABASE_URL must be postgresql://user:pass@host:port/db or sqlite:///path (got "
            f"scheme {parts.scheme!r})"
        )
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if not parts.hostname or not port_ok or not parts.path.strip("/"):
        raise SettingsError(
            "DATABASE_URL must name a host, a valid port and a database: postgresql://user:pass@host:port/db"
        )
    return url


def _url(name: str, value: str | None, schemes: tuple[str, ...]) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise SettingsError(f"{name} must be a {'/'.join(schemes)} URL with a host (got {value!r})")
    return value


def _currency(name: str, value: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{3}", value):
        raise SettingsError(f"{name} must be a three-letter ISO 4217 code like USD (got {value!r})")
    return value.upper()


# Environment name → (field, parser). Parsers take (name, raw string).
_FIELDS = {
    "PORT": ("port", lambda n, v: _int(n, v, 1)),
    "HOST": ("host", lambda n, v: v),
    "WEB_CONCURRENCY": ("workers", lambda n, v: _int(n, v, 1)),
    "WORKER_CONNECTIONS": ("worker_connections", lambda n, v: _int(n, v, 1)),
    "LOG_LEVEL": ("log_level", lambda n, v: v.lower()),
    "DB_POOL_SIZE": ("db_pool_size", lambda n, v: _int(n, v, 1)),
    "REDIS_URL": ("redis_url", lambda n, v: _url(n, v, ("redis", "rediss", "unix"))),
    "MEILI_URL": ("meili_url", lambda n, v: _url(n, v, ("http", "https"))),
    "MEILI_MASTER_KEY": ("meili_master_key", lambda n, v: v or None),
    "MEILI_INDEX_PREFIX": ("meili_index_prefix", lambda n, v: v),
    "MEILI_TIMEOUT_S": ("meili_timeout_s", _float),
    "MEILI_TASK_TIMEOUT_S": ("meili_task_timeout_s", _float),
    "MEILI_RETRY_AFTER_S": ("meili_retry_after_s", _float),
    "JWT_SECRET": ("jwt_secret", lambda n, v: v),
    "JWT_EXPIRES_IN": ("jwt_expires_in_s", parse_duration_s),
    "JWT_REFRESH_EXPIRES_IN": ("refresh_expires_in_s", parse_duration_s),
    "BCRYPT_ROUNDS": ("bcrypt_rounds", lambda n, v: _int(n, v, 4)),
    "SELLERS": ("sellers", lambda n, v: _one_of(n, v, (SELLERS_OPEN, SELLERS_APPROVED))),
    "AGORA_APP_ID": ("agora_app_id", lambda n, v: v or None),
    "AGORA_APP_CERTIFICATE": ("agora_app_certificate", lambda n, v: v or None),
    "AGORA_TOKEN_EXPIRY": ("agora_token_expiry_s", lambda n, v: _int(n, v, 1)),
    "CORS_ORIGIN": (
        "cors_origins",
        lambda n, v: tuple(o.strip().rstrip("/") for o in v.split(",") if o.strip()),
    ),
    "MAX_BODY_BYTES": ("max_body_bytes", lambda n, v: _int(n, v, 1024)),
    "HTTP_HEADER_TIMEOUT_S": ("http_header_timeout_s", _float),
    "HTTP_BODY_TIMEOUT_S": ("http_body_timeout_s", _float),
    "HTTP_KEEPALIVE_TIMEOUT_S": ("http_keepalive_timeout_s", _float),
    "HTTP_MAX_HEADER_BYTES": ("http_max_header_bytes", lambda n, v: _int(n, v, 1024)),
    "MAX_CONNECTIONS_PER_ADDRESS": ("max_connections_per_address", lambda n, v: _int(n, v, 1)),
    "WS_MAX_FRAME_BYTES": ("ws_max_frame_bytes", lambda n, v: _int(n, v, 1024)),
    "WS_SEND_QUEUE_SIZE": ("ws_send_queue_size", lambda n, v: _int(n, v, 1)),
    "WS_HEARTBEAT_INTERVAL_S": ("ws_heartbeat_interval_s", _float),
    "WS_IDLE_TIMEOUT_S": ("ws_idle_timeout_s", _float),
    "SOCKETIO_PING_INTERVAL_S": ("socketio_ping_interval_s", _float),
    "SOCKETIO_PING_TIMEOUT_S": ("socketio_ping_timeout_s", _float),
    "PRESENCE_TTL_S": ("presence_ttl_s", lambda n, v: _int(n, v, 2)),
    "PRESENCE_REFRESH_S": ("presence_refresh_s", _float),
    "CHECKPOINT_INTERVAL_S": ("checkpoint_interval_s", _float),
    "CLICK_STATS_INTERVAL_S": ("click_stats_interval_s", _float),
    "VIEWER_COUNT_INTERVAL_S": ("viewer_count_interval_s", _float),
    "REACTION_STATS_INTERVAL_S": ("reaction_stats_interval_s", _float),
    "WS_CLOSE_TIMEOUT_S": ("ws_close_timeout_s", _float),
    "CHAT_REPLAY_LIMIT": ("chat_replay_limit", lambda n, v: _int(n, v, 1)),
    "SESSION_FACTS_CACHE_S": ("session_facts_cache_s", _float),
    "REACTION_BROADCAST_MAX_PER_S": ("reaction_broadcast_max_per_s", lambda n, v: _int(n, v, 1)),
    "CHAT_RATE_COUNT": ("chat_rate_count", lambda n, v: _int(n, v, 1)),
    "CHAT_RATE_WINDOW_S": ("chat_rate_window_s", _float),
    "REACTION_RATE_COUNT": ("reaction_rate_count", lambda n, v: _int(n, v, 1)),
    "REACTION_RATE_WINDOW_S": ("reaction_rate_window_s", _float),
    "CLICK_RATE_COUNT": ("click_rate_count", lambda n, v: _int(n, v, 1)),
    "CLICK_RATE_WINDOW_S": ("click_rate_window_s", _float),
    "LOGIN_RATE_COUNT": ("login_rate_count", lambda n, v: _int(n, v, 1)),
    "LOGIN_RATE_WINDOW_S": ("login_rate_window_s", _float),
    "SEARCH_EXACT_COUNT_MAX": ("search_exact_count_max", lambda n, v: _int(n, v, 0)),
    "SEARCH_COUNT_CACHE_S": ("search_count_cache_s", _float),
    "INDEXER_BATCH_SIZE": ("indexer_batch_size", lambda n, v: _int(n, v, 1)),
    "INDEXER_POLL_INTERVAL_S": ("indexer_poll_interval_s", _float),
    "INDEXER_MAX_ATTEMPTS": ("indexer_max_attempts", lambda n, v: _int(n, v, 1)),
    "INDEXER_BACKOFF_BASE_S": ("indexer_backoff_base_s", _float),
    "INDEXER_BACKOFF_MAX_S": ("indexer_backoff_max_s", _float),
    "INDEXER_LISTEN_TIMEOUT_S": ("indexer_listen_timeout_s", _float),
    "INDEXER_MAX_LAG_S": ("indexer_max_lag_s", _float),
    "CURRENCY": ("currency", _currency),
    "ORDER_HOLD_S": ("order_hold_s", lambda n, v: _int(n, v, 1)),
    "ORDER_EXPIRY_INTERVAL_S": ("order_expiry_interval_s", _float),
    "ORDER_EXPIRY_BATCH": ("order_expiry_batch", lambda n, v: _int(n, v, 1)),
    "ORDER_RATE_COUNT": ("order_rate_count", lambda n, v: _int(n, v, 1)),
    "ORDER_RATE_WINDOW_S": ("order_rate_window_s", _float),
    "STOCK_UPDATE_INTERVAL_S": ("stock_update_interval_s", _float),
    "PAYMENT_WEBHOOK_SECRET": ("payment_webhook_secret", lambda n, v: v or None),
    "PAYMENT_WEBHOOK_TOLERANCE_S": ("payment_webhook_tolerance_s", lambda n, v: _int(n, v, 1)),
    "WEBHOOK_URL": ("webhook_url", lambda n, v: _url(n, v, ("http", "https"))),
    "WEBHOOK_SECRET": ("webhook_secret", lambda n, v: v or None),
    "WEBHOOK_TIMEOUT_S": ("webhook_timeout_s", _float),
    "WEBHOOK_BATCH_SIZE": ("webhook_batch_size", lambda n, v: _int(n, v, 1)),
    "WEBHOOK_POLL_INTERVAL_S": ("webhook_poll_interval_s", _float),
    "WEBHOOK_MAX_ATTEMPTS": ("webhook_max_attempts", lambda n, v: _int(n, v, 1)),
    "WEBHOOK_BACKOFF_BASE_S": ("webhook_backoff_base_s", _float),
    "WEBHOOK_BACKOFF_MAX_S": ("webhook_backoff_max_s", _float),
}


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | None = ".env") -> Settings:
    """Settings from `environ` (default os.environ) over an optional `.env` file."""
    env: dict[str, str] = {}
    if env_file and os.path.exists(env_file):
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)

    values: dict = {}
    for name, (attr, parse) in _FIELDS.items():
        raw = env.get(name)
        if raw is not None and raw.strip() != "":
            values[attr] = parse(name, raw.strip())
    values["database_url"] = _database_url(env)
    stage = (env.get("BAZAAR_ENV") or env.get("NODE_ENV") or "development").strip().lower()
    values["env"] = stage
    settings = Settings(**values)
    if settings.production and settings.jwt_secret == DEFAULT_JWT_SECRET:
        raise SettingsError(
            "JWT_SECRET must be set in production (refusing to start with the default secret)"
        )
    # RFC 7518 §3.2: an HS256 key has at least 256 bits.
    if len(settings.jwt_secret.encode()) < 32 and settings.production:
        raise SettingsError("JWT_SECRET must be at least 32 bytes in production")
    return settings


__all__ = ["Settings", "SettingsError", "load_settings", "parse_duration_s", "DEFAULT_JWT_SECRET"]
