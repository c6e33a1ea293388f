"""Side by side with the earlier backend: the same data through each one's public API, then wrk alternating.

Not part of the unit run (setup.cfg excludes tests/load). Issue 12 compares this service with the
earlier Node/Express/Socket.IO backend; the machine's speed varies from day to day, so the only fair
figure is both measured on the same machine, the same PostgreSQL, the same data and the same wrk
settings, one run of each in turn. From the repo root:

    python tests/load/rest_load.py fill --small            # our database (DATABASE_URL), issue 12's data set
    python tests/load/baseline.py fill-api --from-database postgresql://postgres@127.0.0.1:5432/OURS \\
        --target http://127.0.0.1:3900 --session-fields-sql postgresql://postgres@127.0.0.1:5432/nodebe
    python tests/load/baseline.py run --target ours=http://127.0.0.1:3901 \\
        --target earlier=http://127.0.0.1:3900 --runs 3 --duration 10

`fill-api` reads the 5 creators, 200 products, 40 shows and their session products from one of our
databases filled by `rest_load.py fill --small` and creates them in a fresh backend through its REST
routes: register and log in each creator, POST /api/products, POST /api/sessions, POST
/api/sessions/:id/products, PATCH /api/sessions/:id/status (via live) and POST
/api/sessions/:id/showcase, in the same order, so both backends hold the same names, descriptions,
categories, prices and stock, and the search routes find the same rows. The earlier backend's
POST /api/sessions keeps only the title (and stream url/key): with `--session-fields-sql` pointing at
that backend's own database, a show's description, category and tags are written there with one
UPDATE per show (its TypeORM schema keeps tags as comma-separated text); without it, the script says
which shows differ.

`run` finds each backend's ids through its public list routes (GET /api/search/products and
/api/search/sessions, paged), orders them by name and shuffles them with one seed, so run by run
both are asked for the same products and shows in the same order. For each of issue 12's REST rows
it warms every target up, then runs wrk (`--connections` 64, like the issue) `--runs` times per
target, alternating the targets (A, B, A, B, …) so both share whatever else the machine is doing,
prints each run with os.getloadavg(), then per route and target req/s and p50/p99 as ranges over the
runs, and the first target's throughput over each other target's (run by run, and of the medians).

`fanout` is issue 12's chat row, against any backend speaking Socket.IO (ours answers on /socket.io/ as
well as /ws):

    python tests/load/baseline.py fanout --target ours=http://127.0.0.1:3901 --pid ours=PID \
        --target earlier=http://127.0.0.1:3900 --pid earlier=PID --viewers 500 --rate 10 --duration 30

Per run and target: `--viewers` raw-socket viewers over `--procs` processes join the first live show
(answering Engine.IO pings), one freshly registered viewer sends `--rate` chat messages a second over
python-socketio (`send-message` with the userId and userName the earlier backend trusts; ours reads
the token), each carrying its send time; it prints delivered of expected, p50/p95/p99/max delivery
latency, the server's PSS (the pid and its children, /proc/<pid>/smaps_rollup) idle, connected and at
its peak, the viewers' CPU and the load average. Our server needs the chat rate limit and the
per-address connection limit lifted for it (CHAT_RATE_COUNT, MAX_CONNECTIONS_PER_ADDRESS), as
ws_load.py does for the server it starts.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import selectors
import shutil
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import requests
import socketio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rest_load import _range, _wrk  # noqa: E402  (read-only reuse: one wrk runner, one range format)
from ws_load import ENGINEIO_PING, MESSAGE, _client_frame, memory_mb, process_tree  # noqa: E402

from tests.support.ws_client import raw_handshake, read_until  # noqa: E402

PASSWORD = "baseline-load-1"  # every copied creator's password on the target (ours needs 8 characters)
SEED = 12
SEARCHES = {"products": "earbuds", "sessions": "deals"}  # issue 12's search rows


def _data(body):
    """The entity in an answer: the earlier backend wraps some in {success, data}, answers others bare."""
    if isinstance(body, dict) and "data" in body and "success" in body:
        return body["data"]
    return body


def _call(http: requests.Session, method: str, url: str, token: str | None = None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = http.request(method, url, headers=headers, timeout=30, **kwargs)
    if response.status_code >= 400:
        sys.exit(f"{method} {url} → {response.status_code}: {response.text[:300]}")
    return _data(response.json()) if response.content else None


def _read_source(database_url: str) -> dict:
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id, username, email FROM users WHERE role = 'creator' ORDER BY id")
        creators = cursor.fetchall()
        cursor.execute(
            "SELECT id, seller_id, name, description, price, original_price, category, in_stock "
            "FROM products ORDER BY created_at, id"
        )
        products = cursor.fetchall()
        cursor.execute(
            "SELECT id, creator_id, title, description, category, tags, status, active_product_id "
            "FROM sessions ORDER BY created_at, id"
        )
        sessions = cursor.fetchall()
        cursor.execute(
            "SELECT session_id, product_id, featured, display_order FROM session_products "
            "ORDER BY session_id, display_order"
        )
        links = cursor.fetchall()
    return {"creators": creators, "products": products, "sessions": sessions, "links": links}


def _tags(value) -> list[str]:
    if value is None:
        return []
    return value if isinstance(value, list) else json.loads(value)


def _login(http: requests.Session, base: str, username: str, email: str) -> str:
    register = http.post(
        f"{base}/api/auth/register",
        json={"username": username, "email": email, "password": PASSWORD, "role": "creator"},
        timeout=30,
    )
    if register.status_code not in (200, 201, 409):
        sys.exit(f"register {username} → {register.status_code}: {register.text[:300]}")
    answer = _call(http, "POST", f"{base}/api/auth/login", json={"username": username, "password": PASSWORD})
    return answer["accessToken"]


def _total(http: requests.Session, base: str, kind: str, query: str = "") -> int:
    return http.get(f"{base}/api/search/{kind}", params={"q": query, "limit": 1}, timeout=30).json()["total"]


def fill_api(source_url: str, base: str, session_fields_sql: str | None) -> None:
    source = _read_source(source_url)
    http = requests.Session()
    if _total(http, base, "products") or _total(http, base, "sessions"):
        sys.exit(f"{base} already holds products or shows: fill-api copies into a fresh backend only")
    tokens = {user_id: _login(http, base, username, email) for user_id, username, email in source["creators"]}

    product_ids = {}  # our id → the target's id
    for pid, seller, name, description, price, original, category, in_stock in source["products"]:
        body = {"name": name, "description": description, "price": float(price), "inStock": in_stock}
        if category is not None:
            body["category"] = category
        if original is not None:
            body["originalPrice"] = float(original)
        product_ids[pid] = _call(http, "POST", f"{base}/api/products", tokens[seller], json=body)["id"]

    links: dict = {}
    for session_id, product_id, featured, order in source["links"]:
        links.setdefault(session_id, []).append((product_id, featured, order))
    differing = []
    for sid, creator, title, description, category, tags, status, active in source["sessions"]:
        token, tags = tokens[creator], _tags(tags)
        body = {"title": title, "description": description, "category": category, "tags": tags}
        created = _call(http, "POST", f"{base}/api/sessions", token, json=body)["id"]
        for product_id, featured, order in links.get(sid, []):
            _call(
                http,
                "POST",
                f"{base}/api/sessions/{created}/products",
                token,
                json={"productId": product_ids[product_id], "featured": featured, "displayOrder": order},
            )
        if status in ("live", "ended"):
            _call(http, "PATCH", f"{base}/api/sessions/{created}/status", token, json={"status": "live"})
        if status == "live" and active is not None:
            showcase = {"productId": product_ids[active]}
            _call(http, "POST", f"{base}/api/sessions/{created}/showcase", token, json=showcase)
        if status == "ended":
            _call(http, "PATCH", f"{base}/api/sessions/{created}/status", token, json={"status": "ended"})
        kept = _call(http, "GET", f"{base}/api/sessions/{created}")
        if (kept.get("description"), kept.get("category"), kept.get("tags") or []) != (
            description,
            category,
            tags,
        ):
            differing.append((created, description, category, tags))

    if differing and session_fields_sql:
        # The earlier backend's POST /api/sessions drops description, category and tags, and it has no
        # route that sets them; its TypeORM "simple-array" column keeps tags as comma-separated text.
        with psycopg2.connect(session_fields_sql) as connection, connection.cursor() as cursor:
            for created, description, category, tags in differing:
                cursor.execute(
                    "UPDATE sessions SET description = %s, category = %s, tags = %s WHERE id = %s",
                    (description, category, ",".join(tags), created),
                )
                if cursor.rowcount != 1:
                    sys.exit(f"--session-fields-sql: show {created} is not in that database")
        print(
            f"{len(differing)} show(s): description, category and tags written with SQL "
            "(the API dropped them)"
        )
    elif differing:
        print(f"warning: {len(differing)} show(s) lost description/category/tags (see --session-fields-sql)")
    print(
        f"copied into {base}: {len(tokens)} creators, {len(product_ids)} products, "
        f"{len(source['sessions'])} shows, {len(source['links'])} session products"
    )
    for kind, query in SEARCHES.items():
        print(f"  search {kind} q={query}: {_total(http, base, kind, query)} of {_total(http, base, kind)}")


def _listed(
    http: requests.Session, base: str, kind: str, label: str, query: str = ""
) -> list[tuple[str, str]]:
    """(label, id) of every row the public search route lists, page by page."""
    rows, offset = [], 0
    while True:
        page = http.get(
            f"{base}/api/search/{kind}", params={"q": query, "limit": 100, "offset": offset}, timeout=30
        ).json()
        results = page["results"] if "results" in page else page["data"]  # the earlier backend: "data"
        rows += [(row[label], row["id"]) for row in results]
        offset += len(results)
        if not results or offset >= page["total"]:
            return rows


def _paths(http: requests.Session, base: str) -> dict[str, list[str]]:
    """Each REST row's paths on one backend; by-id reads in one seeded order of names, as on the others."""
    products = sorted(_listed(http, base, "products", "name"))
    sessions = sorted(_listed(http, base, "sessions", "title"))
    random.Random(SEED).shuffle(products)
    random.Random(SEED).shuffle(sessions)
    return {
        "GET /api/sessions/:id": [f"/api/sessions/{sid}" for _, sid in sessions],
        "GET /api/products/:id": [f"/api/products/{pid}" for _, pid in products],
        "GET /api/search/products?q=earbuds": ["/api/search/products?q=earbuds"],
        "GET /api/search/sessions?q=deals": ["/api/search/sessions?q=deals"],
    }


