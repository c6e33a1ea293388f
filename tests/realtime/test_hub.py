"""The hub writes each frame once to every local member of its room and drops members that fall behind."""

from __future__ import annotations

import threading
import time

import pytest

from bazaar.entry.ws import wire
from bazaar.entry.ws.frames import RoomFrame
from bazaar.infra.broker import MemoryBroker
from bazaar.live.events import encode, viewer_count
from bazaar.live.hub import Hub


class Viewer:
    """A connection as the hub sees it: a bounded send queue."""

    def __init__(self, queue_size: int = 100):
        self.queue: list[str] = []
        self.queue_size = queue_size
        self.overflows = 0

    def enqueue(self, frame: str) -> bool:
        if len(self.queue) >= self.queue_size:
            return False
        self.queue.append(frame)
        return True

    def overflow(self) -> None:
        self.overflows += 1


class RecordingBroker(MemoryBroker):
    """The in-process broker, noting which rooms the hub (un)subscribes."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def subscribe(self, room: str) -> None:
        self.calls.append(("subscribe", room))
        super().subscribe(room)

    def unsubscribe(self, room: str) -> None:
        self.calls.append(("unsubscribe", room))
        super().unsubscribe(room)


@pytest.fixture
def broker():
    return RecordingBroker()


@pytest.fixture
def hub(broker):
    hub = Hub(broker)
    broker.start(hub.deliver)
    return hub


def test_one_frame_reaches_each_member_of_the_room_once(hub, broker):
    alice, bob, carol = Viewer(), Viewer(), Viewer()
    hub.join("show-1", alice)
    hub.join("show-1", bob)
    hub.join("show-1", bob)  # joining twice is still one membership
    hub.join("show-2", carol)

    broker.publish("show-1", '{"event":"new-reaction"}')

    assert alice.queue == ['{"event":"new-reaction"}']
    assert bob.queue == ['{"event":"new-reaction"}']
    assert carol.queue == []


def test_a_slow_member_is_dropped_without_holding_up_the_room(hub, broker):
    fast, slow = Viewer(), Viewer(queue_size=1)
    hub.join("show-1", fast)
    hub.join("show-1", slow)

    for n in range(3):
        broker.publish("show-1", f"frame {n}")

    assert fast.queue == ["frame 0", "frame 1", "frame 2"]
    assert slow.queue == ["frame 0"]
    assert slow.overflows == 1
    assert hub.members("show-1") == [fast]


def test_broker_is_subscribed_on_the_first_member_and_unsubscribed_on_the_last(hub, broker):
    alice, bob = Viewer(), Viewer()
    hub.join("show-1", alice)
    hub.join("show-1", bob)
    hub.leave("show-1", alice)
    assert broker.calls == [("subscribe", "show-1")]
    hub.leave("show-1", bob)
    hub.leave("show-1", bob)  # a second leave (e.g. from the closing connection) changes nothing
    assert broker.calls == [("subscribe", "show-1"), ("unsubscribe", "show-1")]
    assert hub.rooms() == []


def test_dropping_the_last_member_for_falling_behind_unsubscribes(hub, broker):
    slow = Viewer(queue_size=0)
    hub.join("show-1", slow)
    broker.publish("show-1", "frame")
    assert slow.overflows == 1
    assert broker.calls == [("subscribe", "show-1"), ("unsubscribe", "show-1")]


def test_rooms_and_members_list_this_workers_connections(hub):
    alice, bob = Viewer(), Viewer()
    hub.join("show-1", alice)
    hub.join("show-2", alice)
    hub.join("show-2", bob)
    assert sorted(hub.rooms()) == ["show-1", "show-2"]
    assert hub.members("show-2") == [alice, bob]
    assert hub.members("show-3") == []


def test_send_local_writes_to_this_workers_members(hub):
    alice = Viewer()
    hub.join("show-1", alice)
    hub.send_local("show-1", "only here")
    assert alice.queue == ["only here"]


class SlowBroker(MemoryBroker):
    """Subscribing takes a while (with Redis, until the listener has subscribed), as a real broker's does."""

    def __init__(self):
        super().__init__()
        self.subscription_done = threading.Event()

    def subscribe(self, room: str) -> None:
        super().subscribe(room)
        self.subscription_done.wait(timeout=2)


def test_a_join_waiting_for_its_subscription_does_not_hold_up_other_rooms():
    broker = SlowBroker()
    hub = Hub(broker)
    broker.start(hub.deliver)
    busy, newcomer = Viewer(), Viewer()
    broker.subscription_done.set()
    hub.join("show-1", busy)
    broker.subscription_done.clear()
    joining = threading.Thread(target=hub.join, args=("show-2", newcomer))
    joining.start()
    time.sleep(0.1)  # the newcomer is waiting for show-2's subscription

    started = time.monotonic()
    broker.publish("show-1", "frame")

    assert time.monotonic() - started < 0.5
    assert busy.queue == ["frame"]
    broker.subscription_done.set()
    joining.join()


def test_a_second_member_joining_waits_for_the_rooms_subscription_too():
    broker = SlowBroker()
    hub = Hub(broker)
    broker.start(hub.deliver)
    first = threading.Thread(target=hub.join, args=("show-1", Viewer()))
    first.start()
    time.sleep(0.1)
    second = threading.Thread(target=hub.join, args=("show-1", Viewer()))
    second.start()

    second.join(timeout=0.3)
    assert second.is_alive()  # not joined before the room's subscription is active
    broker.subscription_done.set()
    second.join(timeout=1)
    first.join(timeout=1)
    assert not second.is_alive()


class DialectMember(Viewer):
    """A member taking a broadcast in its dialect's bytes, as `Connection.enqueue` does."""

    def __init__(self, dialect: str):
        super().__init__()
        self.dialect = dialect

    def enqueue(self, frame) -> bool:
        return super().enqueue(getattr(frame, self.dialect))


def test_a_broadcast_is_encoded_once_per_dialect_and_each_dialect_reads_its_own_shape(broker):
    hub = Hub(broker, encode=RoomFrame)
    broker.start(hub.deliver)
    members = [DialectMember(dialect) for dialect in ("ws", "ws", "socketio", "socketio")]
    for member in members:
        hub.join("show-1", member)

    broker.publish("show-1", encode(*viewer_count("show-1", 3)))

    ws_a, ws_b, sio_a, sio_b = (member.queue[0] for member in members)
    assert ws_a is ws_b and sio_a is sio_b  # the same bytes object: built once per dialect
    assert ws_a == wire.text_frame('{"event":"viewer-count","data":{"sessionId":"show-1","count":3}}')
    assert sio_a == wire.text_frame('42["viewer-count",3]')  # the front end reads a bare number
