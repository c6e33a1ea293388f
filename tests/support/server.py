"""The real server for tests: `python -m bazaar serve` as a subprocess on a free port.

`RunningServer(env).start()` launches gunicorn (master + workers, in their own
process group) with the given environment, waits for `/health`, and keeps its log.
`stop()` sends SIGTERM (graceful), `kill()` SIGKILLs the whole group (a crashed
host). As an `ApiClient` it speaks REST to the server over HTTP.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.support.api_client import Actor, ApiClient

REPO = Path(__file__).resolve().parents[2]
# `python -m bazaar …`, but the server gets SIGTERM when the process that started it dies (a test run
# killed by a timeout must not leave servers behind). PR_SET_PDEATHSIG is prctl option 1 (Linux).
_SERVE_UNTIL_PARENT_DIES = (
    "import ctypes, runpy, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGTERM); "
    "sys.argv[0] = 'bazaar'; runpy.run_module('bazaar', run_name='__main__')"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class HttpResponse:
    """Like `tests.support.api_client.Response`, from a real HTTP exchange."""

    def __init__(self, raw: requests.Response):
        self.raw = raw
        self.status = raw.status_code
        self.headers = raw.headers
        self.text = raw.text

    @property
    def json(self):
        return self.raw.json()

    @property
    def data(self):
        return self.json["data"]

    def __repr__(self):
        return f"<HttpResponse {self.status} {self.text[:300]}>"


class RunningServer(ApiClient):
    """A server process; as an `ApiClient` (get/post/…) it speaks REST to itself over HTTP."""

    def __init__(self, env: dict[str, str], *, workers: int = 2, name: str = "server"):
        self.env = env
        self.workers = workers
        self.name = name
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix=f"bazaar-{name}-", suffix=".log", delete=False)
        self._http = requests.Session()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout_s: float = 30.0) -> RunningServer:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BAZAAR_", "DATABASE_", "REDIS_"))},
            **self.env,
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _SERVE_UNTIL_PARENT_DIES,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            try:
                if (
                    requests.get(self.base_url + "/health", timeout=1).status_code == 200
                    and self._workers_ready()
                ):
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.name} did not answer /health within {timeout_s} s:\n{self.log()}")

    def _workers_ready(self) -> bool:
        return len(re.findall(r"worker \d+ ready", self.log())) >= self.workers

    def pids(self) -> list[int]:
        """The master and its workers."""
        if self.process is None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [self.process.pid, *map(int, children.read_text().split())]
        except OSError:
            return [self.process.pid]

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM, as a process manager stops it; returns the exit status."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self._http.close()  # an idle keep-alive connection would hold the graceful stop for its whole timeout
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not stop within {timeout_s} s of SIGTERM:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: the host died."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    # REST ----------------------------------------------------------------------------------------
    def request(
        self, method: str, path: str, *, as_: Actor | None = None, json=None, params=None, headers=None
    ) -> HttpResponse:
        headers = dict(headers or {})
        if as_ is not None:
            headers["Authorization"] = f"Bearer {as_.token}"
        return HttpResponse(
            self._http.request(
                method, self.base_url + path, json=json, params=params, headers=headers, timeout=10
            )
        )
