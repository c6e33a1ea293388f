"""WebSocket load test: N viewers over 2 workers in one room or many, M chat messages at R per second.

Not part of the unit run (setup.cfg excludes tests/load). From the repo root, with
PostgreSQL and Redis running:

    python tests/load/ws_load.py --viewers 2000 --rate 20 --duration 30
    python tests/load/ws_load.py --viewers 4000 --slope-from 500 --rate 10 --duration 30
    python tests/load/ws_load.py --viewers 10000 --rooms 100 --rate 10 --duration 30 --procs 6

By default it starts its own server (`bazaar serve --workers 2` on a fresh
PostgreSQL database and a Redis db of its own, chat rate limit lifted for the
one sender), registers a creator and a sender, starts `--rooms` shows, and connects the
viewers from several processes (raw non-blocking sockets, no per-frame JSON
parsing; viewer n joins show n % rooms; each answers the server's pings, as browsers do).
Then one signed-in sender, a member of every
show, posts M = rate × duration messages over the WebSocket (`send-message`, message n to
show n % rooms), each carrying its send time; every viewer counts each message of its show
once and records its latency. It prints expected vs delivered (and any duplicates),
p50/p95/p99/max latency, and the server's memory: PSS (and RSS) summed over the master
and its workers (/proc/<pid>/smaps_rollup) idle, with everyone connected and at its
peak. PSS divides each shared page between the processes sharing it, so the sum is what
the server costs the machine. `--slope-from K` connects K viewers first, measures, then
the rest: the difference over the viewers added is the memory one connection costs.
`--url ws://host:port/ws --server-pid PID` targets a server you started yourself.

It also prints the server's CPU time (user and system, /proc/<pid>/stat of the master and workers) over
the sending and the drain, per delivered frame: unlike latency, that hardly depends on what else the
machine runs. The load generator runs on the same machine: it prints its viewer processes' CPU use and
how far the sender fell behind its schedule, and says so when it, not the server, was the
bottleneck (then raise --procs). Each figure is printed with the load average.

The viewers share the server's cores, so how they read is part of what is measured. A viewer process that
waits in its selector is woken by every frame that arrives (~25,000 wake-ups a second at 10,000 viewers
and 10 messages/s): each wake-up is a context switch, partly paid inside the server's send, and it
preempts the worker that is writing the next 5,000 sockets. By default a viewer process therefore reads
whatever is ready, then sleeps `--read-interval-ms` (5) before it asks again, as a browser on its own
machine costs the server nothing of the kind; a frame's latency includes up to that much of waiting to be
read. `--read-interval-ms 0` reads as soon as anything arrives. The script prints the viewers' wake-ups per
second and chat messages per read. A viewer process records each read (viewer, time read, bytes) and finds
the messages in them only after the sending, so while the server works it costs a system call and an
append per read; the latencies are the same (time read less time sent).

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
import select
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
WS_PING = (
    b"\x89\x00"  # the server's WebSocket ping on /ws: no payload (a viewer that never answers is dropped)
)
DIALECTS = ("ws", "socketio")
TAIL_BYTES = 256  # a match cut by a read boundary is completed by the next read
READ_RECORD = struct.Struct("=IqI")  # a viewer process's recorded read: viewer, time read (ns), length
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


def _connect(parts, path: str, joins: list[bytes], joined: bytes, first: int, count: int):
    """Connect and join viewers first … first+count-1 (viewer n joins room n % rooms); sockets and rooms."""
    sockets, rooms, failed = [], [], 0
    for n in range(first, first + count):
        room = n % len(joins)
        try:
            sock = raw_handshake(parts.hostname, parts.port, path)
            sock.sendall(joins[room])
            read_until(sock, joined)
            sock.setblocking(False)
            sockets.append(sock)
            rooms.append(room)
        except (OSError, ConnectionError):
            failed += 1
    return sockets, rooms, failed


def viewer_process(
    url: str,
    dialect: str,
    batches: list[tuple[int, int]],
    session_ids: list[str],
    messages: int,
    read_interval_s: float,
    pipe,
) -> None:
    """Connect and join viewers batch by batch (reporting after each and waiting for "more" before the
    next), then record every read until told to report, and count the messages read. Message seq goes to
    room seq % rooms. After reading whatever was ready, the process sleeps `read_interval_s` before it asks
    again."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    parts = urlsplit(url)
    if dialect == "socketio":
        path = "/socket.io/?EIO=4&transport=websocket"
        # CONNECT to the main namespace, then join-session with ack id 0
        joins = [
            _client_frame("40") + _client_frame("420" + json.dumps(["join-session", sid]))
            for sid in session_ids
        ]
        joined = b"430["
        ping, pong = ENGINEIO_PING, _client_frame("3")
    else:
        path = parts.path
        joins = [
            _client_frame(json.dumps({"event": "join-session", "data": {"sessionId": sid}, "ref": "j"}))
            for sid in session_ids
        ]
        joined = b'"event":"ack"'
        ping, pong = WS_PING, b"\x8a\x80\0\0\0\0"  # a masked empty pong
    sockets, rooms = [], []
    for number, (first, count) in enumerate(batches):
        if number:
            pipe.recv()  # "more"
        more_sockets, more_rooms, failed = _connect(parts, path, joins, joined, first, count)
        sockets += more_sockets
        rooms += more_rooms
        pipe.send(("ready", len(more_sockets), failed))

    # A read is recorded as it came (viewer, time read, bytes) and parsed only after the sending: a viewer
    # process costs the shared cores a system call and an append per read while the server works, as a
    # browser on its own machine would cost them nothing at all.
    received = bytearray()
    ping_tails = [b""] * len(sockets)  # a ping frame cut by a read boundary is found in the next read
    fd_index = {sock.fileno(): index for index, sock in enumerate(sockets)}
    poller = select.epoll(len(sockets) + 1)
    for sock in sockets:
        poller.register(sock.fileno(), select.EPOLLIN)
    poller.register(pipe.fileno(), select.EPOLLIN)
    closed = wakeups = reads = 0
    cpu_started = time.process_time()
    while True:
        ready = poller.poll(1.0)
        wakeups += 1
        for fd, _ in ready:
            index = fd_index.get(fd)
            if index is None:
                command = pipe.recv()
                if command == "start":  # the sending starts: our CPU time and counts from here
                    cpu_started = time.process_time()
                    received.clear()
                    wakeups = reads = 0
                    continue
                cpu_s = time.process_time() - cpu_started
                delivered, duplicates, histogram, expected = count_messages(
                    received, rooms, len(session_ids), messages
                )
                report = (delivered, duplicates, closed, histogram, expected, cpu_s, wakeups, reads)
                pipe.send(("report", *report))
                return
            sock = sockets[index]
            try:
                chunk = sock.recv(262144)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            reads += 1
            if not chunk:
                poller.unregister(fd)
                closed += 1
                continue
            with_tail = ping_tails[index] + chunk
            for _ in range(with_tail.count(ping)):
                try:
                    sock.send(pong)
                except OSError:
                    pass
            ping_tails[index] = with_tail[1 - len(ping) :]
            received += READ_RECORD.pack(index, time.time_ns(), len(chunk))
            received += chunk
        if read_interval_s and ready:
            time.sleep(read_interval_s)


