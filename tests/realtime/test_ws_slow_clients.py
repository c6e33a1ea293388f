"""A client that cannot keep up is dropped instead of slowing its room (bounded send queue).

A peer that stops reading only fills kernel buffers (megabytes) before the server's
queue fills, so this drives `Connection` (/ws dialect) over stand-in sockets: one whose buffer is
full, one that takes everything.
"""

from __future__ import annotations

import socket

import gevent
import gevent.event
import pytest

from bazaar.entry.ws import wire
from bazaar.entry.ws.connection import Connection
from bazaar.entry.ws.frames import RoomFrame
from bazaar.entry.ws.json_dialect import JsonDialect
from bazaar.entry.ws.transport import FlushScheduler, SocketTransport
from bazaar.infra.broker import MemoryBroker
from bazaar.live.hub import Hub
from config import Settings


class PeerSocket:
    """The server side of a connection whose peer reads everything (`stuck=False`) or nothing."""

    def __init__(self, stuck: bool):
        self.stuck = stuck
        self.drained = gevent.event.Event()
        self.received = b""
        self.shut_down: list[int] = []

    def setsockopt(self, *option) -> None:
        pass

    def send(self, data, flags=0, timeout=None) -> int:
        if self.stuck:
            raise BlockingIOError
        self.received += bytes(data)
        return len(data)

    def sendall(self, data) -> None:
        self.drained.wait()  # the kernel buffer drains only when the test ends

    def shutdown(self, how: int) -> None:
        self.shut_down.append(how)


@pytest.fixture
def room():
    broker = MemoryBroker()
    hub = Hub(broker, encode=RoomFrame)
    broker.start(hub.deliver)
    settings = Settings(ws_send_queue_size=4, ws_close_timeout_s=0.05)
    scheduler = FlushScheduler(settings)
    sockets: list[PeerSocket] = []

    def member(stuck: bool) -> tuple[Connection, PeerSocket]:
        sock = PeerSocket(stuck)
        sockets.append(sock)
        connection = Connection(SocketTransport(sock, scheduler, settings), JsonDialect(), None, None)
        hub.join("show-1", connection)
        return connection, sock

    yield hub, broker, member
    for sock in sockets:
        sock.drained.set()
    gevent.sleep(0)


def test_a_client_that_stops_reading_is_dropped_and_the_room_keeps_going(room):
    hub, broker, member = room
    slow, slow_socket = member(stuck=True)
    fast, fast_socket = member(stuck=False)

    for n in range(10):
        broker.publish("show-1", f'{{"event":"n","data":{{"n":{n}}}}}')
        gevent.sleep(0.01)  # flushes run

    assert hub.members("show-1") == [fast]
    gevent.sleep(0.1)  # its 1013 close frame cannot get out while it reads nothing: dropped after the timeout
    assert socket.SHUT_RDWR in slow_socket.shut_down
    assert fast_socket.received == b"".join(
        wire.text_frame(f'{{"event":"n","data":{{"n":{n}}}}}') for n in range(10)
    )


def test_frames_queued_in_one_turn_leave_in_one_write(room):
    hub, broker, member = room
    _, sock = member(stuck=False)
    writes = []
    sock.send = lambda data, flags=0, timeout=None: writes.append(bytes(data)) or len(data)

    broker.publish("show-1", '{"event":"a"}')
    broker.publish("show-1", '{"event":"b"}')
    gevent.sleep(0.01)

    assert writes == [wire.text_frame('{"event":"a"}') + wire.text_frame('{"event":"b"}')]
