"""Viewers whose connection stayed open through a Redis outage get every acknowledged chat message, once
each and in order: pub/sub lost what was published while the workers' subscriptions were down, and each
worker replays it from the database when its subscriptions are back.

The server here has its own redis-server, which the test stops and starts again (empty). Chat posted
right after Redis is back, while the workers' listeners still back off, is acknowledged (it is in the
database) but published to nobody: the case a replay must cover. The last test holds the hub to its
anchor and de-duplication with a live copy of a replayed message, which a real outage makes only by luck.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from bazaar.domain.models import Role
from bazaar.entry.ws.frames import RoomFrame
from bazaar.infra.broker import MemoryBroker
from bazaar.live.events import encode, new_message
from bazaar.live.hub import Hub
from tests.conftest import make_product, register
from tests.load.chaos import PrivateRedis
from tests.realtime.private_redis import private_redis, server_on  # noqa: F401 — fixture
from tests.support.shows import make_show, start
from tests.support.waiting import wait_until
from tests.support.ws_client import SioClient, WsClient

VIEWERS = 6  # usually spread over both workers by the kernel, but not always
LOST = re.compile(r"\[(\d+)\] bazaar\.infra\.broker: Redis pub/sub connection lost")
# A listener that logged this backoff waits at least 1.6 s more before it resubscribes: the gap.
LONG_BACKOFF = re.compile(
    r"\[(\d+)\] bazaar\.infra\.broker: Redis pub/sub connection lost .* in (1\.6|3\.2|5\.0) s"
)


@pytest.fixture(scope="module")
def outage_server(database_url, services, private_redis):
    running = server_on(private_redis, database_url, "outage-server")
    yield running
    running.stop()


def _live_show(server) -> tuple[object, dict]:
    creator = register(server, Role.CREATOR)
    show = make_show(server, creator, productIds=[make_product(server, creator)["id"]])
    start(server, creator, show)
    return creator, show


def _post(server, creator, show: dict, text: str) -> str:
    resp = server.post(f"/api/sessions/{show['id']}/chat", json={"message": text}, as_=creator)
    assert resp.status == 201, resp
    return resp.data["id"]


def _redis_outage(server, redis: PrivateRedis) -> None:
    """Stop Redis until every listener that lost its subscriptions backs off long, then start it again
    (empty). A worker none of the viewers landed on subscribes to nothing, so it has nothing to lose."""
    logged_before = len(server.log())
    redis.stop()

    def every_listener_backs_off_long() -> bool:
        logged = server.log()[logged_before:]
        losing = set(LOST.findall(logged))
        return bool(losing) and losing <= {pid for pid, _ in LONG_BACKOFF.findall(logged)}

    assert wait_until(every_listener_backs_off_long, timeout_s=20), server.log()[-3000:]
    redis.start()


def _chat_through_an_outage(server, redis: PrivateRedis, creator, show: dict, received) -> list[str]:
    """Chat before, in the gap and after the workers resubscribed; returns the acknowledged ids in order
    once `received()` (each viewer's received message ids) ends with each part."""
    acknowledged = [_post(server, creator, show, "before")]
    assert wait_until(lambda: all(ids == acknowledged for ids in received()), timeout_s=5), received()

    _redis_outage(server, redis)
    acknowledged += [_post(server, creator, show, f"in the gap {n}") for n in range(3)]
    assert wait_until(lambda: all(ids[-1:] == acknowledged[-1:] for ids in received()), timeout_s=15)

    acknowledged.append(_post(server, creator, show, "after"))  # live again
    wait_until(lambda: all(ids[-1:] == acknowledged[-1:] for ids in received()), timeout_s=5)
    return acknowledged


def _ws_viewer(server) -> tuple[WsClient, Callable[[], bool]]:
    viewer = WsClient(server.ws_url).connect()
    return viewer, viewer.closed.is_set


def _socketio_viewer(server) -> tuple[SioClient, Callable[[], bool]]:
    viewer = SioClient(server).connect()
    return viewer, viewer.disconnected.is_set


@pytest.mark.parametrize("open_viewer", [_ws_viewer, _socketio_viewer], ids=["ws", "socketio"])
def test_viewers_that_stayed_connected_get_the_chat_of_a_redis_outage_once_in_order(
    outage_server, private_redis, open_viewer
):
    creator, show = _live_show(outage_server)
    viewers, dropped = zip(*(open_viewer(outage_server) for _ in range(VIEWERS)), strict=True)
    try:
        for viewer in viewers:
            viewer.join(show)

        def received() -> list[list[str]]:
            return [[m["id"] for m in viewer.received("new-message")] for viewer in viewers]

        acknowledged = _chat_through_an_outage(outage_server, private_redis, creator, show, received)

        assert not any(was_dropped() for was_dropped in dropped), "a viewer was dropped"
        assert received() == [acknowledged] * VIEWERS
    finally:
        for viewer in viewers:
            viewer.close()


class StoredChat:
    """The hub's ChatLog over a list of message ids (the database's order)."""

    limit = 3

    def __init__(self, *message_ids: str):
        self.ids = list(message_ids)

    def newest(self, room: str) -> str | None:
        return self.ids[-1] if self.ids else None

    def after(self, room: str, message_id: str | None) -> list[str]:
        start = self.ids.index(message_id) + 1 if message_id else 0
        return [_broadcast(room, message_id) for message_id in self.ids[start:][: self.limit]]


def _broadcast(room: str, message_id: str) -> str:
    return encode(*new_message({"id": message_id, "sessionId": room, "message": message_id}))


class Member:
    def __init__(self):
        self.received: list[str] = []

    def enqueue(self, frame: RoomFrame) -> bool:
        self.received.append(frame.message_id)
        return True

    def overflow(self) -> None:
        raise AssertionError("never full")


def test_the_hub_replays_from_its_last_delivered_message_and_never_delivers_one_twice():
    room = "5f0c8b6e-7a1d-4c8e-9d43-1b7f3e2a9c10"
    broker = MemoryBroker()
    chat = StoredChat("m1")  # in the room before this worker had members in it
    hub = Hub(broker, encode=RoomFrame, chat=chat)
    broker.start(hub.deliver, hub.resubscribed)
    member = Member()
    hub.join(room, member)

    chat.ids.append("m2")
    broker.publish(room, _broadcast(room, "m2"))
    chat.ids += ["m3", "m4"]  # published while the subscriptions were down: lost
    hub.resubscribed()
    broker.publish(room, _broadcast(room, "m4"))  # published after resubscribing, already replayed
    chat.ids.append("m5")
    broker.publish(room, _broadcast(room, "m5"))

    assert member.received == ["m2", "m3", "m4", "m5"]
