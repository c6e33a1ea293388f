"""The checkpoint of live counters runs at most one interval apart even when the worker that took the last
one is SIGKILLed, so a Redis restart shortly after a worker's death loses at most one interval of
reactions and clicks.

The server here has its own redis-server (the checkpoint turn is cluster-wide: another test server's
workers must not take it) and a checkpoint interval long enough to tell one interval from the one and a
half a dead holder's lease used to block."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
import redis

from bazaar.domain.models import Role, Session
from bazaar.infra import db
from tests.conftest import make_product, register
from tests.realtime.private_redis import private_redis, server_on  # noqa: F401 — fixture
from tests.support.shows import make_show, start
from tests.support.waiting import wait_until
from tests.support.ws_client import WsClient

INTERVAL_S = 5.0
SLACK_S = 1.5  # a loaded 2-core machine: the checkpoint's own queries, the poll below


@pytest.fixture(scope="module")
def checkpoint_server(database_url, services, private_redis):
    running = server_on(
        private_redis, database_url, "checkpoint-server", CHECKPOINT_INTERVAL_S=str(INTERVAL_S)
    )
    yield running
    running.stop()


def _persisted_reactions(show: dict) -> int:
    try:
        return sum(Session.get_by_id(uuid.UUID(show["id"])).reaction_counts.values())
    finally:
        db.release()


def _react(client: WsClient, show: dict, times: int) -> None:
    for _ in range(times):
        reply = client.request("send-reaction", {"sessionId": show["id"], "type": "heart"})
        assert reply["event"] == "ack", reply


def test_a_killed_checkpointing_worker_does_not_delay_the_next_checkpoint(checkpoint_server, private_redis):
    server = checkpoint_server
    creator = register(server, Role.CREATOR)
    show = make_show(server, creator, productIds=[make_product(server, creator)["id"]])
    start(server, creator, show)
    with WsClient(server.ws_url).connect() as client:
        client.join(show)
        _react(client, show, 3)
        assert wait_until(lambda: _persisted_reactions(show) == 3, timeout_s=INTERVAL_S + SLACK_S)
        checkpointed_at = time.monotonic()  # within a poll of the checkpoint
        _react(client, show, 2)

    taker = redis.Redis.from_url(private_redis.url, decode_responses=True).get("bazaar:lease:checkpoint")
    pid = int(taker.split(":")[1])  # "<host>:<pid>:<nonce>"
    assert pid in server.pids()[1:], (taker, server.pids())
    os.kill(pid, signal.SIGKILL)

    assert wait_until(lambda: _persisted_reactions(show) == 5, timeout_s=INTERVAL_S + SLACK_S), (
        f"not checkpointed within {INTERVAL_S + SLACK_S} s of the last checkpoint "
        f"({time.monotonic() - checkpointed_at:.1f} s now)"
    )


def test_a_turn_goes_to_one_caller_per_period_whoever_took_the_last(services):
    """The checkpoint's turn (the embedded default's in-process one, or Redis's)."""
    name = f"turn-test:{uuid.uuid4().hex}"
    assert services.live_state.take_turn(name, "worker-1", 0.3)
    assert not services.live_state.take_turn(name, "worker-2", 0.3)
    assert not services.live_state.take_turn(name, "worker-1", 0.3)  # not renewed by its taker either
    taken = time.monotonic()
    assert wait_until(lambda: services.live_state.take_turn(name, "worker-2", 0.3), timeout_s=5)
    assert time.monotonic() - taken >= 0.25
