"""Brokers carry a room's frames to the workers with members in it, in memory and over Redis.

Over Redis every worker is its own RedisBroker; in memory there is one process, so the publishing
and the subscribed "worker" are the same MemoryBroker (which is what the embedded mode runs).
"""

from __future__ import annotations

import threading
import time

import pytest

from bazaar.infra.broker import CHANNEL_PREFIX, MemoryBroker, RedisBroker, make_broker
from config import Settings
from tests.support import databases
from tests.support.databases import unit_redis as redis_test_db

REDIS_URL = databases.REDIS_UNIT_URL
WAIT_S = 3.0


class Inbox:
    """A worker's hub, as far as its broker can tell: collects (room, frame) deliveries."""

    def __init__(self):
        self.frames: list[tuple[str, str]] = []
        self._arrived = threading.Condition()

    def deliver(self, room: str, frame: str) -> None:
        with self._arrived:
            self.frames.append((room, frame))
            self._arrived.notify_all()

    def wait_for(self, count: int) -> list[tuple[str, str]]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.frames) >= count, timeout=WAIT_S)
            return list(self.frames)


class Cluster:
    """Workers' brokers, started on demand and stopped at the end of the test."""

    def __init__(self, kind: str):
        self.kind = kind
        self.admin = redis_test_db() if kind == "redis" else None
        self.brokers: list = []

    def worker(self, inbox: Inbox | None = None):
        if self.kind == "memory" and self.brokers:
            broker = self.brokers[0]
        else:
            broker = (
                MemoryBroker()
                if self.kind == "memory"
                else RedisBroker(Settings().with_overrides(redis_url=REDIS_URL))
            )
            self.brokers.append(broker)
        if inbox is not None:
            broker.start(inbox.deliver)
        return broker

    def wait_subscribers(self, room: str, count: int) -> None:
        """Subscriptions over Redis take effect asynchronously; wait until Redis has them."""
        if self.admin is None:
            return
        deadline = time.monotonic() + WAIT_S
        while dict(self.admin.pubsub_numsub(CHANNEL_PREFIX + room))[CHANNEL_PREFIX + room] != count:
            assert time.monotonic() < deadline, f"room {room} never reached {count} subscribers"
            time.sleep(0.01)

    def stop(self) -> None:
        for broker in self.brokers:
            broker.stop()


@pytest.fixture(params=["memory", "redis"])
def cluster(request):
    cluster = Cluster(request.param)
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_cluster():
    cluster = Cluster("redis")
    yield cluster
    cluster.stop()


def test_frame_reaches_the_subscribed_room_only(cluster):
    inbox = Inbox()
    subscriber = cluster.worker(inbox)
    publisher = cluster.worker()
    subscriber.subscribe("show-1")
    cluster.wait_subscribers("show-1", 1)

    publisher.publish("show-1", '{"event":"a"}')
    publisher.publish("show-2", '{"event":"b"}')
    publisher.publish("show-1", '{"event":"c"}')

    # Frames arrive in order, so "b" would have come before "c".
    assert inbox.wait_for(2) == [("show-1", '{"event":"a"}'), ("show-1", '{"event":"c"}')]


def test_unsubscribed_room_gets_nothing_more(cluster):
    inbox = Inbox()
    subscriber = cluster.worker(inbox)
    publisher = cluster.worker()
    subscriber.subscribe("show-1")
    cluster.wait_subscribers("show-1", 1)
    publisher.publish("show-1", "before")
    assert inbox.wait_for(1) == [("show-1", "before")]

    subscriber.unsubscribe("show-1")
    cluster.wait_subscribers("show-1", 0)
    publisher.publish("show-1", "while away")
    subscriber.subscribe("show-1")
    cluster.wait_subscribers("show-1", 1)
    publisher.publish("show-1", "back")

    assert inbox.wait_for(2) == [("show-1", "before"), ("show-1", "back")]


def test_frame_text_arrives_unchanged(cluster):
    inbox = Inbox()
    subscriber = cluster.worker(inbox)
    subscriber.subscribe("show-1")
    cluster.wait_subscribers("show-1", 1)
    frame = '{"event":"new-message","data":{"message":"ça coûte 5 €? 🔥"}}'
    cluster.worker().publish("show-1", frame)
    assert inbox.wait_for(1) == [("show-1", frame)]


def test_only_workers_with_members_in_the_room_get_its_frames(redis_cluster):
    watching, elsewhere = Inbox(), Inbox()
    redis_cluster.worker(watching).subscribe("show-1")
    redis_cluster.worker(elsewhere).subscribe("show-2")
    redis_cluster.wait_subscribers("show-1", 1)
    redis_cluster.wait_subscribers("show-2", 1)
    publisher = redis_cluster.worker()

    publisher.publish("show-1", "for show 1")
    publisher.publish("show-2", "for show 2")

    assert watching.wait_for(1) == [("show-1", "for show 1")]
    assert elsewhere.wait_for(1) == [("show-2", "for show 2")]
    assert watching.frames == [("show-1", "for show 1")]


def test_listener_resubscribes_after_its_connection_is_killed(redis_cluster):
    admin = redis_cluster.admin
    others = {client["id"] for client in admin.client_list(_type="pubsub")}  # other tests' listeners live on
    inbox = Inbox()
    subscriber = redis_cluster.worker(inbox)
    subscriber.subscribe("show-1")
    subscriber.subscribe("show-2")
    redis_cluster.wait_subscribers("show-1", 1)
    redis_cluster.wait_subscribers("show-2", 1)

    [listener] = [client["id"] for client in admin.client_list(_type="pubsub") if client["id"] not in others]
    assert admin.client_kill_filter(_id=listener) == 1
    redis_cluster.wait_subscribers("show-1", 1)
    redis_cluster.wait_subscribers("show-2", 1)
    redis_cluster.worker().publish("show-2", "after the restart")

    assert inbox.wait_for(1) == [("show-2", "after the restart")]


def test_publish_without_redis_drops_the_frame_instead_of_failing():
    broker = RedisBroker(
        Settings().with_overrides(redis_url="redis://127.0.0.1:1/0")
    )  # nothing listens there
    inbox = Inbox()
    broker.start(inbox.deliver)
    broker.subscribe("show-1")
    broker.publish("show-1", "lost")
    broker.stop()
    assert inbox.frames == []


def test_make_broker_uses_redis_only_when_configured():
    assert isinstance(make_broker(Settings()), MemoryBroker)
    broker = make_broker(Settings().with_overrides(redis_url=REDIS_URL))
    assert isinstance(broker, RedisBroker)
    broker.stop()
