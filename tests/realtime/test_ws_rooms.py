"""SPEC §9, rooms on one real server (2 workers on PostgreSQL + Redis, 1 on the embedded default):
joining, presence and counts, chat, reactions, clicks, showcase, replay, rate limits, end-stream."""

from __future__ import annotations

import time

from bazaar.domain.models import Role, Session
from bazaar.infra import db
from tests.conftest import make_product, register
from tests.realtime.conftest import keep_clicking
from tests.support.shows import end, start


def test_join_replies_with_the_room_state(connect, live_show, viewer):
    client = connect(viewer)

    state = client.join(live_show)

    assert state == {
        "sessionId": live_show["id"],
        "status": "live",
        "viewerCount": 1,
        "activeProduct": None,
        "reactions": {},
        "role": "viewer",
    }


def test_join_accepts_a_bare_session_id(connect, live_show):
    client = connect()
    client.send("join-session", live_show["id"], ref="j")

    assert client.reply("j")["data"]["sessionId"] == live_show["id"]


def test_joining_an_unknown_session_is_an_error(connect):
    reply = connect().request("join-session", {"sessionId": "00000000-0000-4000-8000-000000000000"})

    assert reply["data"]["code"] == "not_found"


def test_the_owner_joins_as_publisher_and_is_not_counted(connect, live_show, creator, viewer):
    owner = connect(creator)
    assert owner.join(live_show)["role"] == "publisher"

    connect(viewer).join(live_show)

    assert owner.expect("viewer-count", count=1)
    time.sleep(0.5)
    assert owner.received("viewer-count")[-1]["count"] == 1, owner.frames


def test_one_user_in_two_tabs_counts_once(connect, live_show, viewer, other_viewer):
    watcher = connect(other_viewer)
    watcher.join(live_show)
    first_tab, second_tab = connect(viewer), connect(viewer)

    first_tab.join(live_show)
    state = second_tab.join(live_show)

    assert state["viewerCount"] == 2
    watcher.expect("viewer-count", count=2)


def test_anonymous_viewers_count_one_per_connection(connect, live_show):
    first, second = connect(), connect()
    first.join(live_show)

    assert second.join(live_show)["viewerCount"] == 2


def test_the_count_drops_when_a_viewer_leaves_and_the_view_closes(
    connect, live_show, creator, viewer, server
):
    watcher = connect()
    watcher.join(live_show)
    leaving = connect(viewer)
    leaving.join(live_show)
    watcher.expect("viewer-count", count=2)

    reply = leaving.request("leave-session", live_show["id"])

    assert reply["event"] == "ack"
    watcher.expect("viewer-count", count=1)
    viewers = server.get(f"/api/sessions/{live_show['id']}/analytics/viewers", as_=creator).json["viewers"]
    mine = [v for v in viewers if v["userId"] == viewer.id]
    assert len(mine) == 1 and mine[0]["isActive"] is False


def test_disconnecting_leaves_the_room(connect, live_show, viewer):
    watcher = connect()
    watcher.join(live_show)
    leaving = connect(viewer)
    leaving.join(live_show)
    watcher.expect("viewer-count", count=2)

    leaving.close()

    watcher.expect("viewer-count", count=1)


def test_a_chat_message_is_stored_acked_and_reaches_the_room(connect, live_show, viewer, server):
    sender, listener = connect(viewer), connect()
    sender.join(live_show)
    listener.join(live_show)

    stored = sender.say(live_show, "  is this in stock?  ")

    assert stored["message"] == "is this in stock?"
    assert stored["userId"] == viewer.id and stored["userName"] == viewer.username
    assert listener.expect("new-message", id=stored["id"]) == stored
    assert sender.expect("new-message", id=stored["id"]) == stored
    history = server.get(f"/api/sessions/{live_show['id']}/chat").data
    assert [m["id"] for m in history] == [stored["id"]]


def test_chatting_needs_a_joined_room(connect, live_show, viewer):
    reply = connect(viewer).request("send-message", {"sessionId": live_show["id"], "message": "hello"})

    assert reply["data"]["code"] == "not_joined"


def test_an_invalid_message_is_refused_and_nothing_is_stored(connect, live_show, viewer, server):
    client = connect(viewer)
    client.join(live_show)

    reply = client.request("send-message", {"sessionId": live_show["id"], "message": "x" * 501})

    assert reply["data"]["code"] == "validation_error"
    assert server.get(f"/api/sessions/{live_show['id']}/chat/count").data["count"] == 0


