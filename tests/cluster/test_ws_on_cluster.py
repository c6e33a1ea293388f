"""SPEC §9 across hosts on a Redis Cluster: two server instances (2 workers each) share PostgreSQL and a
3-master Redis Cluster (REDIS_CLUSTER=true). Chat fans out over sharded pub/sub, presence and rate limits
run on the shard of each room, and a shard's master restarting interrupts its rooms only until the
brokers resubscribe. (Postgres mode only.)"""

from __future__ import annotations

import time

import pytest

from bazaar.domain.models import Role
from tests.conftest import make_product, register
from tests.realtime.conftest import launch, realtime_env
from tests.support import databases
from tests.support.shows import make_show, start
from tests.support.ws_client import WsClient

pytestmark = pytest.mark.skipif(
    not databases.postgres_mode(), reason="several instances share state through PostgreSQL and Redis only"
)


@pytest.fixture(scope="module")
def cluster_env(database_url, services, redis_cluster) -> dict[str, str]:
    redis_cluster.flush()
    return realtime_env(database_url, REDIS_URL=redis_cluster.url, REDIS_CLUSTER="true")


@pytest.fixture(scope="module")
def server(cluster_env):
    running = launch(cluster_env, "cluster-server")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def other_server(cluster_env):
    running = launch(cluster_env, "other-cluster-server")
    yield running
    running.stop()


@pytest.fixture
def api(server):
    return server


@pytest.fixture(autouse=True)
def emptied_afterwards(app):
    """The rows these tests make through the servers are deleted after each (the root `clean_state` does
    that for every test using `app`), so the tests that run next start from empty tables."""


@pytest.fixture
def live_show(server, creator) -> dict:
    show = make_show(server, creator, productIds=[make_product(server, creator)["id"]])
    start(server, creator, show)
    return show


@pytest.fixture
def connect():
    clients: list[WsClient] = []

    def open_client(actor=None, *, on) -> WsClient:
        client = WsClient(on.ws_url, actor=actor).connect()
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


def test_a_chat_message_reaches_members_on_the_other_instance(
    connect, server, other_server, live_show, viewer
):
    here, there = connect(viewer, on=server), connect(on=other_server)
    here.join(live_show)
    there.join(live_show)

    stored = here.say(live_show, "hello over the cluster")

    assert there.expect("new-message", id=stored["id"]) == stored


def test_the_viewer_count_is_the_same_on_both_instances(connect, server, other_server, live_show, viewer):
    here, there = connect(on=server), connect(on=other_server)
    here.join(live_show)
    there.join(live_show)
    connect(viewer, on=other_server).join(live_show)
    connect(viewer, on=server).join(live_show)  # a second tab of the same viewer counts once

    here.expect("viewer-count", count=3)
    there.expect("viewer-count", count=3)


def test_the_chat_limit_holds_across_instances(connect, server, other_server, live_show, viewer):
    tabs = [connect(viewer, on=server), connect(viewer, on=other_server)]
    for tab in tabs:
        tab.join(live_show)

    replies = [
        tabs[n % 2].request("send-message", {"sessionId": live_show["id"], "message": f"m{n}"})
        for n in range(6)
    ]

    assert [r["event"] for r in replies] == ["ack"] * 5 + ["error"]
    assert replies[-1]["data"]["code"] == "rate_limited"


def test_rooms_on_every_shard_keep_chatting_after_a_shards_master_restarts(
    connect, server, other_server, creator, redis_cluster
):
    shows = {}  # master port → a live show whose room is on that shard
    while len(shows) < len(redis_cluster.ports):
        show = make_show(server, creator)
        shows.setdefault(redis_cluster.port_of(show["id"]), show)
    for show in shows.values():
        start(server, creator, show)
    senders = {port: register(server, Role.VIEWER) for port in shows}
    members = {}
    for port, show in shows.items():
        members[port] = (connect(senders[port], on=server), connect(on=other_server))
        for member in members[port]:
            member.join(show)

    restarted = redis_cluster.ports[1]
    redis_cluster.restart(restarted)

    for port, show in shows.items():
        here, there = members[port]
        assert delivered_within(here, there, show, seconds=20), f"the room on {port} went quiet"
    # presence on the restarted shard came back with the members' next refresh
    watcher = connect(on=server)
    watcher.join(shows[restarted])
    watcher.expect("viewer-count", count=3)


def delivered_within(sender: WsClient, member: WsClient, show: dict, *, seconds: float) -> bool:
    """Whether a message `sender` sends to the room reaches `member` within `seconds` (sending again
    while the room's shard is away: meanwhile sending fails, or its frame is lost)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reply = sender.request("send-message", {"sessionId": show["id"], "message": "still here?"})
        if reply["event"] == "ack":
            try:
                member.expect("new-message", id=reply["data"]["id"], timeout_s=3)
                return True
            except AssertionError:
                pass
        time.sleep(0.5)
    return False
