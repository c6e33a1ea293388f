"""SPEC §9 across hosts: two server instances (2 workers each) sharing PostgreSQL and Redis.
Viewers see the same messages and counts wherever they are connected. (Postgres mode only.)"""

from __future__ import annotations

import time

import pytest

from bazaar.domain.models import Role
from tests.conftest import register
from tests.realtime.conftest import keep_clicking, launch
from tests.support import databases
from tests.support.shows import end

pytestmark = pytest.mark.skipif(
    not databases.postgres_mode(), reason="several instances share state through PostgreSQL and Redis only"
)


def test_a_chat_message_reaches_members_on_the_other_instance(
    connect, server, other_server, live_show, viewer
):
    here, there = connect(viewer, on=server), connect(on=other_server)
    here.join(live_show)
    there.join(live_show)

    stored = here.say(live_show, "hello from the first host")

    assert there.expect("new-message", id=stored["id"]) == stored


def test_the_viewer_count_is_the_same_on_both_instances(connect, server, other_server, live_show):
    here, there = connect(on=server), connect(on=other_server)
    here.join(live_show)
    there.join(live_show)
    connect(on=other_server).join(live_show)

    here.expect("viewer-count", count=3)
    there.expect("viewer-count", count=3)


def test_one_user_in_tabs_on_two_instances_counts_once(connect, server, other_server, live_show, viewer):
    watcher = connect(on=server)
    watcher.join(live_show)

    connect(viewer, on=server).join(live_show)
    connect(viewer, on=other_server).join(live_show)

    watcher.expect("viewer-count", count=2)
    time.sleep(0.5)
    assert watcher.received("viewer-count")[-1]["count"] == 2


def test_every_acked_message_is_stored_and_reaches_every_member(connect, server, other_server, live_show):
    senders = [register(server, Role.VIEWER) for _ in range(4)]
    members = [connect(actor, on=(server, other_server)[n % 2]) for n, actor in enumerate(senders)]
    members += [connect(on=other_server), connect(on=server)]  # watchers only
    for member in members:
        member.join(live_show)

    for round_ in range(5):
        for n, sender in enumerate(members[:4]):
            sender.send(
                "send-message",
                {"sessionId": live_show["id"], "message": f"{n}:{round_}"},
                ref=f"m{n}:{round_}",
            )
    acked = {members[n].reply(f"m{n}:{r}")["data"]["id"] for n in range(4) for r in range(5)}

    assert len(acked) == 20
    for member in members:
        member.eventually(lambda client: acked <= {m["id"] for m in client.received("new-message")})
    stored = server.get(f"/api/sessions/{live_show['id']}/chat", params={"limit": 100}).data
    assert {m["id"] for m in stored} == acked


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


def test_click_stats_come_once_per_interval_across_the_cluster(
    connect, server, other_server, live_show, product
):
    viewers = [connect(on=(server, other_server)[n % 2]) for n in range(6)]
    for client in viewers:
        client.join(live_show)

    keep_clicking(viewers, live_show, product, seconds=3.2)  # CLICK_STATS_INTERVAL_S is 1
    time.sleep(1.2)

    timestamps = [tuple(s["timestamp"] for s in client.received("product-click-stats")) for client in viewers]
    assert 2 <= len(timestamps[0]) <= 5
    assert len(set(timestamps)) == 1  # everyone got the same broadcasts, each once


def test_end_stream_reaches_both_instances_and_persists_the_counts(
    connect, server, other_server, live_show, product, creator
):
    here, there = connect(on=server), connect(on=other_server)
    for client in (here, there):
        client.join(live_show)
        client.request("send-reaction", {"sessionId": live_show["id"], "type": "wow"})
        client.request("product-click", {"sessionId": live_show["id"], "productId": product["id"]})

    end(other_server, creator, live_show)

    assert here.expect("stream-ended")["status"] == "ended"
    assert there.expect("stream-ended")["status"] == "ended"
    assert server.get(f"/api/sessions/{live_show['id']}/reactions").data["reactions"] == {"wow": 2}
    stats = server.get(f"/api/sessions/{live_show['id']}/conversion-stats", as_=creator).json["data"]
    assert stats["products"][0]["totalClicks"] == 2
    viewers = server.get(f"/api/sessions/{live_show['id']}/analytics/viewers", as_=creator).json["viewers"]
    assert len(viewers) == 2 and not any(v["isActive"] for v in viewers)


def test_the_viewers_of_a_killed_instance_vanish_from_the_count(connect, server, server_env, live_show):
    doomed = launch(server_env, "doomed")
    try:
        survivor = connect(on=server)
        survivor.join(live_show)
        for _ in range(2):
            connect(on=doomed).join(live_show)
        survivor.expect("viewer-count", count=3)

        doomed.kill()
        killed_at = time.monotonic()

        survivor.expect("viewer-count", count=1, timeout_s=8)
        assert time.monotonic() - killed_at <= 3 + 1.5  # PRESENCE_TTL_S, plus a refresh and a count interval
    finally:
        doomed.kill()
