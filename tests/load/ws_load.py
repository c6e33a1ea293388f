"""WebSocket load test: N viewers in one room over 2 workers, M chat messages at R per second.

Not part of the unit run (setup.cfg excludes tests/load). From the repo root, with
PostgreSQL and Redis running:

    python tests/load/ws_load.py --viewers 2000 --rate 20 --duration 30
    python tests/load/ws_load.py --viewers 4000 --rate 50 --duration 30

By default it starts its own server (`bazaar serve --workers 2` on a fresh
PostgreSQL database and a Redis db of its own, chat rate limit lifted for the
one sender), registers a creator and a sender, starts a show, and connects the
viewers from several processes (raw non-blocking sockets, no per-frame JSON
parsing). Then one signed-in sender posts M = rate × duration messages over the
WebSocket (`send-message`), each carrying its send time; every viewer counts each
message once and records its latency. It prints expected vs delivered (and any
duplicates), p50/p95/p99/max latency, and the server's total RSS (master + workers)
with everyone connected and at its peak. `--url ws://host:port/ws --server-pid PID`
targets a server you started yourself (RSS of PID and its children).

`--dialect socketio` connects the viewers over the Socket.IO dialect instead (/socket.io/, Engine.IO v4
over WebSocket, answering the server's Engine.IO pings as socket.io-client does); `--dialect both` puts
half of the viewer processes on each dialect in the same room and reports each dialect's deliveries and
latencies separately (the sender always posts over /ws):

    python tests/load/ws_load.py --viewers 2000 --rate 20 --duration 30 --dialect both
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import resource
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import requests  # noqa: E402
import websocket  # noqa: E402

from tests.conftest import AGORA_APP_CERTIFICATE, AGORA_APP_ID  # noqa: E402
from tests.support import databases  # noqa: E402
from tests.support.server import RunningServer  # noqa: E402
from tests.support.ws_client import raw_handshake, read_until  # noqa: E402

MESSAGE = re.compile(rb'"message":"L(\d+):(\d+)"')
ENGINEIO_PING = b"\x81\x012"  # the server's Engine.IO ping: a 1-byte text frame "2"
DIALECTS = ("ws", "socketio")
TAIL_BYTES = 256  # a match cut by a read boundary is completed by the next read
BUCKETS_PER_MS = 10  # latency histogram: 0.1 ms resolution …
MAX_MS = 60_000  # … up to a minute


# --- viewers (child processes) ---------------------------------------------------------------------


def _client_frame(text: str) -> bytes:
    """A masked text frame (the all-zero mask leaves the payload as it is, which is allowed)."""
    payload = text.encode()
    length = len(payload)
    header = (
        struct.pack("!BB", 0x81, 0x80 | length) if length < 126 else struct.pack("!BBH", 0x81, 0xFE, length)
    )
    return header + b"\0\0\0\0" + payload


def viewer_process(url: str, dialect: str, count: int, session_id: str, messages: int, pipe) -> None:
    """Connect and join `count` viewers, report readiness, then count messages until told to report."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    parts = urlsplit(url)
    if dialect == "socketio":
        path = "/socket.io/?EIO=4&transport=websocket"
        # CONNECT to the main namespace, then join-session with ack id 0
        join = _client_frame("40") + _client_frame("420" + json.dumps(["join-session", session_id]))
        joined = b"430["
    else:
        path = parts.path
        join = _client_frame(
            json.dumps({"event": "join-session", "data": {"sessionId": session_id}, "ref": "j"})
        )
        joined = b'"event":"ack"'
    pong = _client_frame("3")
    sockets, failed = [], 0
    for _ in range(count):
        try:
            sock = raw_handshake(parts.hostname, parts.port, path)
            sock.sendall(join)
            read_until(sock, joined)
            sock.setblocking(False)
            sockets.append(sock)
        except (OSError, ConnectionError):
            failed += 1
    pipe.send(("ready", len(sockets), failed))

    seen_bits = [bytearray(messages) for _ in sockets]
    tails = [b""] * len(sockets)
    ping_tails = [b""] * len(sockets)  # a ping frame cut by a read boundary is found in the next read
    delivered = duplicates = 0
    histogram = [0] * (MAX_MS * BUCKETS_PER_MS + 1)
    selector = selectors.DefaultSelector()
    for index, sock in enumerate(sockets):
        selector.register(sock, selectors.EVENT_READ, index)
    selector.register(pipe, selectors.EVENT_READ, None)
    closed = 0
    while True:
        for key, _ in selector.select(timeout=1.0):
            index = key.data
            if index is None:
                pipe.recv()  # "report"
                pipe.send(("report", delivered, duplicates, closed, histogram))
                return
            try:
                chunk = key.fileobj.recv(262144)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                selector.unregister(key.fileobj)
                closed += 1
                continue
            if dialect == "socketio":
                with_tail = ping_tails[index] + chunk
                for _ in range(with_tail.count(ENGINEIO_PING)):
                    try:
                        key.fileobj.send(pong)
                    except OSError:
                        pass
                ping_tails[index] = with_tail[-(len(ENGINEIO_PING) - 1) :]
            data = tails[index] + chunk
            now_ns = time.time_ns()
            last_end = 0
            bits = seen_bits[index]
            for match in MESSAGE.finditer(data):
                seq = int(match.group(1))
                last_end = match.end()
                if seq >= messages:
                    continue
                if bits[seq]:
                    duplicates += 1
                    continue
                bits[seq] = 1
                delivered += 1
                latency_ms = (now_ns - int(match.group(2))) / 1e6
                histogram[min(int(latency_ms * BUCKETS_PER_MS), len(histogram) - 1)] += 1
            tails[index] = data[max(last_end, len(data) - TAIL_BYTES) :]