def test_chat_is_limited_per_user_across_connections(connect, live_show, viewer):
    tabs = [connect(viewer) for _ in range(3)]
    for tab in tabs:
        tab.join(live_show)

    replies = [
        tabs[n % 3].request("send-message", {"sessionId": live_show["id"], "message": f"m{n}"})
        for n in range(6)
    ]

    assert [r["event"] for r in replies] == ["ack"] * 5 + ["error"]
    assert replies[-1]["data"]["code"] == "rate_limited"


def test_reactions_are_counted_exactly_and_summarized(connect, live_show, server):
    reactors = [connect() for _ in range(3)]
    for client in reactors:
        client.join(live_show)

    for client in reactors:
        for kind in ("fire", "fire", "love"):
            assert (
                client.request("send-reaction", {"sessionId": live_show["id"], "type": kind})["event"]
                == "ack"
            )

    assert reactors[0].expect("reaction-stats", counts={"fire": 6, "love": 3}, total=9)
    assert len(reactors[0].received("new-reaction")) == 9
    reactions = server.get(f"/api/sessions/{live_show['id']}/reactions").data
    assert reactions["reactions"] == {"fire": 6, "love": 3}


def test_an_unknown_reaction_type_is_refused(connect, live_show):
    client = connect()
    client.join(live_show)

    reply = client.request("send-reaction", {"sessionId": live_show["id"], "type": "meh"})

    assert reply["data"]["code"] == "validation_error"


def test_reactions_are_limited_per_connection(connect, live_show, server):
    client = connect()
    client.join(live_show)
    for _ in range(25):
        client.send("send-reaction", {"sessionId": live_show["id"], "type": "clap"})
    client.request("ping")

    refusals = [e for e in client.received("error") if e["code"] == "rate_limited"]

    assert len(refusals) == 5
    assert server.get(f"/api/sessions/{live_show['id']}/reactions").data["reactions"] == {"clap": 20}


def test_a_product_click_counts_total_and_unique(connect, live_show, product, viewer, creator, server):
    signed_in, anonymous = connect(viewer), connect()
    for client in (signed_in, anonymous):
        client.join(live_show)
    click = {"sessionId": live_show["id"], "productId": product["id"]}

    for client in (signed_in, signed_in, anonymous):
        assert client.request("product-click", click)["event"] == "ack"
    assert anonymous.request("track-product-click", click)["event"] == "ack"

    stats = server.get(f"/api/sessions/{live_show['id']}/conversion-stats", as_=creator).json["data"]
    assert stats["products"][0]["totalClicks"] == 4
    assert stats["products"][0]["uniqueClicks"] == 2


def test_a_click_on_a_product_outside_the_session_is_refused(connect, live_show, server, creator):
    other_product = make_product(server, creator, name="Not On Show")
    client = connect()
    client.join(live_show)

    reply = client.request("product-click", {"sessionId": live_show["id"], "productId": other_product["id"]})

    assert reply["data"]["code"] == "validation_error"


def test_clicks_count_only_while_live(connect, show, product):
    client = connect()
    client.join(show)

    reply = client.request("product-click", {"sessionId": show["id"], "productId": product["id"]})

    assert reply["data"]["code"] == "session_not_live"


def test_clicks_are_limited_per_connection(connect, live_show, product):
    client = connect()
    client.join(live_show)
    for _ in range(12):
        client.send("product-click", {"sessionId": live_show["id"], "productId": product["id"]})
    client.request("ping")

    assert len([e for e in client.received("error") if e["code"] == "rate_limited"]) == 2


def test_click_stats_come_once_per_interval_not_once_per_worker(connect, live_show, product):
    viewers = [connect() for _ in range(6)]  # spread over the workers
    for client in viewers:
        client.join(live_show)

    keep_clicking(viewers, live_show, product, seconds=3.2)  # CLICK_STATS_INTERVAL_S is 1
    time.sleep(1.2)

    for client in viewers:
        stats = client.received("product-click-stats")
        assert 2 <= len(stats) <= 5, stats
        assert len({s["timestamp"] for s in stats}) == len(stats)
        assert len(client.received("trending-products")) == len(stats)
    assert viewers[0].received("product-click-stats")[-1]["productStats"][0]["productId"] == product["id"]


def test_the_owner_showcases_a_product_over_the_socket(connect, live_show, product, creator, viewer):
    owner, watcher = connect(creator), connect(viewer)
    owner.join(live_show)
    watcher.join(live_show)

    reply = owner.request("showcase-product", {"sessionId": live_show["id"], "productId": product["id"]})

    assert reply["data"]["activeProductId"] == product["id"]
    assert watcher.expect("product-showcased")["product"]["id"] == product["id"]
    owner.request("showcase-product", {"sessionId": live_show["id"], "productId": None})
    assert watcher.expect("showcase-cleared") == {"sessionId": live_show["id"]}