def count_messages(received: bytearray, rooms: list[int], room_count: int, messages: int):
    """(delivered, duplicates, latency histogram, expected) from a viewer process's recorded reads: each
    message of its viewer's room counted once, its latency the time it was read less the time it was
    sent."""
    expected = sum(len(range(room, messages, room_count)) for room in rooms)
    seen_bits = [bytearray(messages) for _ in rooms]
    tails = [b""] * len(rooms)
    delivered = duplicates = 0
    histogram = [0] * (MAX_MS * BUCKETS_PER_MS + 1)
    view = memoryview(received)
    offset = 0
    while offset < len(received):
        index, read_ns, length = READ_RECORD.unpack_from(received, offset)
        offset += READ_RECORD.size
        data = tails[index] + view[offset : offset + length].tobytes()
        offset += length
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
            latency_ms = (read_ns - int(match.group(2))) / 1e6
            histogram[min(int(latency_ms * BUCKETS_PER_MS), len(histogram) - 1)] += 1
        tails[index] = data[max(last_end, len(data) - TAIL_BYTES) :]
    return delivered, duplicates, histogram, expected


# --- the sender --------------------------------------------------------------------------------------


class Sender:
    """One signed-in member of every room posting `send-message` frames at a steady rate (message seq to
    room seq % rooms), counting acks and how far it fell behind its schedule."""

    def __init__(self, url: str, token: str, session_ids: list[str]):
        self.session_ids = session_ids
        self.ws = websocket.create_connection(
            f"{url}?token={token}", suppress_origin=True, enable_multithread=True
        )
        self.acks = self.errors = 0
        self.error_samples: list[str] = []
        self.max_lag_s = 0.0
        self._joined = threading.Semaphore(0)
        threading.Thread(target=self._read, daemon=True).start()
        for n, sid in enumerate(session_ids):
            self.ws.send(json.dumps({"event": "join-session", "data": {"sessionId": sid}, "ref": f"join{n}"}))
        for _ in session_ids:
            self._joined.acquire(timeout=30)

    def _read(self) -> None:
        try:
            while True:
                text = self.ws.recv()
                if '"event":"ack","ref":"m' in text:
                    self.acks += 1
                elif '"event":"ack","ref":"join' in text:
                    self._joined.release()
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
            else:
                self.max_lag_s = max(self.max_lag_s, -pause)
            text = f"L{seq}:{time.time_ns()}"
            sid = self.session_ids[seq % len(self.session_ids)]
            self.ws.send(
                json.dumps(
                    {"event": "send-message", "ref": f"m{seq}", "data": {"sessionId": sid, "message": text}}
                )
            )
        return time.monotonic() - started