def _check_same_rows(http: requests.Session, targets: list[tuple[str, str]]) -> None:
    for kind, label in (("products", "name"), ("sessions", "title")):
        found = {
            name: sorted(x for x, _ in _listed(http, base, kind, label, SEARCHES[kind]))
            for name, base in targets
        }
        totals = ", ".join(
            f"{name} {len(rows)} of {_total(http, base, kind)}"
            for (name, base), rows in zip(targets, found.values())
        )
        same = len({json.dumps(rows) for rows in found.values()}) == 1
        print(f"search {kind} q={SEARCHES[kind]}: {totals} — {'the same rows' if same else 'DIFFERENT rows'}")


def _median_ratio(mine: list[float], theirs: list[float]) -> float:
    return statistics.median(mine) / statistics.median(theirs)


def run(
    targets: list[tuple[str, str]],
    connections: int,
    duration_s: int,
    threads: int,
    warmup_s: int,
    runs: int,
    only: str,
) -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    http = requests.Session()
    paths = {name: _paths(http, base) for name, base in targets}
    for name, _ in targets:
        print(
            f"{name}: {len(paths[name]['GET /api/sessions/:id'])} shows, "
            f"{len(paths[name]['GET /api/products/:id'])} products"
        )
    _check_same_rows(http, targets)
    print(
        f"wrk -t{threads} -c{connections} -d{duration_s}s, {runs} run(s) per route and target, alternating "
        f"{', '.join(name for name, _ in targets)}; warm-up {warmup_s}s each"
    )
    figures: dict = {}
    for route in paths[targets[0][0]]:
        if only not in route:
            continue
        for name, base in targets:
            if warmup_s:  # connection pools filled, PostgreSQL's and V8's caches warm
                _wrk(base, paths[name][route], connections, warmup_s, threads)
        for n in range(runs):
            for name, base in targets:
                load = os.getloadavg()
                result = _wrk(base, paths[name][route], connections, duration_s, threads)
                result["load"] = load
                figures.setdefault(route, {}).setdefault(name, []).append(result)
                print(
                    f"  {route:36} {name:10} run {n + 1}: {result['rps']:8.0f} req/s  p50 "
                    f"{result.get('p50_ms', 0):6.1f} ms  p99 {result.get('p99_ms', 0):7.1f} ms  "
                    f"non-2xx {result['non_2xx']}  load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
                    flush=True,
                )
    first = targets[0][0]
    print(
        f"\n{'route':36} {'target':10} {'req/s':>13} {'p50 ms':>11} {'p99 ms':>13} {'non-2xx':>8} "
        f"{'load (1 min)':>13}"
    )
    for route, by_target in figures.items():
        for name, results in by_target.items():
            print(
                f"{route:36} {name:10} {_range([r['rps'] for r in results], 0):>13} "
                f"{_range([r.get('p50_ms', 0) for r in results], 1):>11} "
                f"{_range([r.get('p99_ms', 0) for r in results], 1):>13} "
                f"{sum(r['non_2xx'] for r in results):8d} {_range([r['load'][0] for r in results], 2):>13}"
            )
        mine = [r["rps"] for r in by_target[first]]
        for name, results in by_target.items():
            if name == first:
                continue
            theirs = [r["rps"] for r in results]
            print(
                f"{'':36} {first}/{name}: {_range([a / b for a, b in zip(mine, theirs)], 2)}× run by run, "
                f"{_median_ratio(mine, theirs):.2f}× of the medians"
            )


