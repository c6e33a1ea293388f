"""Graceful shutdown: SIGTERM closes every WebSocket with 1001 and closes their view records."""

from __future__ import annotations

import time

from bazaar.domain.models import SessionView
from bazaar.infra import db
from tests.realtime.conftest import launch
from tests.support.ws_client import WsClient


def test_sigterm_closes_sockets_with_1001_and_closes_their_views(server_env, live_show, viewer):
    stopping = launch(server_env, "stopping")
    clients = [WsClient(stopping.ws_url, actor=viewer if n == 0 else None).connect() for n in range(4)]
    for client in clients:
        client.join(live_show)

    started = time.monotonic()
    assert stopping.stop() == 0

    assert time.monotonic() - started < 5  # well within the graceful timeout
    assert [client.wait_closed() for client in clients] == [1001] * 4
    with db.connection():
        views = list(SessionView.select().where(SessionView.session == live_show["id"]))
    assert len(views) == 4
    assert all(view.left_at is not None and view.watch_seconds is not None for view in views)
