"""Room fan-out between workers: a frame published to a room reaches the hub of every worker with members
in it.

`RedisBroker` carries frames over Redis pub/sub (channel `bazaar:room:<room>`) to every worker on
every host; `MemoryBroker` hands them straight to this process's hub (the embedded default, one
worker). Frames are already-encoded JSON text; a broker never looks inside them.

Wiring, once per worker: `broker.start(hub.deliver)`; `broker.stop()` at shutdown. The hub calls
`subscribe` / `unsubscribe` as its rooms gain their first and lose their last local member.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

import gevent
import redis
from gevent import monkey
from redis.backoff import NoBackoff
from redis.retry import Retry

from config import Settings

log = logging.getLogger(__name__)

Deliver = Callable[[str, str], None]  # (room, frame) → this worker's hub

CHANNEL_PREFIX = "bazaar:room:"


class Broker(Protocol):
    def start(self, deliver: Deliver) -> None:
        """From now on hand every frame that arrives for a subscribed room to `deliver(room, frame)`."""

    def publish(self, room: str, frame: str) -> None:
        """Send `frame` to the room's members on every worker: at most once, and a frame lost to an
        outage is logged, not raised (the change that caused it has already committed)."""

    def subscribe(self, room: str) -> None:
        """This worker has members in `room`."""

    def unsubscribe(self, room: str) -> None:
        """This worker has no members left in `room`."""

    def stop(self) -> None:
        """Stop delivering and let go of connections (worker shutdown)."""


def make_broker(settings: Settings) -> Broker:
    return RedisBroker(settings) if settings.redis_url else MemoryBroker()


# Connections per client and worker. Thousands of greenlets share them: past this many at once a
# caller waits for a free connection (up to the socket timeout) instead of failing, as redis-py's
# default pool does past 100.
REDIS_POOL_SIZE = 64


def redis_client(settings: Settings, **options) -> redis.Redis:
    """A Redis client for this worker's greenlets (the live state's and the broker's)."""
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=REDIS_POOL_SIZE,
        timeout=settings.redis_socket_timeout_s,
        socket_timeout=settings.redis_socket_timeout_s,
        health_check_interval=30,
        **options,
    )
    return redis.Redis.from_pool(pool)


class MemoryBroker:
    """The embedded default: one worker, so publishing is delivering."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._rooms: set[str] = set()

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def publish(self, room: str, frame: str) -> None:
        if self._deliver is not None and room in self._rooms:
            self._deliver(room, frame)

    def subscribe(self, room: str) -> None:
        self._rooms.add(room)

    def unsubscribe(self, room: str) -> None:
        self._rooms.discard(room)

    def stop(self) -> None:
        self._deliver = None


_POLL_S = 0.05  # longest a (un)subscribe waits for the listener to apply it
_SUBSCRIBE_WAIT_S = 1.0  # longest a subscribe waits for the listener (Redis may be away)
_BACKOFF_MIN_S = 0.1
_BACKOFF_MAX_S = 5.0


class RedisBroker:
    """One pub/sub connection per worker, owned by one listener greenlet.

    Only the listener touches the pub/sub connection — redis-py's PubSub is not safe to share with a
    greenlet that may be reconnecting it — so `subscribe` / `unsubscribe` only record the rooms
    wanted, and the listener applies the difference between reads (within `_POLL_S`). After any
    connection error (Redis restarted, connection killed) the listener starts over on a new
    connection subscribed to every wanted room, backing off while Redis stays away. Frames published
    meanwhile are lost, as pub/sub is at-most-once anyway.
    """

    def __init__(self, settings: Settings):
        self._client = redis_client(settings)
        # No retries inside redis-py: its reconnect would resubscribe behind the listener's back.
        self._listen_client = redis_client(settings, decode_responses=True, retry=Retry(NoBackoff(), 0))
        self._lock = threading.Lock()
        self._rooms: set[str] = set()
        self._generation = 0  # bumped on every change of _rooms, so the listener copies it only then
        self._applied = threading.Condition()
        self._applied_generation = 0  # the generation the pub/sub connection is subscribed to
        self._stopping = threading.Event()
        self._deliver: Deliver | None = None
        self._listener = None

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._listener = _spawn(self._listen)

    def publish(self, room: str, frame: str) -> None:
        try:
            self._client.publish(CHANNEL_PREFIX + room, frame)
        except redis.RedisError as exc:
            log.warning("publishing to room %s failed, frame dropped: %s", room, exc)

    def subscribe(self, room: str) -> None:
        """Returns once the subscription is active (or after `_SUBSCRIBE_WAIT_S`), so a member who
        has joined is sure to receive what is published from then on."""
        with self._lock:
            self._rooms.add(room)
            self._generation += 1
            wanted = self._generation
        with self._applied:
            self._applied.wait_for(
                lambda: self._applied_generation >= wanted or self._stopping.is_set(),
                timeout=_SUBSCRIBE_WAIT_S,
            )

    def unsubscribe(self, room: str) -> None:
        with self._lock:
            self._rooms.discard(room)
            self._generation += 1

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.join(timeout=2 * _BACKOFF_MAX_S)
        self._client.close()
        self._listen_client.close()

    def _listen(self) -> None:
        backoff = _BACKOFF_MIN_S
        while not self._stopping.is_set():
            pubsub = self._listen_client.pubsub(ignore_subscribe_messages=True)
            subscribed: set[str] = set()
            seen = None
            try:
                while not self._stopping.is_set():
                    if seen != self._generation:
                        seen, subscribed = self._sync(pubsub, subscribed)
                    message = pubsub.get_message(timeout=_POLL_S)
                    if pubsub.subscribed:
                        backoff = _BACKOFF_MIN_S  # connected and listening again
                    if message is not None:
                        self._dispatch(message["channel"], message["data"])
            except redis.RedisError as exc:
                log.warning("Redis pub/sub connection lost (%s); resubscribing in %.1f s", exc, backoff)
            except Exception:
                log.exception("Redis pub/sub listener failed; restarting in %.1f s", backoff)
            finally:
                pubsub.close()
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX_S)

    def _sync(self, pubsub, subscribed: set[str]) -> tuple[int, set[str]]:
        with self._lock:
            generation, wanted = self._generation, set(self._rooms)
        if wanted - subscribed:
            pubsub.subscribe(*(CHANNEL_PREFIX + room for room in wanted - subscribed))
        if subscribed - wanted:
            pubsub.unsubscribe(*(CHANNEL_PREFIX + room for room in subscribed - wanted))
        with self._applied:
            self._applied_generation = generation
            self._applied.notify_all()
        return generation, wanted

    def _dispatch(self, channel: str, frame: str) -> None:
        room = channel[len(CHANNEL_PREFIX) :]
        try:
            self._deliver(room, frame)
        except Exception:  # a failing hub must not take the worker's only listener down with it
            log.exception("delivering a frame to room %s failed", room)


def _spawn(target: Callable[[], None]):
    """Run `target` in the background: a greenlet under gevent's monkey patching (the server),
    a daemon thread otherwise (tests, scripts). Either can be `join`ed."""
    if monkey.is_module_patched("threading"):
        return gevent.spawn(target)
    thread = threading.Thread(target=target, name="redis-broker-listener", daemon=True)
    thread.start()
    return thread
