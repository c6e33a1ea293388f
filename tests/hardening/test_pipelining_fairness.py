"""A client that pipelines requests (its next ones already sent) is served in turn with the worker's other
connections: it cannot hold a worker while others wait."""

from __future__ import annotations

import threading
import time

import requests

PIPELINED = 5_000  # a worker answers these in about half a second when it serves nothing else
HOGS = 8  # pipelining connections: with 2 workers, each very likely serves some


def _pipeline(connection, finished_at: list[float]) -> None:
    """Sends PIPELINED requests at once and reads the answers as they come; notes when the last one came
    (nothing if the connection closed before)."""
    sender = threading.Thread(
        target=connection.send, args=(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * PIPELINED,)
    )
    sender.start()
    connection.sock.settimeout(60)
    answered = 0
    tail = b""
    while answered < PIPELINED:
        chunk = connection.sock.recv(1 << 20)
        if not chunk:
            break
        data = tail + chunk
        answered += data.count(b"HTTP/1.1 200 ")
        tail = data[-12:]  # shorter than a status line: one cut between two reads is counted with the next
    sender.join()
    if answered == PIPELINED:
        finished_at.append(time.monotonic())


def test_other_clients_are_answered_while_pipelined_requests_are_served(server, raw):
    finished_at: list[float] = []
    hogs = [
        threading.Thread(target=_pipeline, args=(raw(source=f"127.0.2.{n + 1}"), finished_at))
        for n in range(HOGS)
    ]
    for hog in hogs:
        hog.start()
    time.sleep(0.2)  # the pipelined requests are being served

    answered_at = []
    for _ in range(5):  # each on a new connection: any worker
        resp = requests.get(f"{server.base_url}/health", timeout=60, headers={"Connection": "close"})
        assert resp.status_code == 200
        answered_at.append(time.monotonic())
    for hog in hogs:
        hog.join()

    assert len(finished_at) == HOGS  # every pipelined request was answered
    assert max(answered_at) < min(finished_at)  # the others were answered before any burst ended
