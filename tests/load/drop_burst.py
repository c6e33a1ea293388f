"""Drop burst benchmark: B buy attempts spread over one second on a drop of U units, V viewers watching.

Not part of the unit run (setup.cfg excludes tests/load). From the repo root, with PostgreSQL and
Redis running:

    python tests/load/drop_burst.py --attempts 4000 --units 100 --viewers 2000

It starts its own server (`bazaar serve --workers 2` on a fresh PostgreSQL database and a Redis db of
its own; `--env NAME=VALUE` sets one of its settings, e.g. `--env ORDER_GATE_SIZE=32`), makes a
creator, a live show with a drop of U units, B buyers (straight in the database, with access tokens)
and V viewers joined over /ws from several processes. Buyer processes open their connections first,
then send one `POST /sessions/:id/orders` each, paced evenly over `--spread` seconds (raw sockets,
prebuilt requests). It prints the answers by status and error code, the orders in the
database against U, p50/p95/p99/max of the buy request, and how long after the last unit was sold (the
201 that took it came back) the viewers received `sold-out` and the final `stock-update` (p50/p99/max
over viewers; a negative figure means the event overtook that 201 on its way back).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import selectors
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg2  # noqa: E402
import requests  # noqa: E402

from tests.conftest import AGORA_APP_CERTIFICATE, AGORA_APP_ID  # noqa: E402
from tests.support import databases  # noqa: E402
from tests.support.server import RunningServer  # noqa: E402
from tests.support.ws_client import raw_handshake, read_until  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ws_load import conditions, cpu_seconds, process_tree  # noqa: E402  (one process-tree reader for the load scripts)

JWT_SECRET = "drop-burst-secret-0123456789abcdef0123"


def _raise_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)


def _machine_busy_s() -> float:
    """CPU seconds the whole machine spent on anything but idle and I/O wait so far, over every core."""
    user, nice, system, idle, iowait, *rest = map(
        int, Path("/proc/stat").read_text().split("\n")[0].split()[1:]
    )
    return (user + nice + system + sum(rest[:3])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_s() -> dict[int, float]:
    """CPU seconds (user + system) each PostgreSQL process has used so far."""
    return {
        int(pid): sum(cpu_seconds([int(pid)]))
        for pid in os.listdir("/proc")
        if pid.isdigit() and _read(f"/proc/{pid}/comm").strip() in ("postgres", "postmaster")
    }


def _postgres_cpu_since(before: dict[int, float], database_url: str) -> float:
    """CPU seconds used since `before` by the backends of the benchmark's database and PostgreSQL's own
    background processes (not by other databases' backends: the server is shared)."""
    with psycopg2.connect(databases.PG_ADMIN_URL) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s OR datname IS NULL",
            (urlsplit(database_url).path.lstrip("/"),),
        )
        pids = [pid for (pid,) in cursor.fetchall()]
    conn.close()
    return sum(sum(cpu_seconds([pid])) - before.get(pid, 0.0) for pid in pids)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def _figures(values: list[float]) -> str:
    return (
        f"p50 {_percentile(values, 0.50):.0f} ms, p95 {_percentile(values, 0.95):.0f} ms, "
        f"p99 {_percentile(values, 0.99):.0f} ms, max {max(values, default=float('nan')):.0f} ms"
    )


# --- buyers (child processes) -------------------------------------------------------------------------
def buyer_process(port: int, requests_: list[bytes], start_at: float, spread_s: float, pipe) -> None:
    """Connect every buyer, then send request i at start_at + i × spread / n; report (status, error,
    latency ms, answered at) per request."""
    _raise_fd_limit()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in requests_]
    pipe.send("connected")
    selector = selectors.DefaultSelector()
    sent_at: dict[int, float] = {}
    buffers: dict[int, bytes] = {}
    results = []
    gap = spread_s / max(1, len(requests_))
    for index, sock in enumerate(socks):
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, index)
    next_send = 0
    while len(results) < len(socks):
        now = time.time()
        while next_send < len(socks) and now >= start_at + next_send * gap:
            socks[next_send].sendall(requests_[next_send])
            sent_at[next_send] = time.time()
            next_send += 1
        timeout = max(0.0, start_at + next_send * gap - time.time()) if next_send < len(socks) else 1.0
        for key, _ in selector.select(timeout=min(timeout, 1.0)):
            index = key.data
            try:
                chunk = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            data = buffers.get(index, b"") + chunk
            buffers[index] = data
            head, sep, body = data.partition(b"\r\n\r\n")
            if not sep and not chunk:  # closed without an answer: count it, never spin on the EOF
                results.append(
                    (
                        0,
                        "closed without an answer",
                        (time.time() - sent_at.get(index, time.time())) * 1000,
                        time.time(),
                    )
                )
                selector.unregister(key.fileobj)
                key.fileobj.close()
                continue
            if not sep:
                continue
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            if len(body) < length and chunk:
                continue
            answered = time.time()
            status = int(head.split(b" ")[1])
            error = json.loads(body[:length] or b"{}").get("error")
            results.append((status, error, (answered - sent_at[index]) * 1000, answered))
            selector.unregister(key.fileobj)
            key.fileobj.close()
    pipe.send(results)


