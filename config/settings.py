"""The one settings object: every setting declared once, read from the environment over an optional `.env`.

A field is read from the environment variable of its name in capitals (`port` ← PORT) unless it names
another (`validation_alias`); its type and bounds are its validation. Nothing else in the code base reads
`os.environ`. Every limit is a field here with its unit in the name and a sane default, and `.env.example`
lists each one with that default (tests/unit/test_settings.py checks it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasGenerator,
    BeforeValidator,
    Field,
    PositiveFloat,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_JWT_SECRET = "dev-insecure-jwt-secret-change-me"
DEFAULT_SQLITE_URL = "sqlite:///bazaar.db"
SELLERS_OPEN, SELLERS_APPROVED = "open", "approved"


class SettingsError(ValueError):
    """A configuration value that cannot be used; the one-line message names its variable."""


_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration_s(value: Any) -> int:
    """`900`, `15m`, `1h`, `7d` → seconds (the Node backend used the same forms)."""
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(str(value))
        if not match or match.group(2) == "ms":
            raise ValueError(f"must be a duration like 900, 15m, 1h or 7d (got {value!r})")
        seconds = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"must be positive (got {value!r})")
    return seconds


def _url_of(*schemes: str):
    def check(value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"must be a {'/'.join(schemes)} URL with a host (got {value!r})")
        return value

    return AfterValidator(check)


def _origins(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(origin.strip().rstrip("/") for origin in value.split(",") if origin.strip())
    return value


def _currency(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{3}", value):
        raise ValueError(f"must be a three-letter ISO 4217 code like USD (got {value!r})")
    return value.upper()


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


Seconds = Annotated[int, BeforeValidator(parse_duration_s)]  # 900, 15m, 1h or 7d
Lowercase = Annotated[str, AfterValidator(str.lower)]
RedisUrl = Annotated[str | None, _url_of("redis", "rediss", "unix")]
HttpUrl = Annotated[str | None, _url_of("http", "https")]


class Settings(BaseSettings):
    """`Settings(field=value, ...)` holds exactly what it is given (defaults for the rest);
    `load_settings()` reads the environment and `.env`."""

    model_config = SettingsConfigDict(
        alias_generator=AliasGenerator(validation_alias=str.upper),
        validate_by_name=True,
        validate_by_alias=True,
        case_sensitive=True,
        env_file=None,
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    # The environment is read by load_settings (init values over the `.env` file), not by the class:
    # `Settings()` in a test means the defaults, whatever the shell running it exports.
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, dotenv_settings

    # --- server
    # production refuses the default JWT secret
    env: Lowercase = Field("development", validation_alias=AliasChoices("BAZAAR_ENV", "NODE_ENV"))
    host: str = "127.0.0.1"  # 0.0.0.0 listens on every interface (the compose file passes --host)
    port: int = Field(3000, ge=1, le=65535)
    # gunicorn workers; None: 1 on the embedded default, 2 otherwise
    workers: int | None = Field(None, ge=1, validation_alias="WEB_CONCURRENCY")
    worker_connections: int = Field(10000, ge=1)  # per gevent worker (WebSockets count)
    graceful_timeout_s: int = Field(10, ge=1)  # a stopping worker's connections get this long to finish
    log_level: Lowercase = "info"
    admin_password: str | None = Field(None, validation_alias="BAZAAR_ADMIN_PASSWORD")  # create-admin

    # --- database: DATABASE_URL, or the DB_* parts (used only when DATABASE_URL is unset and DB_HOST set)
    db_host: str | None = None
    db_port: int = Field(5432, ge=1, le=65535)
    db_username: str = "postgres"
    db_password: str | None = None
    db_database: str = "stream_bazaar"
    database_url: str = Field(None, validate_default=True)  # None: from the DB_* parts, or SQLite
    # Per worker. Connections are held per statement or transaction (bazaar/infra/pool.py), so a few keep
    # PostgreSQL busy; more only add server processes competing for the same cores (README, REST figures).
    db_pool_size: int = Field(10, ge=1)
    db_pool_timeout_s: PositiveFloat = 5.0  # longest wait for a free connection (then 503)
    db_connect_timeout_s: int = Field(3, ge=1)

    # --- Redis: room fan-out across workers and hosts, presence, live counters, rate limits
    redis_url: RedisUrl = None
    redis_socket_timeout_s: PositiveFloat = 5.0
    # true: REDIS_URL names one node of a Redis Cluster (≥ 7); room channels use sharded pub/sub
    redis_cluster: bool = False

    # --- Meilisearch; without it, search runs on the database
    meili_url: HttpUrl = None
    meili_master_key: str | None = None
    meili_index_prefix: str = "bazaar"
    meili_timeout_s: PositiveFloat = 2.0
    meili_task_timeout_s: PositiveFloat = 60.0
    meili_retry_after_s: float = Field(5.0, ge=0)  # after a failed search, the database answers this long

    # --- auth
    jwt_secret: str = DEFAULT_JWT_SECRET
    jwt_expires_in_s: Seconds = Field(15 * 60, validation_alias="JWT_EXPIRES_IN")
    refresh_expires_in_s: Seconds = Field(7 * 24 * 3600, validation_alias="JWT_REFRESH_EXPIRES_IN")
    bcrypt_rounds: int = Field(12, ge=4, le=31)
    # Who creates products and sessions: "open" (any account; a viewer becomes a creator) or "approved"
    # (creators and admins only)
    sellers: Annotated[Literal["open", "approved"], BeforeValidator(_lower)] = SELLERS_OPEN

    # --- Agora RTC tokens (503 on token routes when unset)
    agora_app_id: str | None = None
    agora_app_certificate: str | None = None
    agora_token_expiry_s: int = Field(86400, ge=1, validation_alias="AGORA_TOKEN_EXPIRY")

    # --- HTTP
    # comma separated; also checked against WebSocket Origin
    cors_origins: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_origins)] = Field(
        ("http://localhost:3001",), validation_alias="CORS_ORIGIN"
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # what one client connection may cost a worker (bazaar/serving.py)
    http_header_timeout_s: PositiveFloat = 10.0  # from a request's first byte (a new connection's: accept)
    http_body_timeout_s: PositiveFloat = 30.0  # to receive a whole request body
    http_keepalive_timeout_s: PositiveFloat = 15.0  # an idle kept-alive connection is closed after this
    http_max_header_bytes: int = Field(32 * 1024, ge=1024)  # larger request heads get 431
    # longest a worker serves requests that are already waiting on their connections before it polls for
    # the others' (a pipelining client's next requests, say)
    http_turn_s: PositiveFloat = 0.005
    # per worker; behind a reverse proxy every connection comes from the proxy's address: raise it there
    max_connections_per_address: int = Field(1000, ge=1)

    # --- real-time
    ws_max_frame_bytes: int = Field(64 * 1024, ge=1024)
    ws_send_queue_size: int = Field(512, ge=1)  # frames queued per connection before a slow client is dropped
    # ... and bytes (a slow client holds at most this queued, plus one write in flight of at most as much)
    ws_send_queue_bytes: int = Field(1024 * 1024, ge=64 * 1024)
    # A flush writing to thousands of sockets (a big room) lets the worker's other work in (a chat post's
    # database and Redis round trips, the broker's listener, reads) at least this often
    ws_flush_slice_ms: float = Field(2.0, gt=0.0, le=1000.0)
    # Once two flushes in a row each end with half as many connections due again or more (the worker is
    # falling behind), each next one waits this many times the last one's length, so what arrives meanwhile
    # shares writes: fewer system calls when the worker cannot keep up (0: never; with one connection
    # posting tens of chat messages a second, WS_FLUSH_SLICE_MS=0.5 lets its posts keep up)
    ws_flush_gap_factor: float = Field(1.0, ge=0.0, le=10.0)
    # Connections of a worker leaving their rooms at once (presence and view records). The rest wait their
    # turn before building any query: thousands closing together (a show's audience leaving) each held a
    # half-built statement while queuing for a database connection, and the worker kept that peak's memory
    ws_leave_concurrency: int = Field(10, ge=1)
    ws_heartbeat_interval_s: PositiveFloat = 20.0
    # How often a worker that has fewer connections than at the last look gives the memory they freed back
    # to the system (glibc keeps freed pages otherwise; 0: never)
    memory_trim_interval_s: float = Field(30.0, ge=0.0)
    ws_idle_timeout_s: PositiveFloat = 60.0
    ws_close_timeout_s: PositiveFloat = 2.0  # how long a closing socket waits for the peer's close frame
    # Socket.IO (Engine.IO heartbeat): the server pings every interval; no pong within the timeout drops
    socketio_ping_interval_s: PositiveFloat = 25.0
    socketio_ping_timeout_s: PositiveFloat = 20.0
    presence_ttl_s: PositiveFloat = 30.0  # a crashed worker's viewers vanish within this
    presence_refresh_s: PositiveFloat = 10.0
    viewer_count_interval_s: PositiveFloat = 0.25  # viewer-count at most this often, and only on change
    reaction_stats_interval_s: PositiveFloat = 0.5
    click_stats_interval_s: PositiveFloat = 2.0  # product-click-stats / trending cadence while clicks change
    checkpoint_interval_s: PositiveFloat = 10.0  # live counters persisted to the database this often
    trending_window_s: int = Field(300, ge=1)  # trending products count the clicks of this window
    chat_replay_limit: int = Field(200, ge=1)  # most chat messages a join with sinceMessageId replays
    chat_max_chars: int = Field(500, ge=1)
    session_facts_cache_s: PositiveFloat = 2.0  # per-worker cache of a session's status and product ids
    reaction_broadcast_max_per_s: int = Field(20, ge=1)  # per room per worker; counts stay exact

    # --- rate limits: N events per window
    chat_rate_count: int = Field(5, ge=1)
    chat_rate_window_s: PositiveFloat = 10.0
    reaction_rate_count: int = Field(20, ge=1)
    reaction_rate_window_s: PositiveFloat = 1.0
    click_rate_count: int = Field(10, ge=1)
    click_rate_window_s: PositiveFloat = 1.0
    login_rate_count: int = Field(10, ge=1)
    login_rate_window_s: PositiveFloat = 60.0

    # --- database search: totals up to this many matches are counted on every request; larger ones
    # (counting them reads every match) are counted once and reused for this long per worker
    search_exact_count_max: int = Field(1000, ge=0)
    search_count_cache_s: PositiveFloat = 10.0

    # --- search indexer
    indexer_batch_size: int = Field(500, ge=1)
    indexer_poll_interval_s: PositiveFloat = 0.5
    indexer_max_attempts: int = Field(8, ge=1)
    indexer_backoff_base_s: PositiveFloat = 1.0
    indexer_backoff_max_s: PositiveFloat = 300.0
    indexer_listen_timeout_s: PositiveFloat = 5.0  # longest wait for a NOTIFY before looking at the outbox
    indexer_max_lag_s: PositiveFloat = 60.0  # `search-indexer status` is unhealthy past this lag

    # --- selling during the show (SPEC §11)
    currency: Annotated[str, AfterValidator(_currency)] = "USD"  # ISO 4217 code of every order
    order_hold_s: int = Field(600, ge=1)  # an unpaid reservation expires after this
    order_expiry_interval_s: PositiveFloat = 5.0  # how often each worker sweeps for expired reservations
    order_expiry_batch: int = Field(200, ge=1)  # most reservations one sweep transaction expires
    order_rate_count: int = Field(5, ge=1)  # buy attempts per buyer per window
    order_rate_window_s: PositiveFloat = 10.0
    stock_update_interval_s: PositiveFloat = 0.25  # one stock-update per product in the cluster per interval
    # a worker that saw a drop sold out answers sold_out from memory this long (units returned meanwhile
    # are on sale again after at most this)
    sold_out_memo_s: PositiveFloat = 0.5
    # buy requests a worker works on at once; the others wait in memory, in arrival order. They hold a
    # pooled connection only per statement: a few times DB_POOL_SIZE keeps the worker busy while some wait
    # on the database, far more queue at the pool instead (503 after DB_POOL_TIMEOUT_S)
    order_gate_size: int = Field(32, ge=1)
    order_gate_wait_s: PositiveFloat = 30.0  # longest wait for a place (then 503)
    payment_webhook_secret: str | None = None  # signs the payment providers' webhooks; unset: 503
    payment_webhook_tolerance_s: int = Field(300, ge=1)  # oldest signature timestamp accepted
    webhook_url: HttpUrl = None  # outgoing webhooks go here; unset: none are recorded
    webhook_secret: str | None = None
    webhook_timeout_s: PositiveFloat = 5.0
    webhook_batch_size: int = Field(100, ge=1)
    webhook_poll_interval_s: PositiveFloat = 1.0
    webhook_max_attempts: int = Field(8, ge=1)  # then the delivery is parked until `webhooks retry-parked`
    webhook_backoff_base_s: PositiveFloat = 1.0
    webhook_backoff_max_s: PositiveFloat = 300.0

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, url: str | None, info: ValidationInfo) -> str:
        parts = info.data
        if not url and parts.get("db_host") and "db_port" in parts:
            password = parts["db_password"]
            auth = quote(parts["db_username"], safe="") + (":" + quote(password, safe="") if password else "")
            return f"postgresql://{auth}@{parts['db_host']}:{parts['db_port']}/{parts['db_database']}"
        if not url:
            return DEFAULT_SQLITE_URL
        if url.startswith("sqlite:///"):
            return url
        where = urlsplit(url)
        if where.scheme not in ("postgres", "postgresql"):
            raise ValueError(
                f"must be postgresql://user:pass@host:port/db or sqlite:///path (got scheme {where.scheme!r})"
            )
        try:
            port_ok = where.port is None or 0 < where.port < 65536
        except ValueError:
            port_ok = False
        if not where.hostname or not port_ok or not where.path.strip("/"):
            raise ValueError(
                "must name a host, a valid port and a database: postgresql://user:pass@host:port/db"
            )
        return url

    @field_validator("jwt_secret")
    @classmethod
    def _jwt_secret(cls, secret: str, info: ValidationInfo) -> str:
        if info.data.get("env") != "production":
            return secret
        if secret == DEFAULT_JWT_SECRET:
            raise ValueError("must be set in production (refusing to start with the default secret)")
        # RFC 7518 §3.2: an HS256 key has at least 256 bits.
        if len(secret.encode()) < 32:
            raise ValueError("must be at least 32 bytes in production")
        return secret

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

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed (by field name), validated like the environment's values."""
        unknown = changes.keys() - type(self).model_fields.keys()
        if unknown:
            raise TypeError(f"no such settings: {', '.join(sorted(unknown))}")
        return type(self).model_validate({**self.model_dump(), **changes})


