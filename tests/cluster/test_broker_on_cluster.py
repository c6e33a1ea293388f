"""Room fan-out on a Redis Cluster: sharded pub/sub, each room's frames crossing only the shard that owns
its channel, and the listener resubscribing when a shard's master restarts."""

from __future__ import annotations

import time

import pytest

from bazaar.infra.broker import CHANNEL_PREFIX, RedisBroker
from config import Settings
from tests.cluster.conftest import keys_on_every_master
from tests.realtime.test_broker import WAIT_S, Inbox


@pytest.fixture
def rooms(redis_cluster) -> list[str]:
    """Three rooms whose channels are owned by three different masters."""
    return [channel[len(CHANNEL_PREFIX) :] for channel in keys_on_every_master(redis_cluster, CHANNEL_PREFIX)]


@pytest.fixture
def worker(redis_cluster):
    """`worker(inbox=None)`: one more worker's broker on the cluster, stopped after the test."""
    brokers = []

    def make(inbox: Inbox | None = None) -> RedisBroker:
        broker = RedisBroker(Settings().with_overrides(redis_url=redis_cluster.url, redis_cluster=True))
        if inbox is not None:
            broker.start(inbox.deliver)
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.stop()


def shard_subscribers(cluster, room: str) -> int:
    """Subscribers of the room's sharded channel, as the master owning it counts them."""
    channel = CHANNEL_PREFIX + room
    return dict(cluster.node(cluster.port_of(channel)).pubsub_shardnumsub(channel))[channel]


def wait_shard_subscribers(cluster, room: str, count: int) -> None:
    deadline = time.monotonic() + 3 * WAIT_S
    while True:
        try:
            if shard_subscribers(cluster, room) == count:
                return
        except OSError:
            pass  # the node is restarting
        assert time.monotonic() < deadline, f"room {room} never reached {count} shard subscribers"
        time.sleep(0.02)


def test_frames_of_rooms_on_every_shard_reach_their_subscribers(redis_cluster, worker, rooms):
    inbox = Inbox()
    subscriber = worker(inbox)
    for room in rooms:
        subscriber.subscribe(room)
        wait_shard_subscribers(redis_cluster, room, 1)

    publisher = worker()
    for room in rooms:
        publisher.publish(room, f"for {room}")
    publisher.publish("no-members-here", "nobody listens")

    assert sorted(inbox.wait_for(3)) == sorted((room, f"for {room}") for room in rooms)
    time.sleep(0.2)
    assert len(inbox.frames) == 3


def test_room_channels_are_sharded_on_the_owning_master_only(redis_cluster, worker, rooms):
    subscriber = worker(Inbox())
    for room in rooms:
        subscriber.subscribe(room)
        wait_shard_subscribers(redis_cluster, room, 1)

    for port in redis_cluster.ports:
        node = redis_cluster.node(port)
        owned = {
            CHANNEL_PREFIX + room for room in rooms if redis_cluster.port_of(CHANNEL_PREFIX + room) == port
        }
        assert set(node.pubsub_shardchannels()) == owned
        assert node.pubsub_channels() == []  # nothing on classic pub/sub, which every node would relay


def test_an_unsubscribed_room_gets_nothing_more(redis_cluster, worker, rooms):
    inbox = Inbox()
    subscriber = worker(inbox)
    subscriber.subscribe(rooms[0])
    subscriber.subscribe(rooms[1])
    wait_shard_subscribers(redis_cluster, rooms[0], 1)
    wait_shard_subscribers(redis_cluster, rooms[1], 1)

    subscriber.unsubscribe(rooms[0])
    wait_shard_subscribers(redis_cluster, rooms[0], 0)
    publisher = worker()
    publisher.publish(rooms[0], "while away")
    publisher.publish(rooms[1], "still here")

    assert inbox.wait_for(1) == [(rooms[1], "still here")]
    time.sleep(0.2)
    assert inbox.frames == [(rooms[1], "still here")]


def test_the_listener_resubscribes_after_a_shards_master_restarts(redis_cluster, worker, rooms):
    inbox = Inbox()
    subscriber = worker(inbox)
    for room in rooms:
        subscriber.subscribe(room)
        wait_shard_subscribers(redis_cluster, room, 1)

    redis_cluster.restart(redis_cluster.port_of(CHANNEL_PREFIX + rooms[1]))
    for room in rooms:
        wait_shard_subscribers(redis_cluster, room, 1)
    publisher = worker()
    for room in rooms:
        publisher.publish(room, f"after the restart: {room}")

    assert sorted(inbox.wait_for(3)) == sorted((room, f"after the restart: {room}") for room in rooms)