# --- viewers (child processes) ------------------------------------------------------------------------
def viewer_process(url: str, count: int, session_id: str, pipe) -> None:
    """Join `count` viewers; report when each saw `sold-out` and the `stock-update` with remaining 0."""
    _raise_fd_limit()
    parts = urlsplit(url)
    frame = json.dumps({"event": "join-session", "data": {"sessionId": session_id}, "ref": "j"}).encode()
    join = bytes([0x81, 0x80 | len(frame)]) + b"\0\0\0\0" + frame
    socks = []
    for _ in range(count):
        sock = raw_handshake(parts.hostname, parts.port, parts.path)
        sock.sendall(join)
        read_until(sock, b'"event":"ack"')
        sock.setblocking(False)
        socks.append(sock)
    pipe.send("joined")
    selector = selectors.DefaultSelector()
    for index, sock in enumerate(socks):
        selector.register(sock, selectors.EVENT_READ, index)
    selector.register(pipe, selectors.EVENT_READ, None)
    sold_out: dict[int, float] = {}
    emptied: dict[int, float] = {}
    updates = Counter()
    tails = [b""] * count
    while True:
        for key, _ in selector.select(timeout=1.0):
            if key.data is None:
                pipe.recv()
                pipe.send((list(sold_out.values()), list(emptied.values()), sum(updates.values())))
                return
            try:
                chunk = key.fileobj.recv(262144)
            except (BlockingIOError, OSError):
                continue
            now = time.time()
            data = tails[key.data] + chunk
            if b'"event":"sold-out"' in data:
                sold_out.setdefault(key.data, now)
            seen = data.count(b'"event":"stock-update"')
            # The tail was searched with the chunk before: count only the frames that end in this chunk.
            updates[key.data] += seen - tails[key.data].count(b'"event":"stock-update"')
            if b'"remaining":0}' in data and seen:
                emptied.setdefault(key.data, now)
            tails[key.data] = data[-64:]


# --- the run ------------------------------------------------------------------------------------------
def start_server(workers: int, overrides: dict[str, str]) -> tuple[RunningServer, dict]:
    env = {
        "DATABASE_URL": databases.create_pg_database("bazaar_dropburst"),
        "REDIS_URL": databases.REDIS_URL,
        "JWT_SECRET": JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "MAX_CONNECTIONS_PER_ADDRESS": "1000000",  # every client comes from 127.0.0.1
        "CORS_ORIGIN": "http://localhost:3001",
        "AGORA_APP_ID": AGORA_APP_ID,
        "AGORA_APP_CERTIFICATE": AGORA_APP_CERTIFICATE,
        **overrides,
    }
    subprocess.run([sys.executable, "-m", "bazaar", "migrate"], env={**os.environ, **env}, check=True)
    databases.flush_redis()
    return RunningServer(env, workers=workers, name="drop-burst").start(), env


