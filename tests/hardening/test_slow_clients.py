"""Clients that stop reading while their room is flooded: each send queue is bounded in bytes
(WS_SEND_QUEUE_BYTES), every one of them gets a 1013 close, and the server's memory stays bounded."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import requests

from tests.hardening.rawws import CLOSE, RawWebSocket

SLOW_CLIENTS = 50
MESSAGE = "flood " * 10_000  # a ~60 KB new-message frame


def _rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def _join(sock: RawWebSocket, show: dict) -> None:
    sock.send_text(json.dumps({"event": "join-session", "data": {"sessionId": show["id"]}, "ref": "join"}))
    while True:
        _, payload = sock.next_data_frame()
        if json.loads(payload).get("ref") == "join":
            return


def _close_code_after_reading_everything(sock: RawWebSocket) -> int | None:
    sock.sock.settimeout(10)
    try:
        while True:
            opcode, payload = sock.next_frame()
            if opcode == CLOSE:
                return struct.unpack("!H", payload[:2])[0]
    except (ConnectionError, TimeoutError):
        return None


def test_clients_that_stop_reading_get_a_1013_close_and_memory_stays_bounded(server, creator, live_show):
    workers = server.pids()[1:]
    # each from an address of its own, as real viewers (MAX_CONNECTIONS_PER_ADDRESS is small here)
    slow = [
        RawWebSocket(server.port, source=f"127.0.1.{n + 1}", receive_buffer_bytes=4096)
        for n in range(SLOW_CLIENTS)
    ]
    try:
        for sock in slow:
            _join(sock, live_show)
        rss_before = _rss_bytes(workers)

        # The clients read nothing meanwhile. 100 frames of ~60 KB: far over a 64 KiB queue plus what the
        # kernel buffers hold.
        chat = requests.Session()
        chat.headers["Authorization"] = f"Bearer {creator.token}"
        url = f"{server.base_url}/api/sessions/{live_show['id']}/chat"
        for _ in range(100):
            assert chat.post(url, json={"message": MESSAGE}, timeout=5).status_code == 201
        rss_after = _rss_bytes(workers)

        codes = [_close_code_after_reading_everything(sock) for sock in slow]
    finally:
        for sock in slow:
            sock.close()
    assert codes == [1013] * SLOW_CLIENTS
    # Each queue holds at most 64 KiB (plus one write in flight of at most as much): 50 × 128 KiB = 6.4 MB.
    assert rss_after - rss_before < 16 * 1024 * 1024, (rss_before, rss_after)
    assert "closed with 1013" in server.log()
