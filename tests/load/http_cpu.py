"""CPU per request of a running server's worker: what the HTTP server, falcon, the middleware and the
access log cost on every route, measured where a busy machine distorts it least.

Throughput on a shared 2-core machine swings with the load of the moment; the CPU time the worker spends
per request (its utime + stime from /proc, over the requests wrk completed) moves much less. Start one
worker, then point this script at it (needs wrk, Linux):

    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bazaar_baseline REDIS_URL=redis://127.0.0.1:6379/13
    LOG_LEVEL=info bazaar serve --workers 1 --port 3960 &
    python tests/load/http_cpu.py --port 3960 --worker <the worker's pid, e.g. pgrep -P <master>>

It runs wrk (1 thread, 16 connections) `--runs` times on each route of `--routes` (default: /health, one
product, one session, issue 12's two searches), and prints each run's requests, req/s and CPU µs per
request, then the range per route, with the load average. `--routes health,product` picks some.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ws_load import cpu_seconds  # noqa: E402  (one process CPU reader for the load scripts)


def _first_ids() -> tuple[str, str]:
    """The first product's id and the first session's with products (as rest_load.py reads sessions)."""
    from bazaar.infra import db
    from config import load_settings

    db.open_database(load_settings())
    with db.connection():
        product = db.database.execute_sql("SELECT id FROM products ORDER BY id LIMIT 1").fetchone()[0]
        session = db.database.execute_sql(
            "SELECT s.id FROM sessions s WHERE EXISTS (SELECT 1 FROM session_products sp WHERE "
            "sp.session_id = s.id) ORDER BY s.id LIMIT 1"
        ).fetchone()[0]
    return str(product), str(session)


ROUTES = {  # --routes key → (name, path; {product} and {session} filled in)
    "health": ("/health", "/health"),
    "product": ("/api/products/:id", "/api/products/{product}"),
    "session": ("/api/sessions/:id", "/api/sessions/{session}"),
    "search-products": ("search/products?q=earbuds", "/api/search/products?q=earbuds"),
    "search-sessions": ("search/sessions?q=deals", "/api/search/sessions?q=deals"),
}


def _wrk(url: str, connections: int, duration_s: int) -> tuple[int, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        sys.exit(f"{url}: wrk saw non-2xx answers:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out)[1])
    return requests, float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--worker", type=int, required=True, help="pid of the (only) worker")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8, help="seconds per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--routes", default=",".join(ROUTES), help=f"some of {', '.join(ROUTES)}")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    base = f"http://127.0.0.1:{args.port}"
    product, session = _first_ids()
    paths = {key: path.format(product=product, session=session) for key, (_, path) in ROUTES.items()}
    chosen = args.routes.split(",")
    for key in chosen:
        _wrk(base + paths[key], args.connections, 2)  # warm up: pooled connections, prepared statements
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s, worker {args.worker}, {args.runs} run(s) per route"
    )
    for key in chosen:
        name, path = ROUTES[key][0], paths[key]
        per_request = []
        for run in range(1, args.runs + 1):
            before = sum(cpu_seconds([args.worker]))
            requests, rate = _wrk(base + path, args.connections, args.duration)
            cpu_us = (sum(cpu_seconds([args.worker])) - before) / requests * 1e6
            per_request.append(cpu_us)
            print(f"  {name:25} run {run}: {requests:6d} requests, {rate:7.0f} req/s, {cpu_us:4.0f} µs CPU")
        print(f"{name:27} CPU per request {min(per_request):.0f}-{max(per_request):.0f} µs")
    print("load average", " ".join(open("/proc/loadavg").read().split()[:3]))


if __name__ == "__main__":
    main()