# --- chat fan-out over Socket.IO (issue 12's "500 viewers × 10 msg/s" row) ---------------------------

SOCKETIO_PATH = "/socket.io/?EIO=4&transport=websocket"
# A join is answered: ours acknowledges join-session, the earlier backend broadcasts the viewer count.
JOINED = (b"430[", b'42["viewer-count"')


def _join(sock, join: bytes) -> None:
    """CONNECT, then join-session once connected (the earlier backend closes a socket that sends an event
    before its CONNECT is answered)."""
    sock.sendall(_client_frame("40"))
    read_until(sock, b"40{")
    sock.sendall(join)
    received = b""
    while not any(marker in received for marker in JOINED):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the join was answered")
        received += chunk


def viewer_process(url: str, session_id: str, count: int, pipe) -> None:
    """Connect `count` Socket.IO viewers to one show (answering Engine.IO pings as socket.io-client does),
    then record each chat message's delivery latency until told to report."""
    parts = urlsplit(url)
    join = _client_frame("420" + json.dumps(["join-session", session_id]))
    sockets = []
    for _ in range(count):
        sock = raw_handshake(parts.hostname, parts.port, SOCKETIO_PATH)
        _join(sock, join)
        sock.setblocking(False)
        sockets.append(sock)
    pipe.send(len(sockets))
    pong = _client_frame("3")
    seen = [set() for _ in sockets]
    tails = [b""] * len(sockets)
    latencies_ms: list[float] = []
    duplicates = closed = 0
    selector = selectors.DefaultSelector()
    for index, sock in enumerate(sockets):
        selector.register(sock, selectors.EVENT_READ, index)
    selector.register(pipe, selectors.EVENT_READ, None)
    cpu_started = time.process_time()
    while True:
        for key, _ in selector.select(timeout=1.0):
            index = key.data
            if index is None:
                if pipe.recv() == "start":
                    cpu_started = time.process_time()
                    continue
                pipe.send((latencies_ms, duplicates, time.process_time() - cpu_started, closed))
                for sock in sockets:
                    sock.close()
                return
            try:
                chunk = key.fileobj.recv(262144)
            except BlockingIOError:
                continue
            except OSError:  # reset by the server
                chunk = b""
            if not chunk:
                selector.unregister(key.fileobj)
                closed += 1
                continue
            data = tails[index] + chunk
            for _ in range(data.count(ENGINEIO_PING) - tails[index].count(ENGINEIO_PING)):
                key.fileobj.send(pong)
            now_ns, last_end = time.time_ns(), 0
            for match in MESSAGE.finditer(data):
                seq, last_end = int(match.group(1)), match.end()
                if seq in seen[index]:
                    duplicates += 1
                    continue
                seen[index].add(seq)
                latencies_ms.append((now_ns - int(match.group(2))) / 1e6)
            tails[index] = data[max(last_end, len(data) - 256) :]


