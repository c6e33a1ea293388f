"""Selling in real time (SPEC §11) on the real server, in both dialects: drop-updated, order-placed with
a masked buyer name, stock-update, sold-out to everyone in the room; sales-stats to the owner alone."""

from __future__ import annotations

import time

from tests.conftest import register
from tests.realtime.conftest import WORKERS
from tests.support.selling import bought, open_drop, stocked_product
from tests.support.shows import make_show, start


def test_a_drop_sells_out_live_and_the_owner_alone_sees_sales(server, connect, sio_connect, creator, viewer):
    lamp = stocked_product(server, creator, stock=5, name="Lamp", price=20)
    show = make_show(server, creator, productIds=[lamp["id"]])
    start(server, creator, show)
    owner, watcher, fan = connect(creator), connect(viewer), sio_connect(register(server))
    for client in (owner, watcher, fan):
        client.join(show)

    open_drop(server, creator, show, lamp, quantity=2)
    for expect in (watcher.expect, owner.expect):
        assert expect("drop-updated")["remaining"] == 2
    assert fan.expect("drop-updated")["dropQuantity"] == 2

    buyer = register(server, username="zoe_buys")
    order = bought(server, buyer, show, lamp)
    placed = watcher.expect("order-placed")
    assert placed == {
        "sessionId": show["id"],
        "productId": lamp["id"],
        "quantity": 1,
        "buyerName": "z*******",
    }
    assert fan.expect("order-placed")["buyerName"] == "z*******"
    assert watcher.expect("stock-update", remaining=1)["productId"] == lamp["id"]

    bought(server, register(server), show, lamp)
    assert watcher.expect("sold-out") == {"sessionId": show["id"], "productId": lamp["id"]}
    assert fan.expect("sold-out")["productId"] == lamp["id"]
    assert watcher.expect("stock-update", remaining=0)

    assert server.post(f"/api/orders/{order['id']}/mark-paid", as_=creator).status == 200
    stats = owner.expect("sales-stats")
    assert stats == {"sessionId": show["id"], "orders": 1, "unitsSold": 1, "revenue": 20.0}
    time.sleep(0.5)  # anything sent to the room has arrived by now
    assert watcher.received("sales-stats") == []
    assert fan.received("sales-stats") == []


def test_stock_updates_are_coalesced(server, connect, creator, server_env):
    """Stock-updates are coalesced however fast the orders come, and the last value always follows. The
    sends take turns across the cluster (tests/unit/test_coalescer.py holds them to one per interval); this
    bound, one per worker per interval, only says the real server coalesces at all."""
    lamp = stocked_product(server, creator, stock=40, price=5)
    show = make_show(server, creator, productIds=[lamp["id"]])
    start(server, creator, show)
    watcher = connect(register(server))
    watcher.join(show)
    open_drop(server, creator, show, lamp, quantity=30)
    buyers = [register(server) for _ in range(20)]
    started = time.monotonic()
    for buyer in buyers:
        bought(server, buyer, show, lamp)
    elapsed = time.monotonic() - started
    watcher.expect("stock-update", remaining=10)  # the last value always arrives
    # Every order-placed too; not necessarily before that stock-update: the other worker's coalescer may
    # read the last value between this order's commit and its worker publishing order-placed.
    watcher.eventually(lambda w: len(w.received("order-placed")) >= 20)
    assert len(watcher.received("order-placed")) == 20
    interval = float(server_env.get("STOCK_UPDATE_INTERVAL_S", 0.25))
    assert len(watcher.received("stock-update")) <= WORKERS * (elapsed / interval + 2)
