"""A flush writing to thousands of sockets (a big room's broadcast) does not hold up the rest of the worker:
what arrives meanwhile (a chat post's database reply, the broker's next message, a client's frame) is read
within a slice of `ws_flush_slice_ms`, not after the whole flush.

Stand-in transports make a long flush: each write busy-waits as a send to a socket does.
"""

from __future__ import annotations

import threading
import time

import gevent
from gevent import socket as gsocket

from bazaar.entry.ws.transport import FlushScheduler
from config import Settings

WRITE_S = 0.0002  # one stand-in write
TRANSPORTS = 2500  # a flush of ~0.5 s


class BusyTransport:
    def __init__(self):
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        until = time.perf_counter() + WRITE_S
        while time.perf_counter() < until:
            pass


def test_a_long_flush_lets_a_waiting_read_through_within_a_few_slices():
    scheduler = FlushScheduler(Settings().with_overrides(ws_flush_slice_ms=2))
    ours, peer = gsocket.socketpair()
    read_at: list[float] = []

    def wait_for_reply():
        ours.recv(16)
        read_at.append(time.monotonic())

    reader = gevent.spawn(wait_for_reply)
    gevent.sleep(0.01)  # the reader waits on its socket
    transports = [BusyTransport() for _ in range(TRANSPORTS)]
    for transport in transports:
        scheduler.schedule(transport)
    sent_at: list[float] = []

    def reply_during_the_flush():  # a real thread: the database or Redis answering
        time.sleep(0.1)
        sent_at.append(time.monotonic())
        peer.send(b"reply")

    threading.Thread(target=reply_during_the_flush).start()
    flush_started = time.monotonic()
    reader.join(timeout=10)
    while any(t.flushes == 0 for t in transports):
        gevent.sleep(0.01)
    flush_s = time.monotonic() - flush_started

    assert [t.flushes for t in transports] == [1] * TRANSPORTS
    assert flush_s > 0.4  # the reply came during the flush ...
    assert read_at[0] - sent_at[0] < 0.1  # ... and was read long before it ended
    ours.close()
    peer.close()


def test_frames_queued_during_a_flush_leave_in_the_next_one():
    scheduler = FlushScheduler(Settings().with_overrides(ws_flush_slice_ms=2))
    transports = [BusyTransport() for _ in range(500)]
    for transport in transports:
        scheduler.schedule(transport)
    gevent.sleep(0.02)  # the flush is under way, past its first slices
    late = BusyTransport()
    scheduler.schedule(late)
    deadline = time.monotonic() + 10
    while late.flushes == 0 and time.monotonic() < deadline:
        gevent.sleep(0.01)

    assert late.flushes == 1
    assert all(t.flushes == 1 for t in transports)