def _live_show(base: str) -> str:
    page = requests.get(
        f"{base}/api/search/sessions", params={"status": "live", "limit": 1}, timeout=30
    ).json()
    return (page["results"] if "results" in page else page["data"])[0]["id"]


def _sender(base: str, session_id: str) -> tuple[socketio.Client, dict]:
    """A fresh signed-in viewer on the show, connected over Socket.IO (ours reads auth.token; the earlier
    backend trusts the userId and userName in each message, and ignores the token)."""
    name = f"fanout{uuid.uuid4().hex[:10]}"
    answer = _call(
        requests.Session(),
        "POST",
        f"{base}/api/auth/register",
        json={"username": name, "email": f"{name}@load.test", "password": PASSWORD, "role": "viewer"},
    )
    # No Origin header: not a browser (ours checks a browser's origin against CORS_ORIGIN).
    client = socketio.Client(reconnection=False, websocket_extra_options={"suppress_origin": True})
    client.connect(base, auth={"token": answer["accessToken"]}, transports=["websocket"], wait_timeout=30)
    client.emit("join-session", session_id)  # done long before the viewers are connected and sending starts
    return client, {"sessionId": session_id, "userId": answer["user"]["id"], "userName": name}


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def fanout_once(
    base: str,
    session_id: str,
    pids: list[int],
    viewers: int,
    rate: float,
    duration_s: int,
    procs: int,
    drain_s: float,
) -> dict:
    sender, message = _sender(base, session_id)
    pss_idle = memory_mb(pids)[0]
    context = mp.get_context("fork")
    pipes, workers = [], []
    for part in range(procs):
        parent, child = context.Pipe()
        count = viewers // procs + (1 if part < viewers % procs else 0)
        worker = context.Process(target=viewer_process, args=(base, session_id, count, child), daemon=True)
        worker.start()
        pipes.append(parent)
        workers.append(worker)
    connected = sum(pipe.recv() for pipe in pipes)
    pss_connected = peak = memory_mb(pids)[0]
    stop = threading.Event()

    def sample_peak() -> None:
        nonlocal peak
        while not stop.wait(0.5):
            peak = max(peak, memory_mb(pids)[0])

    sampler = threading.Thread(target=sample_peak, daemon=True)
    sampler.start()
    for pipe in pipes:
        pipe.send("start")
    load = os.getloadavg()
    messages, lag_s, started = int(rate * duration_s), 0.0, time.monotonic()
    for seq in range(messages):
        pause = started + seq / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            lag_s = max(lag_s, -pause)
        sender.emit("send-message", {**message, "message": f"L{seq}:{time.time_ns()}"})
    time.sleep(drain_s)  # the last messages' deliveries; a late one still counts, with its latency
    stop.set()
    sampler.join()
    for pipe in pipes:
        pipe.send("report")
    reports = [pipe.recv() for pipe in pipes]
    for worker in workers:
        worker.join(30)
    sender.disconnect()
    latencies = sorted(latency for report in reports for latency in report[0])
    return {
        "connected": connected,
        "expected": messages * connected,
        "delivered": len(latencies),
        "duplicates": sum(report[1] for report in reports),
        "closed": sum(report[3] for report in reports),
        "p50": _percentile(latencies, 0.50),
        "p95": _percentile(latencies, 0.95),
        "p99": _percentile(latencies, 0.99),
        "max": latencies[-1] if latencies else float("nan"),
        "pss_idle": pss_idle,
        "pss_connected": pss_connected,
        "pss_peak": peak,
        "viewer_cpu": sum(report[2] for report in reports) / duration_s,
        "sender_lag_s": lag_s,
        "load": load,
    }


