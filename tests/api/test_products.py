"""SPEC §5: products — bare bodies, owner-only writes, validation, no mass assignment."""

from __future__ import annotations

import json
import uuid

import pytest

from bazaar.domain.models import SearchOutbox
from bazaar.infra import db
from tests.conftest import make_product

PRODUCT_FIELDS = {
    "id",
    "name",
    "description",
    "price",
    "originalPrice",
    "category",
    "inStock",
    "stockQuantity",
    "imageUrl",
    "sellerId",
    "createdAt",
    "updatedAt",
}


def actor(request, who):
    """The fixture named `who` (the owner is `creator`), or None for an anonymous caller."""
    return None if who == "anonymous" else request.getfixturevalue("creator" if who == "owner" else who)


def own_products(api, who):
    return api.get("/api/products", as_=who).json


# create --------------------------------------------------------------------


def test_a_creator_creates_a_product_and_gets_it_back_bare(api, creator):
    resp = api.post(
        "/api/products",
        as_=creator,
        json={
            "name": "Wireless Earbuds",
            "description": "Noise cancelling",
            "price": 49.99,
            "originalPrice": 79,
            "category": "audio",
            "inStock": False,
            "imageUrl": "https://cdn.example.test/earbuds.png",
        },
    )
    assert resp.status == 201
    product = resp.json
    assert set(product) == PRODUCT_FIELDS
    assert product["name"] == "Wireless Earbuds"
    assert product["price"] == 49.99
    assert product["originalPrice"] == 79.0
    assert product["inStock"] is False
    assert product["sellerId"] == creator.id
    uuid.UUID(product["id"])
    assert product["createdAt"].endswith("Z")


def test_a_new_product_is_in_stock_unless_told(api, creator):
    assert make_product(api, creator)["inStock"] is True


@pytest.mark.parametrize(
    "who, status",
    [
        ("anonymous", 401),
        ("viewer", 201),  # SELLERS=open, the default; SELLERS=approved: tests/api/test_frontend_rest.py
        ("moderator", 201),
        ("creator", 201),
        ("admin", 201),
    ],
)
def test_who_may_create_a_product(api, request, who, status):
    resp = api.post("/api/products", as_=actor(request, who), json={"name": "Lamp", "price": 10})
    assert resp.status == status
    if status != 201:
        assert resp.json["success"] is False


@pytest.mark.parametrize(
    "field, value",
    [
        ("id", "00000000-0000-0000-0000-000000000001"),
        ("sellerId", 999),
        ("createdAt", "2020-01-01T00:00:00.000Z"),
        ("updatedAt", "2020-01-01T00:00:00.000Z"),
    ],
)
def test_server_owned_fields_in_a_new_product_are_refused_and_never_written(api, creator, field, value):
    resp = api.post("/api/products", as_=creator, json={"name": "Lamp", "price": 10, field: value})
    assert resp.status == 400
    assert field in resp.json["details"]
    assert own_products(api, creator) == []


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", ""),
        ("name", "   "),
        ("name", "x" * 256),
        ("name", 5),
        ("name", None),
        ("price", -0.01),
        ("price", 100_000_000),
        ("price", 1e9),
        ("price", 1.999),
        ("price", "10"),
        ("price", True),
        ("price", None),
        ("price", [1]),
        ("originalPrice", -1),
        ("originalPrice", 0.001),
        ("imageUrl", "javascript:alert(1)"),
        ("imageUrl", "ftp://files.example.test/a.png"),
        ("imageUrl", "not a url"),
        ("imageUrl", "https://"),
        ("imageUrl", 42),
        ("inStock", "yes"),
        ("inStock", 1),
        ("category", 123),
        ("description", ["a"]),
    ],
)
def test_an_invalid_product_field_is_a_400_and_nothing_is_written(api, creator, field, value):
    resp = api.post("/api/products", as_=creator, json={"name": "Lamp", "price": 10, field: value})
    assert resp.status == 400
    assert resp.json["success"] is False
    assert field in resp.json["details"]
    assert own_products(api, creator) == []


@pytest.mark.parametrize("missing", ["name", "price"])
def test_a_product_needs_a_name_and_a_price(api, creator, missing):
    body = {"name": "Lamp", "price": 10}
    del body[missing]
    resp = api.post("/api/products", as_=creator, json=body)
    assert resp.status == 400
    assert resp.json["details"][missing] == "is required"


@pytest.mark.parametrize(
    "field, value, shown",
    [
        ("price", 0, 0.0),
        ("price", 99_999_999.99, 99_999_999.99),
        ("price", 12.5, 12.5),
        ("name", "x" * 255, "x" * 255),
        ("name", "  Lamp  ", "Lamp"),
        ("imageUrl", "http://cdn.example.test/a.png", "http://cdn.example.test/a.png"),
        ("originalPrice", None, None),
    ],
)
def test_boundary_values_are_accepted(api, creator, field, value, shown):
    resp = api.post("/api/products", as_=creator, json={"name": "Lamp", "price": 10, field: value})
    assert resp.status == 201
    assert resp.json[field] == shown


