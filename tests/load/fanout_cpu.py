"""Server CPU per delivered frame of a room broadcast, in process: the hub, the connections and their
transports as a worker has them, over real loopback TCP sockets read by a child process.

Not part of the unit run. From the repo root:

    python tests/load/fanout_cpu.py --viewers 5000 --broadcasts 100

This process holds `--viewers` /ws connections in one room (a `Hub` with a chat log, so each broadcast is
checked for a chat message id as in the server) and delivers `--broadcasts` chat messages to it, one
every `--interval-ms`; `--readers` child processes read the sockets (as ws_load.py's viewers do, each
round of reads followed by a `--read-interval-ms` sleep: the kernel's cost of a send depends on whether its
reader sleeps in its selector, to be woken) and count the bytes. It prints this
process's user and system CPU time per delivered frame (os.times, so other load on the machine hardly
changes it; the system part is mostly the kernel's TCP send and, on loopback, the receiving side's work
too), over `--repeat` runs. `--profile` prints the top of a cProfile of one run instead.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import selectors
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import gevent  # noqa: E402
from gevent import socket as gsocket  # noqa: E402

from bazaar.entry.ws.connection import Connection  # noqa: E402
from bazaar.entry.ws.frames import RoomFrame  # noqa: E402
from bazaar.entry.ws.json_dialect import JsonDialect  # noqa: E402
from bazaar.entry.ws.transport import FlushScheduler, SocketTransport  # noqa: E402
from bazaar.infra.broker import MemoryBroker  # noqa: E402
from bazaar.live.hub import Hub  # noqa: E402
from config import Settings  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ws_load import add_read_interval_option  # noqa: E402  (the viewers' option, one default)

ROOM = "show-1"


class NoChat:
    """A chat log with no history: the hub then notes each broadcast's chat message id, as in the server."""

    limit = 100

    def newest(self, room: str) -> None:
        return None

    def after(self, room: str, message_id: str | None) -> list[str]:
        return []


def reader(port: int, count: int, expected_bytes: int, read_interval_s: float, pipe) -> None:
    """Connect `count` sockets, then read them all until `expected_bytes` arrived (each socket's share of
    `expected_bytes`), sleeping `read_interval_s` after each round of reads; report the total."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    selector = selectors.DefaultSelector()
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    pipe.send("connected")
    received = 0
    while received < expected_bytes:
        ready = selector.select(timeout=5.0)
        for key, _ in ready:
            try:
                chunk = key.fileobj.recv(262144)
            except BlockingIOError:
                continue
            if not chunk:
                selector.unregister(key.fileobj)
            received += len(chunk)
        if read_interval_s and ready:
            time.sleep(read_interval_s)
    pipe.send(received)
    pipe.recv()


def run(args, settings: Settings) -> tuple[float, float, float]:
    """(user, system, wall) seconds per delivered frame, in µs."""
    texts = [
        json.dumps(
            {
                "event": "new-message",
                "data": {"id": f"{n:032x}", "sessionId": "s", "message": f"L{n}:0", "user": {"id": "u"}},
            },
            separators=(",", ":"),
        )
        for n in range(args.broadcasts)
    ]
    per_viewer = sum(len(RoomFrame(text).ws) for text in texts)
    listener = gsocket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    pipes, readers = [], []
    for count in (
        args.viewers // args.readers + (n < args.viewers % args.readers) for n in range(args.readers)
    ):
        parent_end, child_end = mp.Pipe()
        child = mp.Process(
            target=reader,
            args=(
                listener.getsockname()[1],
                count,
                count * per_viewer,
                args.read_interval_ms / 1000,
                child_end,
            ),
            daemon=True,
        )
        child.start()
        pipes.append(parent_end)
        readers.append(child)
    broker = MemoryBroker()
    hub = Hub(broker, encode=RoomFrame, chat=NoChat())
    broker.start(hub.deliver)
    scheduler = FlushScheduler(settings)
    dialect = JsonDialect()
    connections = []
    for _ in range(args.viewers):
        sock, _ = listener.accept()
        connection = Connection(SocketTransport(sock, scheduler, settings), dialect, None, None)
        hub.join(ROOM, connection)
        connections.append(connection)
    for pipe in pipes:
        pipe.recv()  # "connected"
    gevent.sleep(0.2)
    before, wall = os.times(), gevent.get_hub().loop.now()
    for text in texts:
        broker.publish(ROOM, text)
        gevent.sleep(args.interval_ms / 1000)
    received = 0
    for pipe in pipes:  # writer greenlets finish meanwhile what the sockets did not take at once
        gsocket.wait_read(pipe.fileno())
        received += pipe.recv()
    after, wall = os.times(), gevent.get_hub().loop.now() - wall
    for pipe, child in zip(pipes, readers):
        pipe.send("done")
        child.join()
    for connection in connections:
        connection.transport.abort()
        connection.transport.finish()
    listener.close()
    assert received == per_viewer * args.viewers, f"received {received} of {per_viewer * args.viewers} bytes"
    frames = args.viewers * args.broadcasts
    return (
        (after.user - before.user) / frames * 1e6,
        (after.system - before.system) / frames * 1e6,
        wall / frames * 1e6,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", type=int, default=5000)
    parser.add_argument("--broadcasts", type=int, default=100)
    parser.add_argument("--interval-ms", type=float, default=100, help="between broadcasts")
    parser.add_argument("--readers", type=int, default=4, help="processes reading the viewers' sockets")
    add_read_interval_option(parser)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one run and print its top")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    settings = Settings()
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(run, args, settings)
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)
        return
    load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    print(
        f"{args.viewers} viewers, {args.broadcasts} broadcasts every {args.interval_ms:g} ms, "
        f"readers sleeping {args.read_interval_ms:g} ms between rounds of reads ({load})"
    )
    for _ in range(args.repeat):
        user, system, _wall = run(args, settings)
        print(
            f"server CPU per delivered frame {user + system:.2f} µs (user {user:.2f}, system {system:.2f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
