"""How `bazaar serve` listens: every worker takes its share of new connections, and an address in use is
refused."""

from __future__ import annotations

import collections
import socket
from pathlib import Path

import pytest

from tests.support.server import RunningServer


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _accepted_from(port: int, client_ports: set[int]) -> dict[int, str]:
    """Client port → inode of the server side of each established connection to `port`."""
    accepted = {}
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
        if local_port == port and remote_port in client_ports and fields[3] == "01":  # ESTABLISHED
            accepted[remote_port] = fields[9]
    return accepted


def test_a_burst_of_new_connections_spreads_over_the_workers(server):
    clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(48)]
    try:
        for client in clients:  # one request each, so every connection has been accepted
            client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        for client in clients:
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        accepted = _accepted_from(server.port, {c.getsockname()[1] for c in clients})
        sockets_of = {pid: _socket_inodes(pid) for pid in server.pids()[1:]}
        per_worker = collections.Counter(
            pid for inode in accepted.values() for pid, sockets in sockets_of.items() if inode in sockets
        )
    finally:
        for client in clients:
            client.close()
    assert sum(per_worker.values()) == len(clients)
    assert len(per_worker) == len(sockets_of)
    # The kernel hashes each connection to a worker's socket: 48 land about evenly (a third is ~1 in 10^4).
    assert min(per_worker.values()) >= len(clients) // 3, per_worker


def test_an_address_in_use_is_refused_at_start(server):
    second = RunningServer(server.env, name="second-on-same-port")
    second.port = server.port
    with pytest.raises(RuntimeError, match="exited with 1") as refused:
        second.start()
    assert f"cannot listen on 127.0.0.1:{server.port}: Address already in use" in str(refused.value)
    assert server.get("/health").status == 200