def fanout(
    targets: list[tuple[str, str]],
    pids: dict[str, int],
    viewers: int,
    rate: float,
    duration_s: int,
    procs: int,
    runs: int,
    drain_s: float,
) -> None:
    shows = {name: _live_show(base) for name, base in targets}
    print(
        f"chat fan-out: {viewers} viewers in one live show × {rate:g} msg/s for {duration_s} s, viewers over "
        f"{procs} process(es), {runs} run(s) per target alternating {', '.join(name for name, _ in targets)}"
    )
    results: dict[str, list[dict]] = {}
    for n in range(runs):
        for name, base in targets:
            result = fanout_once(
                base, shows[name], process_tree(pids[name]), viewers, rate, duration_s, procs, drain_s
            )
            results.setdefault(name, []).append(result)
            print(
                f"  {name:10} run {n + 1}: delivered {result['delivered']:,} of {result['expected']:,} "
                f"({result['duplicates']} duplicates, {result['closed']} viewers closed by the server), "
                f"p50 {result['p50']:.1f} p95 {result['p95']:.1f} p99 "
                f"{result['p99']:.1f} max {result['max']:.1f} ms; PSS {result['pss_idle']:.0f} idle, "
                f"{result['pss_connected']:.0f} connected, {result['pss_peak']:.0f} MB peak; viewers' CPU "
                f"{result['viewer_cpu']:.2f} core, sender behind by {result['sender_lag_s'] * 1000:.0f} ms "
                "at most; load {:.2f} {:.2f} {:.2f}".format(*result["load"]),
                flush=True,
            )
    print(
        f"\n{'target':10} {'delivered':>22} {'p50 ms':>11} {'p99 ms':>13} {'PSS peak MB':>12} "
        f"{'load (1 min)':>13}"
    )
    for name, rows in results.items():
        delivered = f"{sum(r['delivered'] for r in rows):,} of {sum(r['expected'] for r in rows):,}"
        print(
            f"{name:10} {delivered:>22} {_range([r['p50'] for r in rows], 1):>11} "
            f"{_range([r['p99'] for r in rows], 1):>13} {_range([r['pss_peak'] for r in rows], 0):>12} "
            f"{_range([r['load'][0] for r in rows], 2):>13}"
        )


