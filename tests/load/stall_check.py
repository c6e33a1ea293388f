"""Whether `GET /api/products/:id` stalls, and who waited for a CPU: wrk with its latency distribution, and
the on-CPU and runnable-but-waiting time of the PostgreSQL backends and the server's processes.

Not part of the unit run (setup.cfg excludes tests/load). With a server running on PORT against DATABASE
(see the README, "Where the stalls of GET /api/products/:id come from"):

    python tests/load/stall_check.py --port 3911 --database bazaar_baseline --product <id> --runs 2

After 3 s of unmeasured load, per run: wrk `-t2 -c64 -d15s --latency`, then the seconds each group spent
on a CPU and waiting for one (`/proc/<pid>/schedstat`, summed over the backends of DATABASE and over the
processes serving PORT). A backend that waits for a CPU many times as long as it runs is what makes a fast
statement slow.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path


def _pids(matches) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if matches(command):
            found.append(pid)
    return found


def _scheduled_s(pids: list[str]) -> tuple[float, float]:
    """(on a CPU, runnable but waiting) seconds summed over `pids` so far."""
    running = waiting = 0
    for pid in pids:
        try:
            on_cpu, queued, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
        except OSError:
            continue
        running += int(on_cpu)
        waiting += int(queued)
    return running / 1e9, waiting / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True, help="the server's PostgreSQL database name")
    parser.add_argument("--product", required=True, help="a product id")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}/api/products/{args.product}"
    # Unmeasured first: the workers open their pooled connections (the backends counted below) on first use.
    subprocess.run(["wrk", "-t2", "-c64", "-d3s", url], capture_output=True, check=True)
    for run in range(1, args.runs + 1):
        backends = _pids(lambda c: c.startswith("postgres: ") and f" {args.database} " in c)
        server = _pids(lambda c: f"--port {args.port}" in c)
        before = _scheduled_s(backends), _scheduled_s(server)
        out = subprocess.run(
            ["wrk", "-t2", "-c64", "-d15s", "--latency", url], capture_output=True, text=True, check=True
        ).stdout
        after = _scheduled_s(backends), _scheduled_s(server)
        print(f"run {run}:\n{out}")
        for name, pids, start, end in (
            ("PostgreSQL backends", backends, before[0], after[0]),
            ("server processes", server, before[1], after[1]),
        ):
            print(
                f"{name} ({len(pids)}): on a CPU {end[0] - start[0]:.1f} s, "
                f"waiting for one {end[1] - start[1]:.1f} s"
            )
        print("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
