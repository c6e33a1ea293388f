"""A local Redis Cluster for the tests of sharded fan-out: three masters (redis-server ≥ 7 in cluster mode,
no replicas) on free loopback ports, started once per test run and removed afterwards.

Each master keeps its cluster configuration (nodes-<port>.conf) but no data, so `restart(port)` brings a
shard back as the same node owning the same slots, empty — as a master restarted without persistence.
The cluster is created with full coverage not required: while one shard is down the others serve.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

MASTERS = 3
START_TIMEOUT_S = 20.0


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free as well."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports for a cluster node")


def _wait(condition, what: str, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis Cluster: {what} did not happen within {timeout_s} s")
        time.sleep(0.1)


class LocalRedisCluster:
    def __init__(self, directory: Path):
        self.directory = directory
        self.ports = [_free_cluster_port() for _ in range(MASTERS)]
        self._servers: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        """The cluster URL the service is configured with: any one node (REDIS_URL, REDIS_CLUSTER=true)."""
        return f"redis://127.0.0.1:{self.ports[0]}"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, decode_responses=True, socket_timeout=2)

    def start(self) -> LocalRedisCluster:
        for port in self.ports:
            self._start(port)
        addresses = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_S,
        )
        self.wait_healthy()
        return self

    def _start(self, port: int) -> None:
        log = open(self.directory / f"redis-{port}.log", "ab")
        self._servers[port] = subprocess.Popen(
            [
                "redis-server",
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", "1000",
                "--cluster-require-full-coverage", "no",
                "--appendonly", "no",
                "--save", "",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        _wait(lambda: self.node(port).ping(), f"node {port} answering")

    def wait_healthy(self) -> None:
        """Every node answers and sees the cluster as ok, each master owning its slots."""
        for port in self.ports:
            _wait(lambda port=port: self.node(port).cluster("info")["cluster_state"] == "ok", f"{port} ok")
            _wait(
                lambda port=port: len(self.node(port).cluster("slots")) == MASTERS,
                f"{port} seeing {MASTERS} masters",
            )

    def port_of(self, key: str) -> int:
        """The port of the master owning `key`'s slot."""
        slot = self.node(self.ports[0]).cluster("keyslot", key)
        for start, end, master, *_ in self.node(self.ports[0]).cluster("slots"):
            if start <= slot <= end:
                return int(master[1])
        raise LookupError(f"no master owns slot {slot}")

    def restart(self, port: int) -> None:
        """Stop one master (its data is gone) and start it again as the same node."""
        server = self._servers[port]
        server.terminate()
        server.wait(timeout=10)
        self._start(port)
        self.wait_healthy()

    def flush(self) -> None:
        for port in self.ports:
            self.node(port).flushall()

    def stop(self) -> None:
        for server in self._servers.values():
            server.terminate()
        for server in self._servers.values():
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


def _redis_server_major() -> int:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        return 0
    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    match = re.search(r"v=(\d+)\.", version)
    return int(match.group(1)) if match else 0


@pytest.fixture(scope="session")
def redis_cluster():
    """The local Redis Cluster (skips where redis-server ≥ 7, which sharded pub/sub needs, is missing)."""
    if _redis_server_major() < 7:
        pytest.skip("needs redis-server and redis-cli ≥ 7 (sharded pub/sub)")
    directory = Path(tempfile.mkdtemp(prefix="bazaar-redis-cluster-"))
    cluster = LocalRedisCluster(directory)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


def keys_on_every_master(cluster: LocalRedisCluster, prefix: str) -> list[str]:
    """One name per master, `prefix` followed by a number, each owned by a different master."""
    chosen: dict[int, str] = {}
    for n in range(1000):
        name = f"{prefix}{n}"
        chosen.setdefault(cluster.port_of(name), name)
        if len(chosen) == MASTERS:
            return [chosen[port] for port in cluster.ports]
    raise LookupError("names did not spread over every master")
