"""Room fan-out between workers: a frame published to a room reaches the hub of every worker with members
in it.

`RedisBroker` carries frames over Redis pub/sub (channel `bazaar:room:<room>`) to every worker on
every host; `MemoryBroker` hands them straight to this process's hub (the embedded default, one
worker). Frames are already-encoded JSON text; a broker never looks inside them.

On a Redis Cluster (`REDIS_CLUSTER`) the rooms' channels are sharded (SPUBLISH / SSUBSCRIBE,
Redis ≥ 7): a frame crosses only the shard that owns its channel's slot, where classic pub/sub
would copy every frame to every node of the cluster.

Wiring, once per worker: `broker.start(hub.deliver, hub.resubscribed)`; `broker.stop()` at shutdown. The
hub calls `subscribe` / `unsubscribe` as its rooms gain their first and lose their last local member.
Frames published while the subscriptions are down are lost (pub/sub is at-most-once); once they are
back, `resubscribed()` says so before any frame more is delivered, so the hub can replay what it can.
"""

from __future__ import annotations

import logging
import select
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Protocol

import gevent
import redis
from gevent import monkey
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.crc import key_slot
from redis.retry import Retry

from config import Settings

log = logging.getLogger(__name__)

Deliver = Callable[[str, str], None]  # (room, frame) → this worker's hub
Resubscribed = Callable[[], None]  # the subscriptions lost to an outage are back → this worker's hub

CHANNEL_PREFIX = "bazaar:room:"


class Broker(Protocol):
    def start(self, deliver: Deliver, resubscribed: Resubscribed | None = None) -> None:
        """From now on hand every frame that arrives for a subscribed room to `deliver(room, frame)`, and
        call `resubscribed()` whenever the subscriptions are active again after they were lost (before
        delivering anything that arrives on them)."""

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


def redis_client(settings: Settings, **options) -> redis.Redis | redis.RedisCluster:
    """A Redis client for this worker's greenlets (the live state's and the broker's); on a Redis Cluster,
    one that routes each command to the node owning its keys (a pool like this one per node)."""
    options = {
        "max_connections": REDIS_POOL_SIZE,
        "timeout": settings.redis_socket_timeout_s,
        "socket_timeout": settings.redis_socket_timeout_s,
        "health_check_interval": 30,
        **options,
    }
    if settings.redis_cluster:
        # Without full coverage the shards that are up keep serving while one restarts or fails over.
        return redis.RedisCluster.from_url(
            settings.redis_url,
            connection_pool_class=redis.BlockingConnectionPool,
            require_full_coverage=False,
            **options,
        )
    return redis.Redis.from_pool(redis.BlockingConnectionPool.from_url(settings.redis_url, **options))