# --- server and measurements -------------------------------------------------------------------------


def _proc_kb(pid: int, path: str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(PSS, RSS) summed over `pids`, in MB. PSS splits each shared page between the processes sharing
    it, so the sum is what the server costs the machine; RSS counts a shared page once per process."""
    pss = sum(_proc_kb(pid, "smaps_rollup", "Pss:") for pid in pids)
    rss = sum(_proc_kb(pid, "status", "VmRSS:") for pid in pids)
    return pss / 1024, rss / 1024


def cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """(user, system) CPU seconds used so far, summed over `pids` (/proc/<pid>/stat utime and stime)."""
    ticks = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])  # utime, the stat file's 14th field (the 12th after the command name)
        system += int(fields[12])
    return user / ticks, system / ticks


def add_read_interval_option(parser: argparse.ArgumentParser) -> None:
    """`--read-interval-ms`, the same for every load script whose readers stand in for viewers."""
    parser.add_argument(
        "--read-interval-ms",
        type=float,
        default=5,
        help="a reading process sleeps this long after each round of reads (0: it waits in its selector, "
        "woken by every arrival, which a browser on its own machine costs the server nothing)",
    )


def conditions() -> str:
    """The machine's state with a figure: it is shared, and the load generator runs on it too."""
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


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
        # a viewer process answers pings only once all its viewers are connected, which takes minutes at
        # 10,000: the idle timeout would drop the first ones meanwhile
        "WS_IDLE_TIMEOUT_S": "900",
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
    parser.add_argument(
        "--slope-from",
        type=int,
        help="connect this many viewers first and measure, then the rest: prints the PSS per connection",
    )
    parser.add_argument(
        "--rooms", type=int, default=1, help="shows the viewers are spread over (round robin)"
    )
    parser.add_argument("--rate", type=float, default=20, help="messages per second, over all rooms")
    parser.add_argument("--duration", type=float, default=30, help="seconds of sending (M = rate × duration)")
    parser.add_argument("--procs", type=int, default=4, help="viewer processes")
    add_read_interval_option(parser)
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
    parser.add_argument("--server-pid", type=int, help="with --url: the gunicorn master, for its memory")
    args = parser.parse_args()
    signal.signal(
        signal.SIGTERM, lambda *_: sys.exit(1)
    )  # stop the server and drop its database on the way out
    # every viewer is a file descriptor here, and a server started here inherits the limit
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


def _start_shows(base: str, count: int) -> list[str]:
    creator = _register(base, "creator")
    auth = {"Authorization": "Bearer " + creator["accessToken"]}
    ids = []
    for n in range(count):
        resp = requests.post(base + "/api/sessions", json={"title": f"Load test show {n}"}, headers=auth)
        resp.raise_for_status()
        show_id = resp.json()["data"]["id"]
        requests.post(base + f"/api/sessions/{show_id}/start-stream", headers=auth).raise_for_status()
        ids.append(show_id)
    return ids


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


def _settled_memory(pids) -> tuple[float, float]:
    time.sleep(3)  # viewer-count updates and the joins' writes settle
    return memory_mb(pids())


def run(args, url: str, base: str, pids) -> None:
    session_ids = _start_shows(base, args.rooms)
    sender_account = _register(base, "viewer")
    messages = int(args.rate * args.duration)
    idle_pss, idle_rss = _settled_memory(pids)
    print(
        f"server idle        PSS {idle_pss:.1f} MB, RSS {idle_rss:.1f} MB "
        f"({len(pids())} processes; {conditions()})",
        flush=True,
    )

    # stages of viewers: [slope_from, the rest] or [all]; each process connects its share of each stage
    stages = [args.slope_from, args.viewers - args.slope_from] if args.slope_from else [args.viewers]
    shares = [_split(stage, args.procs) for stage in stages]
    first = 0
    batches: list[list[tuple[int, int]]] = [[] for _ in range(args.procs)]
    for share in shares:
        for proc_index, count in enumerate(share):
            batches[proc_index].append((first, count))
            first += count
    dialects = [(DIALECTS[n % 2] if args.dialect == "both" else args.dialect) for n in range(args.procs)]
    print(
        f"connecting {args.viewers} viewers to {args.rooms} room(s) from {args.procs} processes…", flush=True
    )
    pipes, procs = [], []
    started = time.monotonic()
    for proc_batches, dialect in zip(batches, dialects):
        parent_end, child_end = mp.Pipe()
        proc = mp.Process(
            target=viewer_process,
            args=(url, dialect, proc_batches, session_ids, messages, args.read_interval_ms / 1000, child_end),
            daemon=True,
        )
        proc.start()
        pipes.append(parent_end)
        procs.append(proc)
    ready = [[0, 0] for _ in pipes]
    points = []  # (viewers connected, PSS)
    for stage in range(len(stages)):
        if stage:
            for pipe in pipes:
                pipe.send("more")
        for tally, pipe in zip(ready, pipes):
            _, connected, failed = pipe.recv()
            tally[0] += connected
            tally[1] += failed
        connected = sum(t[0] for t in ready)
        print(
            f"{connected} viewers joined in {time.monotonic() - started:.1f} s "
            f"({sum(t[1] for t in ready)} failed)",
            flush=True,
        )
        pss, rss = _settled_memory(pids)
        points.append((connected, pss))
        print(
            f"server, {connected:>6} viewers: PSS {pss:.1f} MB, RSS {rss:.1f} MB; "
            f"{(pss - idle_pss) * 1024 / max(connected, 1):.1f} KB PSS per viewer over idle ({conditions()})",
            flush=True,
        )
        started = time.monotonic()
    if len(points) == 2:
        (n1, pss1), (n2, pss2) = points
        print(
            f"per-connection slope {n1} → {n2} viewers: {(pss2 - pss1) * 1024 / max(n2 - n1, 1):.1f} KB PSS",
            flush=True,
        )
    pss_connected = points[-1][1]
    if not messages:
        return

    sender = Sender(url, sender_account["accessToken"], session_ids)
    time.sleep(0.5)
    peak = [pss_connected]
    sampling = threading.Event()

    def sample_memory():
        while not sampling.wait(1.0):
            peak[0] = max(peak[0], memory_mb(pids())[0])

    threading.Thread(target=sample_memory, daemon=True).start()
    print(f"sending {messages} messages at {args.rate:g}/s over {args.rooms} room(s)…", flush=True)
    server_pids = pids()
    cpu_before = cpu_seconds(server_pids)
    for pipe in pipes:
        pipe.send("start")
    elapsed = sender.run(messages, args.rate)
    during = conditions()
    time.sleep(args.drain)
    cpu_after = cpu_seconds(server_pids)
    sampling.set()
    window_s = elapsed + args.drain

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
            report_deliveries(dialect, [r for r, _ in mine], [j for _, j in mine])
    print(f"server PSS (MB)    {pss_connected:.1f} with everyone connected, {peak[0]:.1f} at peak")
    report_server_cpu(cpu_before, cpu_after, sum(r[1] for r in reports), window_s)
    report_load_generator(
        reports, window_s, elapsed, messages / args.rate, sender.max_lag_s, during, args.read_interval_ms
    )


def report_load_generator(
    reports,
    window_s: float,
    elapsed: float,
    planned_s: float,
    lag_s: float,
    during: str,
    read_interval_ms: float,
):
    """Whether the figures above measure the server or this script: a viewer process busy for most of the
    window delays what it reads (its latencies include its own queue), and a sender behind its schedule
    sends fewer messages per second than asked. Also how often the viewer processes woke up and how many
    frames each read carried: each wake-up of a process asleep in its selector is a context switch the
    server's send pays part of, on the same cores."""
    busy = [r[6] / window_s for r in reports]
    wakeups, reads = sum(r[7] for r in reports), sum(r[8] for r in reports)
    print(
        f"load generator     viewer processes on CPU {min(busy):.0%}–{max(busy):.0%} of the time; "
        f"sender at most {lag_s * 1000:.0f} ms behind schedule ({during} at the end of sending)"
    )
    print(
        f"                   viewers read every {read_interval_ms:g} ms at most: {wakeups / window_s:,.0f} "
        f"wake-ups/s over all processes, {sum(r[1] for r in reports) / max(reads, 1):.2f} chat messages "
        "per read"
    )
    if max(busy) > 0.8 or elapsed > planned_s * 1.05 or lag_s > 0.25:
        print(
            "                   THE LOAD GENERATOR WAS A BOTTLENECK: a viewer process or the sender "
            "could not keep up (more --procs, or fewer viewers per core); latencies above are inflated by it"
        )


def report_server_cpu(before: tuple[float, float], after: tuple[float, float], delivered: int, window_s):
    """The server's CPU time per delivered frame, over the sending and the drain: unlike latency, it hardly
    depends on what else the machine runs (heartbeats and the sender's posts are in it too, a few %)."""
    user, system = (a - b for a, b in zip(after, before))
    per_frame = 1e6 / max(delivered, 1)
    print(
        f"server CPU         {user + system:.1f} s in {window_s:.1f} s "
        f"(user {user:.1f}, system {system:.1f}); "
        f"server CPU per delivered frame {(user + system) * per_frame:.2f} µs "
        f"(user {user * per_frame:.2f}, system {system * per_frame:.2f})"
    )


def report_deliveries(dialect: str, reports: list, ready: list) -> None:
    connected = sum(r[0] for r in ready)
    delivered = sum(r[1] for r in reports)
    expected = sum(r[5] for r in reports)
    histogram = [sum(bucket) for bucket in zip(*(r[4] for r in reports))]
    print(f"[{dialect}]")
    print(
        f"  viewers          {connected} connected ({sum(r[1] for r in ready)} failed, "
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
