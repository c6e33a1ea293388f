"""No oversell under a burst (SPEC §11): 2,000 buyers press buy at once on a drop of 50 units, spread
over every instance and worker of the real server (2 instances × 2 workers on PostgreSQL + Redis; the
one embedded worker otherwise)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bazaar.domain.models import OrderStatus
from config import load_settings
from tests.support import databases
from tests.support.selling import many_buyers, open_drop, orders_of, remaining_of, stock_of, stocked_product
from tests.support.shows import end, make_show, start

BUYERS = 2000
UNITS = 50
STOCK = 80
CONCURRENCY = 200  # requests in flight at once


@pytest.fixture
def servers(server, request):
    if databases.postgres_mode():
        return [server, request.getfixturevalue("other_server")]
    return [server]


def _buy(base_url: str, token: str, show: dict, product: dict, key: str) -> tuple[int, str | None]:
    resp = requests.post(
        f"{base_url}/api/sessions/{show['id']}/orders",
        json={"productId": product["id"]},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        timeout=60,
    )
    return resp.status_code, resp.json().get("error")


def test_a_burst_sells_exactly_the_units_offered(servers, server_env, creator):
    server = servers[0]
    product = stocked_product(server, creator, stock=STOCK, name="Limited Sneakers")
    show = make_show(server, creator, productIds=[product["id"]])
    start(server, creator, show)
    open_drop(server, creator, show, product, quantity=UNITS)
    tokens = many_buyers(BUYERS, load_settings(server_env, env_file=None))

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        answers = list(
            pool.map(
                lambda i: _buy(servers[i % len(servers)].base_url, tokens[i], show, product, f"burst-{i}"),
                range(BUYERS),
            )
        )

    assert Counter(answers) == {(201, None): UNITS, (409, "sold_out"): BUYERS - UNITS}
    orders = orders_of(show)
    assert len(orders) == UNITS
    assert {o.status for o in orders} == {OrderStatus.RESERVED}
    assert len({o.buyer_id for o in orders}) == UNITS
    assert remaining_of(show, product) == 0
    assert stock_of(product) == STOCK - UNITS
    end(server, creator, show)
    assert stock_of(product) == STOCK - UNITS  # nothing unsold to return; the reserved units stay out
