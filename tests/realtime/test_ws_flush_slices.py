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
        self.flushed_at = 0.0

    def flush(self) -> None:
        self.flushes += 1
        self.flushed_at = time.monotonic()
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


def wait_for(transport: BusyTransport) -> None:
    deadline = time.monotonic() + 10
    while transport.flushes == 0 and time.monotonic() < deadline:
        gevent.sleep(0.005)


def test_a_worker_falling_behind_pauses_before_the_next_flush():
    """Two flushes in a row that each end with at least half as many connections due again: the third
    waits 1 × the second's length."""
    scheduler = FlushScheduler(Settings().with_overrides(ws_flush_slice_ms=2, ws_flush_gap_factor=1.0))
    first = [BusyTransport() for _ in range(500)]  # a flush of ~0.1 s
    second = [BusyTransport() for _ in range(250)]  # ~0.05 s
    third = [BusyTransport() for _ in range(150)]
    for transport in first:
        scheduler.schedule(transport)
    gevent.sleep(0.02)  # the first flush is under way
    for transport in second:
        scheduler.schedule(transport)
    wait_for(first[-1])
    gevent.sleep(0.01)  # the second flush is under way
    for transport in third:
        scheduler.schedule(transport)
    wait_for(third[-1])

    first_ended = max(t.flushed_at for t in first)
    second_started, second_ended = min(t.flushed_at for t in second), max(t.flushed_at for t in second)
    assert second_started - first_ended < 0.02  # one flush ending with many due is not falling behind
    assert min(t.flushed_at for t in third) - second_ended >= 0.8 * (second_ended - second_started)


def test_a_few_frames_due_after_each_flush_are_no_sign_of_falling_behind():
    scheduler = FlushScheduler(Settings().with_overrides(ws_flush_slice_ms=2, ws_flush_gap_factor=1.0))
    first = [BusyTransport() for _ in range(500)]
    second = [BusyTransport() for _ in range(250)]
    for transport in first:
        scheduler.schedule(transport)
    gevent.sleep(0.02)
    for transport in second:
        scheduler.schedule(transport)
    wait_for(first[-1])
    gevent.sleep(0.01)
    late = BusyTransport()  # one reply, while the second flush is under way
    scheduler.schedule(late)
    wait_for(late)

    assert late.flushed_at - max(t.flushed_at for t in second) < 0.02


def test_a_worker_that_keeps_up_flushes_at_once():
    """After a long flush with nothing due at its end, the next connection queued is flushed without a gap."""
    scheduler = FlushScheduler(Settings().with_overrides(ws_flush_slice_ms=2, ws_flush_gap_factor=1.0))
    transports = [BusyTransport() for _ in range(500)]
    for transport in transports:
        scheduler.schedule(transport)
    wait_for(transports[-1])
    queued_at = time.monotonic()
    late = BusyTransport()
    scheduler.schedule(late)
    wait_for(late)

    assert late.flushed_at - queued_at < 0.05  # the flush before took 0.1 s


def test_frames_queued_during_a_flush_leave_in_the_next_one():
    scheduler = FlushScheduler(Settings().with_overrides(ws_flush_slice_ms=2))
    transports = [BusyTransport() for _ in range(500)]
    for transport in transports:
        scheduler.schedule(transport)
    gevent.sleep(0.02)  # the flush is under way, past its first slices
    late = BusyTransport()
    scheduler.schedule(late)
    wait_for(late)

    assert late.flushes == 1
    assert all(t.flushes == 1 for t in transports)
    assert late.flushed_at - max(t.flushed_at for t in transports) < 0.02  # right after, no gap