def test_a_price_is_stored_exactly(api, creator):
    product = make_product(api, creator, price=0.1)
    assert api.get(f"/api/products/{product['id']}").json["price"] == 0.1


# read ----------------------------------------------------------------------


def test_anyone_reads_a_product_bare(api, creator):
    product = make_product(api, creator)
    resp = api.get(f"/api/products/{product['id']}")
    assert resp.status == 200
    assert resp.json == product


def test_an_unknown_product_is_a_404_envelope(api):
    resp = api.get(f"/api/products/{uuid.uuid4()}")
    assert resp.status == 404
    assert resp.json["success"] is False
    assert resp.json["error"] == "not_found"


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g"])
def test_a_malformed_product_id_is_a_404(api, bad_id):
    assert api.get(f"/api/products/{bad_id}").status == 404


def test_the_product_list_holds_only_the_callers_own_products(api, creator, other_creator):
    mine = make_product(api, creator, name="Mine")
    make_product(api, other_creator, name="Theirs")
    resp = api.get("/api/products", as_=creator)
    assert resp.status == 200
    assert resp.json == [mine]


def test_a_viewer_has_no_products(api, viewer):
    assert own_products(api, viewer) == []


@pytest.mark.parametrize("path", ["/api/products", "/api/products/in-stock", "/api/products/category/audio"])
def test_own_product_lists_need_a_token(api, path):
    resp = api.get(path)
    assert resp.status == 401
    assert resp.json["success"] is False


def test_the_category_list_holds_own_products_of_that_category(api, creator, other_creator):
    audio = make_product(api, creator, category="audio")
    make_product(api, creator, category="video")
    make_product(api, other_creator, category="audio")
    resp = api.get("/api/products/category/audio", as_=creator)
    assert resp.status == 200
    assert resp.json == [audio]


def test_the_in_stock_list_holds_own_products_in_stock(api, creator, other_creator):
    in_stock = make_product(api, creator, inStock=True)
    make_product(api, creator, inStock=False)
    make_product(api, other_creator, inStock=True)
    assert api.get("/api/products/in-stock", as_=creator).json == [in_stock]


def test_categories_are_distinct_sorted_and_public(api, creator, other_creator):
    make_product(api, creator, category="video")
    make_product(api, creator, category="audio")
    make_product(api, other_creator, category="audio")
    make_product(api, other_creator, category=None)
    resp = api.get("/api/products/categories")
    assert resp.status == 200
    assert resp.json == ["audio", "video"]


# update --------------------------------------------------------------------


@pytest.mark.parametrize(
    "who, status",
    [
        ("anonymous", 401),
        ("viewer", 403),
        ("owner", 200),
        ("other_creator", 403),
        ("moderator", 403),
        ("admin", 200),
    ],
)
def test_who_may_update_a_product(api, request, creator, who, status):
    product = make_product(api, creator, name="Before")
    resp = api.put(f"/api/products/{product['id']}", as_=actor(request, who), json={"name": "After"})
    assert resp.status == status
    expected = "After" if status == 200 else "Before"
    assert api.get(f"/api/products/{product['id']}").json["name"] == expected


def test_an_update_is_partial_and_answers_the_bare_product(api, creator):
    product = make_product(api, creator, description="Keep me")
    resp = api.put(f"/api/products/{product['id']}", as_=creator, json={"price": 39.5, "inStock": False})
    assert resp.status == 200
    assert resp.json["price"] == 39.5
    assert resp.json["inStock"] is False
    assert resp.json["description"] == "Keep me"
    assert resp.json["name"] == product["name"]
    assert resp.json["updatedAt"] >= product["updatedAt"]


def test_a_product_read_again_shows_every_change_since_the_last_read(api, creator):
    """Reads by id reuse the view of a row read unchanged before (`RowViews`); a changed row is another."""
    product = make_product(api, creator, description="Keep me")
    assert api.get(f"/api/products/{product['id']}").json == product
    assert api.get(f"/api/products/{product['id']}").json == product
    changed = api.put(f"/api/products/{product['id']}", as_=creator, json={"price": 39.5}).json
    assert api.get(f"/api/products/{product['id']}").json == changed and changed["price"] == 39.5
    assert api.delete(f"/api/products/{product['id']}", as_=creator).status == 204
    assert api.get(f"/api/products/{product['id']}").status == 404