def variable_names(field: str) -> tuple[str, ...]:
    """The environment variables a field is read from, the preferred one first."""
    alias = Settings.model_fields[field].validation_alias
    return tuple(alias.choices) if isinstance(alias, AliasChoices) else (alias,)


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | None = ".env") -> Settings:
    """Settings from `environ` (default os.environ) over an optional `.env` file; a value that cannot be
    used is a one-line SettingsError naming its variable."""
    known = {name for field in Settings.model_fields for name in variable_names(field)}
    given = os.environ if environ is None else environ
    values = {name: value.strip() for name, value in given.items() if name in known and value.strip()}
    try:
        return Settings(_env_file=env_file, **values)
    except ValidationError as error:
        raise SettingsError("; ".join(_one_line(problem) for problem in error.errors())) from None


def _one_line(problem: dict) -> str:
    name = str(problem["loc"][0]) if problem["loc"] else "settings"
    if name in Settings.model_fields:  # a default's (or a field name's) problem: name the variable
        name = variable_names(name)[0]
    if problem["type"] == "value_error":
        return f"{name} {problem['ctx']['error']}"
    message = problem["msg"][:1].lower() + problem["msg"][1:]
    shown = "" if "SECRET" in name or "PASSWORD" in name or "KEY" in name else f" (got {problem['input']!r})"
    return f"{name}: {message}{shown}".replace("\n", " ")


__all__ = [
    "Settings",
    "SettingsError",
    "load_settings",
    "parse_duration_s",
    "variable_names",
    "DEFAULT_JWT_SECRET",
]
