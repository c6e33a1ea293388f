"""A slow-header flood: many sockets from one address, each sending only part of a request head, and a
prober from another address timing `/health` meanwhile.

`HalfOpenFlood(port, sockets=20_000, processes=4, spread_s=5).start()` runs the sockets from child
processes (`python -m tests.support.half_open_flood`; one process may hold fewer descriptors than the flood
needs), at nice 10: a real flood comes from other hosts and takes no CPU from the server. Each child opens
its share evenly over `spread_s`, sends `HALF_A_REQUEST` on each as it connects and then only reads, until
the server has closed every socket or `deadline_s` has passed; `results()` sums what they saw.
`HealthProbe(port, source="127.0.0.2")` GETs /health on a new connection again and again in a thread and
keeps each answer's status and seconds (connect included: a client whose SYN the kernel drops waits a
second for the retry, and that counts). `run(flood, probe, worker_pids)` runs both and returns the flood's
result and the workers' peak descriptors and RSS.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.server import REPO

HALF_A_REQUEST = b"GET /health HTTP/1.1\r\nHo"
_IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux
HEALTH_REQUEST = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@dataclass
class FloodResult:
    """What the flood's sockets saw, summed over the child processes. Seconds count from the flood's start."""

    sockets: int = 0
    connected: int = 0  # the TCP handshake completed and the half request was sent
    connect_failed: int = 0  # refused or timed out by the kernel before a handshake
    refused: int = 0  # answered 503 too_many_connections (then closed)
    closed_silently: int = 0  # closed (FIN or reset) without a byte: the header timeout
    answered_otherwise: int = 0  # any other bytes before the close
    still_open: int = 0  # not closed by the server by the deadline
    last_connected_s: float = 0.0
    all_closed_s: float = 0.0  # when the last socket was closed by the server

    def add(self, other: dict) -> None:
        for name, value in other.items():
            if name.endswith("_s"):
                setattr(self, name, max(getattr(self, name), value))
            else:
                setattr(self, name, getattr(self, name) + value)


class HalfOpenFlood:
    def __init__(
        self,
        port: int,
        *,
        sockets: int = 20_000,
        processes: int = 4,
        spread_s: float = 5.0,
        deadline_s: float = 60.0,
        source: str = "127.0.0.1",
    ):
        self.port, self.sockets, self.processes = port, sockets, processes
        self.spread_s, self.deadline_s, self.source = spread_s, deadline_s, source
        self.children: list[subprocess.Popen] = []

    def start(self) -> HalfOpenFlood:
        started = time.time()
        shares = [
            self.sockets // self.processes + (i < self.sockets % self.processes)
            for i in range(self.processes)
        ]
        self.children = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.half_open_flood",
                    f"--port={self.port}",
                    f"--sockets={share}",
                    f"--spread-s={self.spread_s}",
                    f"--deadline-s={self.deadline_s}",
                    f"--source={self.source}",
                    f"--started={started}",
                ],
                cwd=REPO,
                stdout=subprocess.PIPE,
            )
            for share in shares
        ]
        return self

    def running(self) -> bool:
        return any(child.poll() is None for child in self.children)

    def results(self) -> FloodResult:
        """Waits for every child (each stops by its deadline) and sums what they saw."""
        total = FloodResult()
        for child in self.children:
            output, _ = child.communicate(timeout=self.deadline_s + 30)
            if child.returncode != 0:
                raise RuntimeError(f"a flood process exited with {child.returncode}")
            total.add(json.loads(output))
        return total

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
                child.wait()


@dataclass
class HealthProbe:
    """GETs /health from `source` on a new connection every `interval_s` until stopped."""

    port: int
    source: str = "127.0.0.2"
    interval_s: float = 0.1
    timeout_s: float = 10.0
    answers: list[tuple[int, float]] = field(default_factory=list)  # (status or 0 on failure, seconds)

    def __post_init__(self):
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> HealthProbe:
        self._thread.start()
        return self

    def stop(self) -> HealthProbe:
        self._stopping.set()
        self._thread.join()
        return self

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.answers.append(self.get())
            self._stopping.wait(self.interval_s)

    def get(self) -> tuple[int, float]:
        started = time.monotonic()
        try:
            with socket.create_connection(
                ("127.0.0.1", self.port), timeout=self.timeout_s, source_address=(self.source, 0)
            ) as sock:
                sock.sendall(HEALTH_REQUEST)
                response = b""
                while chunk := sock.recv(65536):
                    response += chunk
        except OSError:
            return 0, time.monotonic() - started
        status = int(response[9:12]) if response.startswith(b"HTTP/1.1 ") else 0
        return status, time.monotonic() - started

    def latencies(self) -> list[float]:
        return sorted(seconds for _, seconds in self.answers)


@dataclass
class WorkerPeaks:
    """The most descriptors and resident memory each worker process had while the flood ran."""

    open_files: dict[int, int] = field(default_factory=dict)
    rss_kb: dict[int, int] = field(default_factory=dict)

    def sample(self, pids: list[int]) -> None:
        for pid in pids:
            try:
                files = open_files(pid)
                rss_kb = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))
            except OSError:  # the worker is gone: what it had is what was sampled
                continue
            self.open_files[pid] = max(self.open_files.get(pid, 0), files)
            self.rss_kb[pid] = max(self.rss_kb.get(pid, 0), rss_kb)


def open_files(pid: int) -> int:
    """How many descriptors the process has open."""
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def open_files_limit(pid: int) -> int:
    """The process's soft RLIMIT_NOFILE."""
    return int(re.search(r"Max open files\s+(\d+)", Path(f"/proc/{pid}/limits").read_text()).group(1))


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full (every socket on the
    machine): each is a SYN dropped, which its client retries a second later."""
    names, values = Path("/proc/net/netstat").read_text().splitlines()[:2]
    return int(values.split()[names.split().index("ListenOverflows")])


def run(flood: HalfOpenFlood, probe: HealthProbe, workers: list[int]) -> tuple[FloodResult, WorkerPeaks]:
    """Starts the prober, then the flood; samples the workers until every flood process has finished."""
    peaks = WorkerPeaks()
    probe.start()
    flood.start()
    try:
        while flood.running():
            peaks.sample(workers)
            time.sleep(0.05)  # the sampling interval
        return flood.results(), peaks
    finally:
        flood.stop()
        probe.stop()


# --- one flood process ---------------------------------------------------------------------------------


def _hold(port: int, sockets: int, spread_s: float, deadline_s: float, source: str, started: float) -> dict:
    """Opens `sockets` connections evenly over `spread_s`, sends each half a request head, and reads until
    the server closes them all or `deadline_s` (from `started`, wall clock) passes."""
    result = {name: 0 for name in FloodResult.__dataclass_fields__}
    result["sockets"] = sockets
    selector = selectors.DefaultSelector()
    received: dict[socket.socket, bytes] = {}
    opened = 0
    open_now = 0

    def since_start() -> float:
        return time.time() - started

    def finish(sock: socket.socket, outcome: str) -> None:
        nonlocal open_now
        selector.unregister(sock)
        received.pop(sock, None)
        sock.close()
        open_now -= 1
        result[outcome] += 1

    while opened < sockets or open_now:
        elapsed = since_start()
        if elapsed > deadline_s:
            break
        due = sockets if spread_s <= 0 else min(sockets, int(sockets * elapsed / spread_s) + 1)
        while opened < due:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            # the port is chosen at connect, per destination: 20,000 bound ports would nearly use up the range
            sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
            code = sock.connect_ex(("127.0.0.1", port))
            if code not in (0, errno.EINPROGRESS):
                sock.close()
                result["connect_failed"] += 1
            else:
                selector.register(sock, selectors.EVENT_WRITE)
                received[sock] = b""
                open_now += 1
            opened += 1
        for key, events in selector.select(timeout=0.01 if opened < sockets else 0.1):
            sock = key.fileobj
            if events & selectors.EVENT_WRITE and not key.data:  # the handshake finished, or failed
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    finish(sock, "connect_failed")
                    continue
                try:
                    sock.send(HALF_A_REQUEST)
                except OSError:
                    finish(sock, "closed_silently")
                    continue
                result["connected"] += 1
                result["last_connected_s"] = since_start()
                selector.modify(sock, selectors.EVENT_READ, data="connected")
                continue
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            except BlockingIOError:
                continue
            if chunk:
                received[sock] += chunk
                continue
            answer = received[sock]
            outcome = (
                "refused"
                if answer.startswith(b"HTTP/1.1 503 ")
                else "closed_silently"
                if not answer
                else "answered_otherwise"
            )
            finish(sock, outcome)
            result["all_closed_s"] = since_start()
    result["still_open"] = open_now
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sockets", type=int, required=True)
    parser.add_argument("--spread-s", type=float, default=5.0)
    parser.add_argument("--deadline-s", type=float, default=60.0)
    parser.add_argument("--source", default="127.0.0.1")
    parser.add_argument("--started", type=float, default=None, help="the flood's start (time.time())")
    args = parser.parse_args()
    started = args.started if args.started is not None else time.time()
    # A flood comes from other hosts: on the server's own few cores, it yields to the server (and the prober).
    os.nice(10)
    print(json.dumps(_hold(args.port, args.sockets, args.spread_s, args.deadline_s, args.source, started)))


if __name__ == "__main__":
    main()
