from tests.conftest import make_product


def test_creator_creates_and_reads_a_product(api, creator):
    product = make_product(api, creator)
    resp = api.get(f"/api/products/{product['id']}")
    assert resp.status == 200
    assert resp.json["name"] == "Wireless Earbuds"
    assert resp.json["price"] == 49.99