def _post(base: str, path: str, body: dict, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = requests.post(base + path, json=body, headers=headers, timeout=30)
    answer.raise_for_status()
    return answer.json()


def _buy_request(port: int, session_id: str, product_id: str, token: str, key: str) -> bytes:
    body = json.dumps({"productId": product_id}).encode()
    return (
        f"POST /api/sessions/{session_id}/orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nIdempotency-Key: {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attempts", type=int, default=4000)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--spread", type=float, default=1.0, help="seconds over which the attempts go out")
    parser.add_argument("--procs", type=int, default=4, help="buyer processes (and as many viewer ones)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="a server setting (repeatable)"
    )
    args = parser.parse_args()
    _raise_fd_limit()

    from bazaar.infra import db
    from config import load_settings
    from tests.support.selling import many_buyers

    server, env = start_server(args.workers, dict(item.split("=", 1) for item in args.env))
    try:
        settings = load_settings(env, env_file=None)
        db.open_database(settings)
        base, port = server.base_url, server.port
        user = _post(
            base,
            "/api/auth/register",
            {"username": "seller", "email": "s@x.test", "password": "pw-123456789", "role": "creator"},
        )["data"]
        token = user["accessToken"]
        product = _post(
            base,
            "/api/products",
            {"name": "Limited Sneakers", "price": 99, "stockQuantity": args.units},
            token,
        )
        show = _post(base, "/api/sessions", {"title": "Drop night", "productIds": [product["id"]]}, token)[
            "data"
        ]
        _post(base, f"/api/sessions/{show['id']}/start-stream", {}, token)
        answer = requests.put(
            f"{base}/api/sessions/{show['id']}/products/{product['id']}/drop",
            json={"dropQuantity": args.units},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        answer.raise_for_status()
        tokens = many_buyers(args.attempts, settings)

        viewer_pipes = []
        per_viewer_proc = args.viewers // args.procs
        for _ in range(args.procs if args.viewers else 0):
            mine, theirs = mp.Pipe()
            mp.Process(
                target=viewer_process, args=(server.ws_url, per_viewer_proc, show["id"], theirs), daemon=True
            ).start()
            viewer_pipes.append(mine)
        for pipe in viewer_pipes:
            pipe.recv()
        print(f"{per_viewer_proc * len(viewer_pipes)} viewers joined")

        buyer_pipes, buyer_pids = [], []
        start_at = time.time() + 3.0 + args.attempts / 2000  # after every buyer connected
        for proc in range(args.procs):
            batch = [
                _buy_request(port, show["id"], product["id"], tokens[i], f"burst-{i}")
                for i in range(proc, args.attempts, args.procs)
            ]
            mine, theirs = mp.Pipe()
            buyer = mp.Process(
                target=buyer_process, args=(port, batch, start_at, args.spread, theirs), daemon=True
            )
            buyer.start()
            buyer_pipes.append(mine)
            buyer_pids.append(buyer.pid)
        for pipe in buyer_pipes:
            pipe.recv()
        server_pids = process_tree(server.process.pid)
        server_before, buyers_before, postgres_before = (
            cpu_seconds(server_pids),
            cpu_seconds(buyer_pids),
            _postgres_cpu_s(),
        )
        busy_before, window_start = _machine_busy_s(), time.time()
        results = [r for pipe in buyer_pipes for r in pipe.recv()]
        busy_share = (_machine_busy_s() - busy_before) / (time.time() - window_start) / os.cpu_count()
        server_now = cpu_seconds(server_pids)
        server_user, server_system = (now - then for now, then in zip(server_now, server_before))
        buyers_used = sum(cpu_seconds(buyer_pids)) - sum(buyers_before)
        postgres_used = _postgres_cpu_since(postgres_before, env["DATABASE_URL"])
        time.sleep(2.0)  # the last events reach the viewers
        for pipe in viewer_pipes:
            pipe.send("report")
        reports = [pipe.recv() for pipe in viewer_pipes]

        answers = Counter((status, error) for status, error, _, _ in results)
        print(f"{len(results)} attempts over {args.spread:g} s on {args.units} units:")
        for (status, error), n in sorted(answers.items(), key=lambda item: -item[1]):
            print(f"  {status} {error or ''}: {n}")
        with db.connection():
            from bazaar.domain.models import Order, Product, SessionProduct

            orders = Order.select().where(Order.session == show["id"]).count()
            remaining = (
                SessionProduct.select(SessionProduct.drop_remaining)
                .where(SessionProduct.session == show["id"])
                .scalar()
            )
            stock = Product.select(Product.stock_quantity).where(Product.id == product["id"]).scalar()
        print(
            f"orders in the database: {orders} (units offered {args.units}); "
            f"drop remaining {remaining}, stock {stock}"
        )
        print("buy request latency: " + _figures([latency for _, _, latency, _ in results]))
        for status in sorted({status for status, _, _, _ in results}):
            latencies = [latency for answer, _, latency, _ in results if answer == status]
            print(f"  the {status}s: " + _figures(latencies))
        per_attempt = 1000 / len(results)  # ms per CPU second
        print(
            f"CPU per attempt during the burst: server {per_attempt * (server_user + server_system):.2f} ms "
            f"(user {per_attempt * server_user:.2f}, system {per_attempt * server_system:.2f}), PostgreSQL "
            f"{per_attempt * postgres_used:.2f} ms, load generator {per_attempt * buyers_used:.2f} ms; "
            f"the machine's cores {100 * busy_share:.0f} % busy meanwhile, other work included "
            f"({conditions()})"
        )
        sold = [answered for status, _, _, answered in results if status == 201]
        if sold:
            print(f"last unit sold {max(sold) - start_at:.2f} s after the first attempt went out")
        if sold and reports:
            last_sale = max(sold)
            sold_out = [(t - last_sale) * 1000 for report in reports for t in report[0]]
            emptied = [(t - last_sale) * 1000 for report in reports for t in report[1]]
            updates = sum(report[2] for report in reports)
            viewers = per_viewer_proc * len(viewer_pipes)
            print(
                f"sold-out seen by {len(sold_out)}/{viewers} viewers, "
                f"after the last sale: {_figures(sold_out)}"
            )
            print(
                f"final stock-update seen by {len(emptied)}/{viewers}, "
                f"after the last sale: {_figures(emptied)}"
            )
            print(f"stock-update frames per viewer: {updates / max(1, viewers):.1f}")
    finally:
        server.stop()
        databases.drop_pg_database(env["DATABASE_URL"])


if __name__ == "__main__":
    main()