def test_only_the_owner_showcases(connect, live_show, product, viewer):
    client = connect(viewer)
    client.join(live_show)

    reply = client.request("showcase-product", {"sessionId": live_show["id"], "productId": product["id"]})

    assert reply["data"]["code"] == "forbidden"


def test_a_join_with_since_message_id_replays_the_missed_messages_in_order(connect, live_show, viewer):
    sender = connect(viewer)
    sender.join(live_show)
    first = sender.say(live_show, "one")
    missed = [sender.say(live_show, text)["id"] for text in ("two", "three")]

    late = connect()
    state = late.join(live_show, since=first["id"])

    assert state["replayed"] == 2
    assert [late.expect("new-message")["id"] for _ in missed] == missed


def test_replay_and_live_messages_arrive_once_each_in_order(connect, server, live_show):
    senders = [register(server, Role.VIEWER) for _ in range(3)]
    clients = [connect(actor) for actor in senders]
    for client in clients:
        client.join(live_show)
    anchor = clients[0].say(live_show, "anchor")
    for n in range(2):
        clients[n].send("send-message", {"sessionId": live_show["id"], "message": f"before {n}"}, ref=f"b{n}")

    late = connect()
    late.join(live_show, since=anchor["id"])  # races the two messages above and the ones below
    for n in range(3):
        clients[n].send("send-message", {"sessionId": live_show["id"], "message": f"after {n}"}, ref=f"a{n}")
    acked = []
    for n, client in enumerate(clients):
        refs = ([f"b{n}"] if n < 2 else []) + [f"a{n}"]
        acked += [client.reply(ref)["data"]["id"] for ref in refs]
    time.sleep(0.5)

    received = [m["id"] for m in late.received("new-message")]
    assert sorted(received) == sorted(acked)  # each acked message exactly once


def test_a_join_with_an_unknown_since_message_id_is_refused(connect, live_show):
    client = connect()

    reply = client.request(
        "join-session",
        {"sessionId": live_show["id"], "sinceMessageId": "00000000-0000-4000-8000-000000000000"},
    )

    assert reply["data"]["code"] == "not_found"


def test_end_stream_reaches_the_room_and_persists_the_counts(connect, live_show, product, creator, server):
    viewers = [connect() for _ in range(3)]
    for client in viewers:
        client.join(live_show)
        client.request("send-reaction", {"sessionId": live_show["id"], "type": "heart"})
        client.request("product-click", {"sessionId": live_show["id"], "productId": product["id"]})

    end(server, creator, live_show)

    for client in viewers:
        assert client.expect("stream-ended")["status"] == "ended"
    assert server.get(f"/api/sessions/{live_show['id']}/reactions").data["reactions"] == {"heart": 3}
    stats = server.get(f"/api/sessions/{live_show['id']}/conversion-stats", as_=creator).json["data"]
    assert stats["products"][0]["totalClicks"] == 3
    analytics = server.get(f"/api/sessions/{live_show['id']}/analytics", as_=creator).json
    assert analytics["viewers"]["peak"] == 3


def test_stream_started_reaches_viewers_waiting_in_the_room(connect, show, creator, server):
    waiting = connect()
    waiting.join(show)

    start(server, creator, show)

    assert waiting.expect("stream-started")["status"] == "live"


def test_under_a_reaction_storm_broadcasts_are_capped_but_counts_stay_exact(connect, live_show, server):
    storm = [connect() for _ in range(6)]
    for client in storm:
        client.join(live_show)

    for client in storm:
        for _ in range(20):  # each connection's limit per second
            client.send("send-reaction", {"sessionId": live_show["id"], "type": "fire"})
    for client in storm:
        client.request("ping")  # every reaction before it has been handled

    storm[0].expect("reaction-stats", total=120)
    assert len(storm[0].received("new-reaction")) < 120  # REACTION_BROADCAST_MAX_PER_S per worker
    assert server.get(f"/api/sessions/{live_show['id']}/reactions").data["reactions"] == {"fire": 120}


def test_live_counters_reach_the_database_within_a_checkpoint_interval(connect, live_show):
    client = connect()
    client.join(live_show)

    client.request("send-reaction", {"sessionId": live_show["id"], "type": "love"})

    deadline = time.monotonic() + 3  # CHECKPOINT_INTERVAL_S is 1
    while True:
        with db.connection():
            persisted = Session.get_by_id(live_show["id"]).reaction_counts
        if persisted == {"love": 1} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert persisted == {"love": 1}
