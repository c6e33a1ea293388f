"""Frames a socket cannot take at once still reach the client whole and in order.

A flush writes without blocking, straight to the socket under gevent's wrapper; what the kernel buffer
refuses goes on in the connection's writer greenlet, which also takes the frames queued meanwhile. This
drives `SocketTransport` over a real socket pair whose client reads only after the server has queued more
than its buffers hold.
"""

from __future__ import annotations

import socket

import gevent
from gevent import socket as gsocket

from bazaar.entry.ws import wire
from bazaar.entry.ws.transport import FlushScheduler, SocketTransport
from config import Settings

FRAME_BYTES = 60_000


def _frame(n: int) -> bytes:
    return wire.text_frame(f'{{"event":"n","data":"{n:06d}{"x" * FRAME_BYTES}"}}')


def test_frames_beyond_the_socket_buffer_arrive_whole_and_in_order():
    server_end, client_end = socket.socketpair()
    server = gsocket.socket(fileno=server_end.detach())
    client = gsocket.socket(fileno=client_end.detach())
    settings = Settings()
    transport = SocketTransport(server, FlushScheduler(settings), settings)
    frames = [_frame(n) for n in range(15)]  # 300 KB a batch: more than a socket pair buffers
    expected = b"".join(frames)
    received = bytearray()

    def read() -> None:
        while len(received) < len(expected):
            received.extend(client.recv(16384))
            gevent.sleep(0)  # a slow client: the server's writes keep finding the buffer full

    reader = gevent.spawn(read)
    for batch in (frames[:5], frames[5:10], frames[10:]):  # queued over several turns
        for frame in batch:
            assert transport.push(frame)
        gevent.sleep(0)

    reader.join(timeout=10)
    assert bytes(received) == expected
    transport.abort()
    transport.finish()
    client.close()


def test_a_queue_that_fills_while_the_client_does_not_read_refuses_more():
    server_end, client_end = socket.socketpair()
    server = gsocket.socket(fileno=server_end.detach())
    settings = Settings(ws_send_queue_bytes=256 * 1024)
    transport = SocketTransport(server, FlushScheduler(settings), settings)
    frame = _frame(0)

    taken = 0
    with gevent.Timeout(10):
        while transport.push(frame):  # the kernel buffer fills, then the writer blocks, then the queue
            taken += 1
            gevent.sleep(0)

    assert taken * len(frame) > 256 * 1024  # the socket took some, the queue held its bound
    transport.abort()
    transport.finish()
    client_end.close()