# --- the sender --------------------------------------------------------------------------------------


class Sender:
    """One signed-in member posting `send-message` frames at a steady rate, counting acks."""

    def __init__(self, url: str, token: str, session_id: str):
        self.session_id = session_id
        self.ws = websocket.create_connection(
            f"{url}?token={token}", suppress_origin=True, enable_multithread=True
        )
        self.ws.send(json.dumps({"event": "join-session", "data": {"sessionId": session_id}, "ref": "join"}))
        self.acks = self.errors = 0
        self.error_samples: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                text = self.ws.recv()
                if '"event":"ack","ref":"m' in text:
                    self.acks += 1
                elif '"event":"error"' in text and '"ref":"m' in text:
                    self.errors += 1
                    if len(self.error_samples) < 3:
                        self.error_samples.append(text[:200])
        except Exception:
            pass

    def run(self, messages: int, rate: float) -> float:
        started = time.monotonic()
        for seq in range(messages):
            due = started + seq / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            text = f"L{seq}:{time.time_ns()}"
            self.ws.send(
                json.dumps(
                    {
                        "event": "send-message",
                        "ref": f"m{seq}",
                        "data": {"sessionId": self.session_id, "message": text},
                    }
                )
            )
        return time.monotonic() - started


# --- server and measurements -------------------------------------------------------------------------


def rss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


def process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [pid, *map(int, children.read_text().split())]
    except OSError:
        return [pid]


def percentile(histogram: list[int], total: int, fraction: float) -> float:
    target = fraction * total
    running = 0
    for bucket, count in enumerate(histogram):
        running += count
        if running >= target:
            return (bucket + 1) / BUCKETS_PER_MS
    return MAX_MS


def start_server(workers: int) -> tuple[RunningServer, str]:
    database_url = databases.create_pg_database("bazaar_wsload")
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": databases.REDIS_URL,
        "JWT_SECRET": "ws-load-secret-0123456789abcdef0123",
        "BCRYPT_ROUNDS": "4",
        "CHAT_RATE_COUNT": "1000000",
        # every viewer comes from 127.0.0.1, as if behind one proxy
        "MAX_CONNECTIONS_PER_ADDRESS": "1000000",
        "CORS_ORIGIN": "http://localhost:3001",
        "AGORA_APP_ID": AGORA_APP_ID,
        "AGORA_APP_CERTIFICATE": AGORA_APP_CERTIFICATE,
    }
    subprocess.run(
        [sys.executable, "-m", "bazaar", "migrate"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    databases.flush_redis()
    return RunningServer(env, workers=workers, name="ws-load").start(), database_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=20, help="messages per second")
    parser.add_argument("--duration", type=float, default=30, help="seconds of sending (M = rate × duration)")
    parser.add_argument("--procs", type=int, default=4, help="viewer processes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--drain", type=float, default=10, help="seconds to wait for stragglers after sending"
    )
    parser.add_argument(
        "--dialect",
        choices=(*DIALECTS, "both"),
        default="ws",
        help="the viewers' wire dialect; both: half of the viewer processes each, in the same room",
    )
    parser.add_argument("--url", help="ws://host:port/ws of a running server (default: start one)")
    parser.add_argument("--server-pid", type=int, help="with --url: the gunicorn master, for RSS")
    args = parser.parse_args()
    signal.signal(
        signal.SIGTERM, lambda *_: sys.exit(1)
    )  # stop the server and drop its database on the way out
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)

    server = database_url = None
    if args.url:
        url, pids = args.url, (lambda: process_tree(args.server_pid) if args.server_pid else [])
    else:
        server, database_url = start_server(args.workers)
        url, pids = server.ws_url, server.pids
    base = "http://" + urlsplit(url).netloc
    try:
        run(args, url, base, pids)
    finally:
        if server is not None:
            server.stop(60)
            databases.drop_pg_database(database_url)