def _target(text: str) -> tuple[str, str]:
    name, sep, base = text.partition("=")
    if not sep or not name or not base.startswith("http"):
        raise argparse.ArgumentTypeError("expected NAME=http://host:port")
    return name, base.rstrip("/")


def _pid(text: str) -> tuple[str, int]:
    name, sep, pid = text.partition("=")
    if not sep or not pid.isdigit():
        raise argparse.ArgumentTypeError("expected NAME=PID")
    return name, int(pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fill_cmd = sub.add_parser(
        "fill-api", help="copy our small data set into a fresh backend through its REST API"
    )
    fill_cmd.add_argument(
        "--from-database", required=True, help="one of our databases filled by rest_load.py fill --small"
    )
    fill_cmd.add_argument("--target", required=True, help="the backend's base URL")
    fill_cmd.add_argument(
        "--session-fields-sql", help="that backend's own database, for the show fields its API drops"
    )
    compared = argparse.ArgumentParser(add_help=False)  # what run and fanout share
    compared.add_argument(
        "--target",
        type=_target,
        action="append",
        required=True,
        help="NAME=BASE_URL, alternated run by run; the first is 'ours' in ratios",
    )
    compared.add_argument("--runs", type=int, default=3, help="measured runs per target (figures as ranges)")
    run_cmd = sub.add_parser(
        "run", parents=[compared], help="wrk on issue 12's REST rows, alternating the targets run by run"
    )
    run_cmd.add_argument("--connections", type=int, default=64)
    run_cmd.add_argument("--duration", type=int, default=10, help="seconds per run")
    run_cmd.add_argument("--threads", type=int, default=2)
    run_cmd.add_argument(
        "--warmup", type=int, default=3, help="seconds of unmeasured load per route and target first"
    )
    run_cmd.add_argument("--only", default="", help="run only the routes whose name holds this text")
    fan_cmd = sub.add_parser(
        "fanout", parents=[compared], help="chat fan-out over Socket.IO: delivery latency and server PSS"
    )
    fan_cmd.add_argument("--pid", type=_pid, action="append", required=True, help="NAME=PID (children count)")
    fan_cmd.add_argument("--viewers", type=int, default=500)
    fan_cmd.add_argument("--rate", type=float, default=10, help="chat messages per second")
    fan_cmd.add_argument("--duration", type=int, default=30, help="seconds of sending per run")
    fan_cmd.add_argument("--procs", type=int, default=2, help="viewer processes")
    fan_cmd.add_argument("--drain", type=float, default=5, help="seconds to wait for the last deliveries")
    args = parser.parse_args()
    if args.command == "fill-api":
        fill_api(args.from_database, args.target.rstrip("/"), args.session_fields_sql)
    elif args.command == "run":
        run(args.target, args.connections, args.duration, args.threads, args.warmup, args.runs, args.only)
    else:
        pids = dict(args.pid)
        missing = [name for name, _ in args.target if name not in pids]
        if missing:
            sys.exit(f"--pid NAME=PID missing for {', '.join(missing)}")
        fanout(args.target, pids, args.viewers, args.rate, args.duration, args.procs, args.runs, args.drain)


if __name__ == "__main__":
    main()
