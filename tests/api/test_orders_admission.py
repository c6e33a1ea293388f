"""A burst of buyers (SPEC §11): the buy request's admission gate, and the read before the reservation
being only a hint (README, "Selling")."""

from __future__ import annotations

import threading
import time

import pytest

from bazaar.domain.errors import Unavailable
from bazaar.domain.models import Order
from bazaar.entry.http.orders import Gate
from bazaar.infra import db
from bazaar.services import orders as order_rules
from tests.api.conftest import show_in_status
from tests.conftest import register
from tests.support.selling import buy, open_drop, remaining_of, stocked_product


def _wait_until(condition) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_the_gate_admits_waiting_requests_in_arrival_order():
    gate = Gate(1, wait_s=5)
    admitted: list[int] = []

    def request(number: int) -> None:
        with gate.admitted():
            admitted.append(number)

    threads = []
    with gate.admitted():
        for number in range(5):
            threads.append(threading.Thread(target=request, args=(number,)))
            threads[-1].start()
            _wait_until(lambda: gate.waiting == number + 1)
    for thread in threads:
        thread.join(5)
    assert admitted == [0, 1, 2, 3, 4]


def test_the_gate_lets_size_requests_in_at_once():
    gate = Gate(2, wait_s=0.05)
    with gate.admitted(), gate.admitted():
        with pytest.raises(Unavailable):
            with gate.admitted():
                pass
    with gate.admitted(), gate.admitted():  # the one that gave up kept no place
        assert gate.waiting == 0


def test_a_request_left_waiting_too_long_is_a_503():
    gate = Gate(1, wait_s=0.05)
    with gate.admitted():
        with pytest.raises(Unavailable) as refused:
            with gate.admitted():
                pass
    assert refused.value.status == 503
    assert gate.waiting == 0


def test_a_stale_read_saying_units_remain_never_sells_more(api, creator, services, monkeypatch):
    """Another worker sold the last unit after this one read the drop: the conditional decrement refuses."""
    lamp = stocked_product(api, creator, stock=5, name="Desk Lamp")
    show = show_in_status(api, creator, "live", productIds=[lamp["id"]])
    open_drop(api, creator, show, lamp, quantity=1, limitPerBuyer=1)
    stale = order_rules._OFFER.first(show["id"], lamp["id"])  # says 1 unit remains, from now on
    monkeypatch.setattr(order_rules._OFFER, "first", lambda *_: stale)
    monkeypatch.setattr(services.orders, "_remember_sold_out", lambda *_: None)  # no memo to hide behind

    first = buy(api, register(api), show, lamp)
    later = [buy(api, register(api), show, lamp) for _ in range(3)]

    assert first.status == 201, first
    assert [(r.status, r.json["error"]) for r in later] == [(409, "sold_out")] * 3
    with db.connection():
        assert Order.select().where(Order.session == show["id"]).count() == 1
    assert remaining_of(show, lamp) == 0