class MemoryBroker:
    """The embedded default: one worker, so publishing is delivering."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._rooms: set[str] = set()

    def start(self, deliver: Deliver, resubscribed: Resubscribed | None = None) -> None:
        """Nothing is ever lost in this process: `resubscribed` is never called."""
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


class _Channels:
    """Classic pub/sub on one Redis: one connection carries every room."""

    def __init__(self, settings: Settings):
        self._client = redis_client(settings)
        # No retries inside redis-py: its reconnect would resubscribe behind the listener's back.
        self._listen_client = redis_client(settings, decode_responses=True, retry=Retry(NoBackoff(), 0))

    def publish(self, channel: str, frame: str) -> None:
        self._client.publish(channel, frame)

    def refresh(self) -> None:
        """Nothing to look up: there is one server."""

    def shard_of(self, channel: str) -> str:
        return ""

    def pubsub(self, shard: str) -> redis.client.PubSub:
        return self._listen_client.pubsub()

    @staticmethod
    def subscribe(pubsub: redis.client.PubSub, channels: set[str]) -> None:
        pubsub.subscribe(*channels)

    @staticmethod
    def unsubscribe(pubsub: redis.client.PubSub, channels: set[str]) -> None:
        pubsub.unsubscribe(*channels)

    def close(self) -> None:
        self._client.close()
        self._listen_client.close()


class _ShardedChannels:
    """Sharded pub/sub on a Redis Cluster: one connection per master that owns a wanted room's channel.

    The listener's connections are its own (not from the cluster client's pools), without retries
    inside redis-py for the same reason as `_Channels`'.
    """

    def __init__(self, settings: Settings):
        self._client = redis_client(settings)
        self._node_options = {
            **parse_url(settings.redis_url),
            "socket_timeout": settings.redis_socket_timeout_s,
            "health_check_interval": 30,
            "decode_responses": True,
            "retry": Retry(NoBackoff(), 0),
        }

    def publish(self, channel: str, frame: str) -> None:
        self._client.spublish(channel, frame)

    def refresh(self) -> None:
        """Learn which master owns which slots anew (after a failover or a restart)."""
        self._client.nodes_manager.initialize()

    def shard_of(self, channel: str) -> str:
        return self._client.get_node_from_key(channel).name

    def pubsub(self, shard: str) -> redis.client.PubSub:
        host, port = shard.rsplit(":", 1)
        return redis.Redis(**{**self._node_options, "host": host, "port": int(port)}).pubsub()

    @staticmethod
    def subscribe(pubsub: redis.client.PubSub, channels: set[str]) -> None:
        for same_slot in _by_slot(channels):  # SSUBSCRIBE takes the channels of one slot at a time
            pubsub.ssubscribe(*same_slot)

    @staticmethod
    def unsubscribe(pubsub: redis.client.PubSub, channels: set[str]) -> None:
        for same_slot in _by_slot(channels):
            pubsub.sunsubscribe(*same_slot)

    def close(self) -> None:
        self._client.close()


def _by_slot(channels: set[str]) -> list[list[str]]:
    slots: dict[int, list[str]] = defaultdict(list)
    for channel in channels:
        slots[key_slot(channel.encode())].append(channel)
    return list(slots.values())


_FRAMES = ("message", "smessage")
_UNSUBSCRIBED = ("unsubscribe", "sunsubscribe")
# What means "Redis is away or its topology changed": resubscribe after a backoff, quietly.
_CONNECTION_ERRORS = (redis.RedisError, redis.exceptions.RedisClusterException)


class _SlotMoved(redis.RedisError):
    """A shard dropped a channel it no longer owns (resharding, failover): subscribe anew."""


class RedisBroker:
    """Pub/sub connections (one, or one per shard of a cluster) per worker, owned by one listener greenlet.

    Only the listener touches the pub/sub connections — redis-py's PubSub is not safe to share with a
    greenlet that may be reconnecting it — so `subscribe` / `unsubscribe` only record the rooms
    wanted, and the listener applies the difference between reads (within `_POLL_S`). After any
    connection error (Redis or a shard's master restarted, connection killed, slots moved) the
    listener starts over on new connections subscribed to every wanted room, backing off while Redis
    stays away. Frames published meanwhile are lost, as pub/sub is at-most-once anyway; once the
    new subscriptions are sent, the listener calls `resubscribed` before it reads a frame from them.
    """

    def __init__(self, settings: Settings):
        self._channels = _ShardedChannels(settings) if settings.redis_cluster else _Channels(settings)
        self._lock = threading.Lock()
        self._rooms: set[str] = set()
        self._generation = 0  # bumped on every change of _rooms, so the listener copies it only then
        self._applied = threading.Condition()
        self._applied_generation = 0  # the generation the pub/sub connection is subscribed to
        self._stopping = threading.Event()
        self._deliver: Deliver | None = None
        self._resubscribed: Resubscribed | None = None
        self._listener = None

    def start(self, deliver: Deliver, resubscribed: Resubscribed | None = None) -> None:
        self._deliver = deliver
        self._resubscribed = resubscribed
        self._listener = _spawn(self._listen)

    def publish(self, room: str, frame: str) -> None:
        try:
            self._channels.publish(CHANNEL_PREFIX + room, frame)
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
        self._channels.close()

    def _listen(self) -> None:
        backoff = _BACKOFF_MIN_S
        lost = False  # the connections were lost: frames may have been published meanwhile
        while not self._stopping.is_set():
            pubsubs: dict[str, redis.client.PubSub] = {}  # shard → its connection
            subscribed: set[str] = set()
            leaving: Counter[str] = Counter()  # our own unsubscribes not confirmed yet
            seen = None
            try:
                if lost:
                    self._channels.refresh()
                while not self._stopping.is_set():
                    if seen != self._generation:
                        seen, subscribed = self._sync(pubsubs, subscribed, leaving)
                        if lost:
                            lost = False
                            self._notify_resubscribed()
                    if not pubsubs:
                        self._stopping.wait(_POLL_S)
                        continue
                    for message in _messages(list(pubsubs.values())):
                        if message["type"] in _FRAMES:
                            self._dispatch(message["channel"], message["data"])
                        elif message["type"] in _UNSUBSCRIBED:
                            if leaving[message["channel"]] <= 0:
                                raise _SlotMoved(f"{message['channel']} was unsubscribed by its shard")
                            leaving[message["channel"]] -= 1
                    if any(pubsub.subscribed for pubsub in pubsubs.values()):
                        backoff = _BACKOFF_MIN_S  # connected and listening again
            except _CONNECTION_ERRORS as exc:
                lost = True
                log.warning("Redis pub/sub connection lost (%s); resubscribing in %.1f s", exc, backoff)
            except Exception:
                lost = True
                log.exception("Redis pub/sub listener failed; restarting in %.1f s", backoff)
            finally:
                for pubsub in pubsubs.values():
                    pubsub.close()
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX_S)

    def _sync(
        self, pubsubs: dict[str, redis.client.PubSub], subscribed: set[str], leaving: Counter[str]
    ) -> tuple[int, set[str]]:
        with self._lock:
            generation, rooms = self._generation, set(self._rooms)
        wanted = {CHANNEL_PREFIX + room for room in rooms}
        changes: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
        for channel in wanted - subscribed:
            changes[self._channels.shard_of(channel)][0].add(channel)
        for channel in subscribed - wanted:
            changes[self._channels.shard_of(channel)][1].add(channel)
        for shard, (added, removed) in changes.items():
            if shard not in pubsubs:
                pubsubs[shard] = self._channels.pubsub(shard)
            if added:
                self._channels.subscribe(pubsubs[shard], added)
            if removed:
                self._channels.unsubscribe(pubsubs[shard], removed)
                leaving.update(removed)
        with self._applied:
            self._applied_generation = generation
            self._applied.notify_all()
        return generation, wanted

    def _notify_resubscribed(self) -> None:
        if self._resubscribed is None:
            return
        try:
            self._resubscribed()
        except Exception:  # as in _dispatch: the listener must go on
            log.exception("the hub failed to catch up after the subscriptions came back")

    def _dispatch(self, channel: str, frame: str) -> None:
        room = channel[len(CHANNEL_PREFIX) :]
        try:
            self._deliver(room, frame)
        except Exception:  # a failing hub must not take the worker's only listener down with it
            log.exception("delivering a frame to room %s failed", room)


def _messages(pubsubs: list[redis.client.PubSub]) -> list[dict]:
    """What the connections have received, waiting up to `_POLL_S` for something to arrive."""
    if len(pubsubs) == 1:
        message = pubsubs[0].get_message(timeout=_POLL_S)
        return [] if message is None else [message]
    received = _ready(pubsubs)
    if received:
        return received
    # Several shards: wait on all their sockets at once (poll, not select: descriptors can be past 1023).
    poller = select.poll()
    for pubsub in pubsubs:
        sock = pubsub.connection._sock if pubsub.connection is not None else None
        if sock is not None:
            poller.register(sock, select.POLLIN)
    poller.poll(_POLL_S * 1000)
    return _ready(pubsubs)


def _ready(pubsubs: list[redis.client.PubSub]) -> list[dict]:
    """Every message already received (read or buffered) on the connections, without waiting."""
    received = []
    for pubsub in pubsubs:
        while pubsub.connection is not None and (message := pubsub.get_message(timeout=0)) is not None:
            received.append(message)
    return received


def _spawn(target: Callable[[], None]):
    """Run `target` in the background: a greenlet under gevent's monkey patching (the server),
    a daemon thread otherwise (tests, scripts). Either can be `join`ed."""
    if monkey.is_module_patched("threading"):
        return gevent.spawn(target)
    thread = threading.Thread(target=target, name="redis-broker-listener", daemon=True)
    thread.start()
    return thread