def test_an_update_may_clear_an_optional_field(api, creator):
    product = make_product(api, creator, imageUrl="https://cdn.example.test/a.png")
    assert (
        api.put(f"/api/products/{product['id']}", as_=creator, json={"imageUrl": None}).json["imageUrl"]
        is None
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("id", "00000000-0000-0000-0000-000000000001"),
        ("sellerId", 1),
        ("createdAt", "2020-01-01T00:00:00Z"),
        ("price", -1),
        ("name", ""),
        ("imageUrl", "javascript:alert(1)"),
        ("name", None),
        ("price", None),
    ],
)
def test_a_bad_update_is_a_400_and_changes_nothing(api, creator, other_creator, field, value):
    product = make_product(api, creator)
    if field == "sellerId":
        value = other_creator.id
    resp = api.put(f"/api/products/{product['id']}", as_=creator, json={"name": "Renamed", field: value})
    assert resp.status == 400
    assert field in resp.json["details"]
    assert api.get(f"/api/products/{product['id']}").json == product


def test_updating_an_unknown_product_is_a_404(api, creator):
    assert api.put(f"/api/products/{uuid.uuid4()}", as_=creator, json={"name": "x"}).status == 404


# delete --------------------------------------------------------------------


@pytest.mark.parametrize(
    "who, status",
    [
        ("anonymous", 401),
        ("viewer", 403),
        ("owner", 204),
        ("other_creator", 403),
        ("moderator", 403),
        ("admin", 204),
    ],
)
def test_who_may_delete_a_product(api, request, creator, who, status):
    product = make_product(api, creator)
    resp = api.delete(f"/api/products/{product['id']}", as_=actor(request, who))
    assert resp.status == status
    assert api.get(f"/api/products/{product['id']}").status == (404 if status == 204 else 200)


def test_a_deleted_product_answers_204_with_no_body(api, creator):
    product = make_product(api, creator)
    resp = api.delete(f"/api/products/{product['id']}", as_=creator)
    assert resp.text == ""


def test_deleting_an_unknown_product_is_a_404(api, creator):
    assert api.delete(f"/api/products/{uuid.uuid4()}", as_=creator).status == 404


# search outbox ---------------------------------------------------------------


def outbox_rows(product_id):
    with db.connection():
        return (
            SearchOutbox.select()
            .where((SearchOutbox.doc_type == "product") & (SearchOutbox.doc_id == product_id))
            .count()
        )


def test_every_product_write_records_a_search_outbox_row(api, creator):
    product = make_product(api, creator)
    assert outbox_rows(product["id"]) == 1
    api.put(f"/api/products/{product['id']}", as_=creator, json={"name": "Renamed"})
    assert outbox_rows(product["id"]) == 2
    api.delete(f"/api/products/{product['id']}", as_=creator)
    assert outbox_rows(product["id"]) == 3


def test_a_refused_write_records_no_outbox_row(api, creator, other_creator):
    product = make_product(api, creator)
    api.put(f"/api/products/{product['id']}", as_=other_creator, json={"name": "Stolen"})
    api.put(f"/api/products/{product['id']}", as_=creator, json={"price": -1})
    assert outbox_rows(product["id"]) == 1


@pytest.mark.parametrize("field", ["name", "description", "category", "imageUrl"])
def test_text_that_cannot_be_stored_is_a_400(api, creator, field):
    value = "https://x.test/\ud800" if field == "imageUrl" else "bad \ud800 text"
    payload = json.dumps(
        {"name": "Lamp", "price": 10, field: value}
    )  # ASCII escapes carry the lone surrogate
    resp = api.post("/api/products", as_=creator, body=payload, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert field in resp.json["details"]


def test_a_description_keeps_line_breaks_and_tabs(api, creator):
    text = "Line one\r\nLine two\n\tindented"
    assert make_product(api, creator, description=text)["description"] == text


def test_a_nul_character_in_a_description_is_a_400(api, creator):
    resp = api.post("/api/products", as_=creator, json={"name": "Lamp", "price": 10, "description": "a\x00b"})
    assert resp.status == 400
    assert "description" in resp.json["details"]


def test_a_category_path_that_cannot_be_stored_is_a_400(api, creator):
    resp = api.get("/api/products/category/a%00b", as_=creator)
    assert resp.status == 400
    assert resp.json["success"] is False


@pytest.mark.parametrize("path", ["/api/products", "/api/products/in-stock", "/api/products/category/audio"])
def test_own_product_lists_are_whole_unless_paged(api, creator, path):
    made = [make_product(api, creator, name=f"P{i}") for i in range(3)]
    newest_first = [p["id"] for p in reversed(made)]
    assert [p["id"] for p in api.get(path, as_=creator).json] == newest_first
    paged = api.get(path, as_=creator, params={"limit": 1, "offset": 1}).json
    assert [p["id"] for p in paged] == newest_first[1:2]
    assert [p["id"] for p in api.get(path, as_=creator, params={"offset": 2}).json] == newest_first[2:]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}])
def test_bad_paging_of_product_lists_is_a_400(api, creator, params):
    resp = api.get("/api/products", as_=creator, params=params)
    assert resp.status == 400
    assert resp.json["success"] is False
