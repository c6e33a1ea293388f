"""Slow-header flood (issue 11): what one address's half-open sockets cost the server and another client.

Not part of the test run (tests/hardening/test_flood_20k.py checks the same at 20,000 with a 2 s header
timeout). From the repo root:

    python tests/load/flood.py                                  # 20,000 sockets, default limits
    python tests/load/flood.py --sockets 20000 --header-timeout-s 2

Starts `bazaar serve --workers 2` on the embedded database in a temporary directory with the default
connection limits (HTTP_HEADER_TIMEOUT_S, MAX_CONNECTIONS_PER_ADDRESS, WORKER_CONNECTIONS; override with
the options), then opens --sockets connections from 127.0.0.1 in --processes processes evenly over
--spread-s seconds, each sending only `GET /health HTTP/1.1\\r\\nHo`, while a prober on 127.0.0.2 GETs
/health on a new connection every 0.1 s. The flood processes run at nice 10 (a flood comes from other
hosts, not from the server's own cores). Prints /health p50/p99/max and how many took over 1 s, how the
flood's sockets ended (503 at once, closed by the header timeout, still open) and when the last one was
closed, the kernel's listen-queue overflows (each one a SYN dropped and retried a second later), and each
worker's peak descriptors (and its limit) and RSS, with the load average. Exit status 1 when a /health
answer was not a 200 within 1 s or a socket stayed open.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from config import Settings  # noqa: E402
from tests.support.half_open_flood import (  # noqa: E402
    HalfOpenFlood,
    HealthProbe,
    listen_overflows,
    open_files_limit,
    run,
)
from tests.support.server import RunningServer  # noqa: E402

DEFAULTS = Settings()


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--spread-s", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--header-timeout-s", type=float, default=DEFAULTS.http_header_timeout_s)
    parser.add_argument(
        "--max-connections-per-address", type=int, default=DEFAULTS.max_connections_per_address
    )
    parser.add_argument("--worker-connections", type=int, default=DEFAULTS.worker_connections)
    args = parser.parse_args()

    data = tempfile.mkdtemp(prefix="bazaar-flood-")
    server = RunningServer(
        {
            "DATABASE_URL": f"sqlite:///{data}/bazaar.db",
            "HTTP_HEADER_TIMEOUT_S": str(args.header_timeout_s),
            "MAX_CONNECTIONS_PER_ADDRESS": str(args.max_connections_per_address),
            "WORKER_CONNECTIONS": str(args.worker_connections),
        },
        workers=args.workers,
        name="flood",
    ).start()
    try:
        workers = server.pids()[1:]
        print(
            f"{args.sockets} sockets from 127.0.0.1 in {args.processes} processes over {args.spread_s:g} s; "
            f"{args.workers} workers, HTTP_HEADER_TIMEOUT_S={args.header_timeout_s:g}, "
            f"MAX_CONNECTIONS_PER_ADDRESS={args.max_connections_per_address}, "
            f"WORKER_CONNECTIONS={args.worker_connections}; load average before: {load_average()}"
        )
        overflows_before = listen_overflows()
        log_before = len(server.log())
        probe = HealthProbe(server.port, source="127.0.0.2")
        flood = HalfOpenFlood(
            server.port,
            sockets=args.sockets,
            processes=args.processes,
            spread_s=args.spread_s,
            deadline_s=120,
        )
        result, peaks = run(flood, probe, workers)
        overflows = listen_overflows() - overflows_before
        load_after = load_average()

        latencies = probe.latencies()
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        failed = [status for status, _ in probe.answers if status != 200]
        over_1_s = sum(seconds > 1.0 for seconds in latencies)
        print(
            f"/health from 127.0.0.2: {len(latencies)} requests, p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms, "
            f"{over_1_s} over 1 s, {len(failed)} not 200"
        )
        print(
            f"flood: {result.connected} connected (the last at {result.last_connected_s:.1f} s), "
            f"{result.connect_failed} failed to connect; {result.refused} refused with 503, "
            f"{result.closed_silently} closed by the header timeout, {result.answered_otherwise} answered "
            f"otherwise, {result.still_open} still open; the last closed at {result.all_closed_s:.1f} s "
            f"(seconds from the flood's start)"
        )
        print(f"listen queue overflows (SYNs dropped, retried after 1 s): {overflows}")
        for pid in workers:
            print(
                f"worker {pid}: at most {peaks.open_files.get(pid, 0)} descriptors (limit "
                f"{open_files_limit(pid)}), RSS at most {peaks.rss_kb.get(pid, 0) / 1024:.0f} MB"
            )
        print(f"tracebacks in the server log: {server.log()[log_before:].count('Traceback')}")
        print(f"load average after: {load_after}")
        return 1 if failed or over_1_s or result.still_open else 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