def _register(base: str, role: str) -> dict:
    name = f"{role}{uuid.uuid4().hex[:10]}"
    resp = requests.post(
        base + "/api/auth/register",
        json={"username": name, "email": f"{name}@load.test", "password": "load-test-password", "role": role},
    )
    resp.raise_for_status()
    return resp.json()["data"]


def run(args, url: str, base: str, pids) -> None:
    creator = _register(base, "creator")
    sender_account = _register(base, "viewer")
    auth = {"Authorization": "Bearer " + creator["accessToken"]}
    show = requests.post(base + "/api/sessions", json={"title": "Load test show"}, headers=auth).json()[
        "data"
    ]
    requests.post(base + f"/api/sessions/{show['id']}/start-stream", headers=auth).raise_for_status()
    messages = int(args.rate * args.duration)

    print(f"connecting {args.viewers} viewers from {args.procs} processes…", flush=True)
    started = time.monotonic()
    share = [
        args.viewers // args.procs + (1 if n < args.viewers % args.procs else 0) for n in range(args.procs)
    ]
    dialects = [(DIALECTS[n % 2] if args.dialect == "both" else args.dialect) for n in range(args.procs)]
    pipes, procs = [], []
    for count, dialect in zip(share, dialects):
        parent_end, child_end = mp.Pipe()
        proc = mp.Process(
            target=viewer_process,
            args=(url, dialect, count, show["id"], messages, child_end),
            daemon=True,
        )
        proc.start()
        pipes.append(parent_end)
        procs.append(proc)
    ready = [pipe.recv() for pipe in pipes]
    connected = sum(r[1] for r in ready)
    failed = sum(r[2] for r in ready)
    print(f"{connected} viewers joined in {time.monotonic() - started:.1f} s ({failed} failed)", flush=True)
    time.sleep(2)  # let viewer-count updates settle
    rss_connected = rss_mb(pids())

    sender = Sender(url, sender_account["accessToken"], show["id"])
    time.sleep(0.5)
    peak = [rss_connected]
    sampling = threading.Event()

    def sample_rss():
        while not sampling.wait(1.0):
            peak[0] = max(peak[0], rss_mb(pids()))

    threading.Thread(target=sample_rss, daemon=True).start()
    print(f"sending {messages} messages at {args.rate:g}/s…", flush=True)
    elapsed = sender.run(messages, args.rate)
    time.sleep(args.drain)
    sampling.set()

    for pipe in pipes:
        pipe.send("report")
    reports = [pipe.recv() for pipe in pipes]
    for proc in procs:
        proc.join(5)

    print()
    print(
        f"messages           {messages} sent in {elapsed:.1f} s ({messages / elapsed:.1f}/s); "
        f"{sender.acks} acked, {sender.errors} refused {sender.error_samples}"
    )
    for dialect in DIALECTS:
        mine = [(r, joined) for r, joined, d in zip(reports, ready, dialects) if d == dialect]
        if mine:
            report_deliveries(dialect, messages, [r for r, _ in mine], [j for _, j in mine])
    print(
        f"server RSS (MB)    {rss_connected:.0f} with everyone connected, {peak[0]:.0f} at peak "
        f"({len(pids())} processes)"
    )


def report_deliveries(dialect: str, messages: int, reports: list, ready: list) -> None:
    connected = sum(r[1] for r in ready)
    delivered = sum(r[1] for r in reports)
    histogram = [sum(bucket) for bucket in zip(*(r[4] for r in reports))]
    expected = messages * connected
    print(f"[{dialect}]")
    print(
        f"  viewers          {connected} connected ({sum(r[2] for r in ready)} failed, "
        f"{sum(r[3] for r in reports)} dropped during the run)"
    )
    print(
        f"  deliveries       expected {expected}, delivered {delivered} "
        f"({delivered / max(expected, 1):.4%}), duplicates {sum(r[2] for r in reports)}"
    )
    if delivered:
        print(
            "  latency (ms)     p50 {:.1f}  p95 {:.1f}  p99 {:.1f}  max {:.1f}".format(
                *(percentile(histogram, delivered, q) for q in (0.50, 0.95, 0.99, 1.0))
            )
        )


if __name__ == "__main__":
    main()
