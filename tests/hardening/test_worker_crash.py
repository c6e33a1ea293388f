"""A worker SIGKILLed during a live show: gunicorn starts another, REST keeps answering (never a 500), and
every viewer — the ones on the dead worker after reconnecting with `sinceMessageId` — ends up with every
acknowledged chat message (the database is the truth)."""

from __future__ import annotations

import os
import re
import signal
import time

import requests

from tests.support.ws_client import WsClient

VIEWERS = 12  # spread over the workers by the kernel: some are on the one that dies


def _post_chat(server, show: dict, creator, text: str) -> str:
    """The id of the acknowledged message; a request the dying worker had accepted is retried."""
    url = f"{server.base_url}/api/sessions/{show['id']}/chat"
    headers = {"Authorization": f"Bearer {creator.token}"}
    for _ in range(20):
        try:
            resp = requests.post(url, json={"message": text}, headers=headers, timeout=5)
        except requests.ConnectionError:
            time.sleep(0.1)
            continue
        assert resp.status_code == 201, (resp.status_code, resp.text[:300])
        return resp.json()["data"]["id"]
    raise AssertionError("no worker took the chat message")


def _ready_workers(server) -> int:
    return len(re.findall(r"worker \d+ ready", server.log()))


def _message_ids(client: WsClient) -> list[str]:
    return [message["id"] for message in client.received("new-message")]


def test_a_killed_worker_loses_no_acknowledged_chat_message(server, creator, live_show):
    viewers = [WsClient(server.ws_url).connect() for _ in range(VIEWERS)]
    try:
        for viewer in viewers:
            viewer.join(live_show)
        acknowledged = [_post_chat(server, live_show, creator, f"before {n}") for n in range(5)]
        for viewer in viewers:
            viewer.eventually(lambda client: set(acknowledged) <= set(_message_ids(client)))

        ready_before = _ready_workers(server)
        os.kill(server.pids()[1], signal.SIGKILL)
        acknowledged += [_post_chat(server, live_show, creator, f"during {n}") for n in range(5)]
        deadline = time.monotonic() + 20
        while _ready_workers(server) <= ready_before:
            assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
            time.sleep(0.1)
        acknowledged += [_post_chat(server, live_show, creator, f"after {n}") for n in range(5)]

        dropped = [viewer for viewer in viewers if viewer.closed.wait(0.5)]
        assert dropped, "no viewer was on the killed worker"
        for viewer in list(viewers):
            received = _message_ids(viewer)
            if viewer in dropped:
                again = WsClient(server.ws_url).connect()
                viewers.append(again)  # closed at the end
                again.join(live_show, since=received[-1])
                again.eventually(
                    lambda client: set(acknowledged) <= set(received) | set(_message_ids(client))
                )
            else:
                viewer.eventually(lambda client: set(acknowledged) <= set(_message_ids(client)))
    finally:
        for viewer in viewers:
            viewer.close()
    assert requests.get(server.base_url + "/health", timeout=2).status_code == 200
