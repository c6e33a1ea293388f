"""REST as the existing front end reads it (SPEC §1, §2, §4): anyone may sell under SELLERS=open, blank
optional strings are null, a session lists its products as products, a stale token on a public route is
anonymous, the refresh response names the user."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.api.test_analytics import count_queries
from tests.api.test_products import PRODUCT_FIELDS
from tests.conftest import PASSWORD, make_product, register
from tests.support.shows import make_show


def me(api, actor) -> dict:
    return api.get("/api/auth/me", as_=actor).data


# SELLERS ------------------------------------------------------------------------------------------


def test_an_account_registered_without_a_role_sells_and_becomes_a_creator(api):
    # The front end's own sign-up: no role.
    resp = api.post(
        "/api/auth/register",
        json={"username": "newseller", "email": "new@example.test", "password": PASSWORD},
    )
    assert resp.data["user"]["role"] == "viewer"
    headers = {"Authorization": f"Bearer {resp.data['accessToken']}"}
    product = api.post("/api/products", json={"name": "Lamp", "price": 10}, headers=headers)
    assert product.status == 201
    show = api.post(
        "/api/sessions", json={"title": "My first show", "productIds": [product.json["id"]]}, headers=headers
    )
    assert show.status == 201
    assert show.data["creatorId"] == resp.data["user"]["id"]
    assert api.get("/api/auth/me", headers=headers).data["role"] == "creator"


@pytest.mark.parametrize("first", ["product", "session"])
def test_a_viewers_first_product_or_session_makes_them_a_creator(api, viewer, first):
    if first == "product":
        make_product(api, viewer)
    else:
        make_show(api, viewer)
    assert me(api, viewer)["role"] == "creator"


def test_a_refused_session_leaves_the_viewer_a_viewer(api, viewer, creator):
    foreign = make_product(api, creator)
    resp = api.post("/api/sessions", json={"title": "Mine", "productIds": [foreign["id"]]}, as_=viewer)
    assert resp.status == 400
    assert me(api, viewer)["role"] == "viewer"


def test_a_moderator_sells_and_stays_a_moderator(api, moderator):
    make_product(api, moderator)
    make_show(api, moderator)
    assert me(api, moderator)["role"] == "moderator"


@pytest.mark.parametrize(
    "who, status", [("viewer", 403), ("moderator", 403), ("creator", 201), ("admin", 201)]
)
def test_with_sellers_approved_only_creators_and_admins_create(app_with, request, who, status):
    approved = app_with(sellers="approved")
    actor = request.getfixturevalue(who)
    product = approved.post("/api/products", json={"name": "Lamp", "price": 10}, as_=actor)
    session = approved.post("/api/sessions", json={"title": "Mine"}, as_=actor)
    assert (product.status, session.status) == (status, status)
    assert me(approved, actor)["role"] == who
    if status == 403:
        assert approved.get("/api/sessions", as_=actor).json["count"] == 0
        assert approved.get("/api/products", as_=actor).json == []


# blank optional strings ---------------------------------------------------------------------------

FRONT_END_PRODUCT = {
    "name": "Desk Lamp",
    "description": "",
    "price": 24.5,
    "category": "",
    "inStock": True,
    "imageUrl": "",
}
FILLED_PRODUCT = {
    "description": "Warm light",
    "category": "home",
    "imageUrl": "https://cdn.example.test/l.png",
}


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_optional_product_fields_are_stored_as_null(api, creator, blank):
    body = {**FRONT_END_PRODUCT, **dict.fromkeys(("description", "category", "imageUrl"), blank)}
    resp = api.post("/api/products", json=body, as_=creator)
    assert resp.status == 201, resp
    stored = api.get(f"/api/products/{resp.json['id']}").json
    assert (stored["description"], stored["category"], stored["imageUrl"]) == (None, None, None)
    assert api.get("/api/products/categories").json == []


def test_blanking_product_fields_in_an_update_clears_them(api, creator):
    product = make_product(api, creator, **FILLED_PRODUCT)
    resp = api.put(f"/api/products/{product['id']}", json=FRONT_END_PRODUCT, as_=creator)
    assert resp.status == 200, resp
    stored = api.get(f"/api/products/{product['id']}").json
    assert (stored["description"], stored["category"], stored["imageUrl"]) == (None, None, None)
    assert stored["name"] == "Desk Lamp"


def test_blank_optional_session_fields_are_stored_as_null(api, creator):
    resp = api.post(
        "/api/sessions",
        json={
            "title": "Show",
            "description": "",
            "category": " ",
            "streamUrl": "",
            "streamKey": "",
            "tags": [],
        },
        as_=creator,
    )
    assert resp.status == 201, resp
    stored = api.get(f"/api/sessions/{resp.data['id']}", as_=creator).data
    assert [stored[k] for k in ("description", "category", "streamUrl", "streamKey")] == [None] * 4


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_blanking_session_fields_in_an_update_clears_them(api, creator, method):
    show = make_show(
        api, creator, description="Gadgets", category="tech", streamUrl="https://cdn.example.test/s.m3u8"
    )
    changes = {"description": "  ", "category": "", "streamUrl": ""}
    resp = api.request(method, f"/api/sessions/{show['id']}", json=changes, as_=creator)
    assert resp.status == 200, resp
    stored = api.get(f"/api/sessions/{show['id']}").data
    assert [stored[k] for k in changes] == [None] * 3
    assert stored["title"] == show["title"]


@pytest.mark.parametrize(
    "method, path, body, field",
    [
        ("POST", "/api/products", {"name": " ", "price": 1}, "name"),
        ("POST", "/api/sessions", {"title": ""}, "title"),
        ("PUT", "/api/products/{product}", {"name": ""}, "name"),
        ("PATCH", "/api/sessions/{session}", {"title": "  "}, "title"),
    ],
)
def test_required_fields_still_refuse_blank_strings(api, creator, method, path, body, field):
    product, session = make_product(api, creator), make_show(api, creator)
    resp = api.request(
        method, path.format(product=product["id"], session=session["id"]), json=body, as_=creator
    )
    assert resp.status == 400
    assert field in resp.json["details"]
    assert api.get(f"/api/products/{product['id']}").json["name"] == product["name"]
    assert api.get(f"/api/sessions/{session['id']}").data["title"] == session["title"]


# a session's products -----------------------------------------------------------------------------


@pytest.fixture
def catalogue_show(api, creator):
    """A show selling a lamp, a speaker and a mug, the speaker featured and moved to the front."""
    lamp = make_product(api, creator, name="Lamp", price=10, imageUrl="https://cdn.example.test/lamp.png")
    speaker = make_product(api, creator, name="Speaker", price=20.5)
    mug = make_product(api, creator, name="Mug", price=3)
    show = make_show(api, creator, productIds=[lamp["id"], speaker["id"], mug["id"]])
    base = f"/api/sessions/{show['id']}/products/{speaker['id']}"
    assert api.patch(f"{base}/order", json={"displayOrder": 0}, as_=creator).status == 200
    assert (
        api.patch(
            f"/api/sessions/{show['id']}/products/{lamp['id']}/order", json={"displayOrder": 5}, as_=creator
        ).status
        == 200
    )
    assert api.patch(f"{base}/feature", as_=creator).status == 200
    return show, [speaker, mug, lamp]


def test_a_session_lists_its_products_as_products_in_display_order(api, catalogue_show):
    show, in_order = catalogue_show
    products = api.get(f"/api/sessions/{show['id']}").data["products"]
    assert [p["id"] for p in products] == [p["id"] for p in in_order]
    for listed, product in zip(products, in_order, strict=True):
        assert set(listed) == {*PRODUCT_FIELDS, "featured", "displayOrder"}
        assert {k: listed[k] for k in PRODUCT_FIELDS} == api.get(f"/api/products/{product['id']}").json
    assert [(p["name"], p["price"], p["featured"]) for p in products] == [
        ("Speaker", 20.5, True),
        ("Mug", 3.0, False),
        ("Lamp", 10.0, False),
    ]
    assert products[2]["imageUrl"] == "https://cdn.example.test/lamp.png"
    assert [p["displayOrder"] for p in products] == sorted(p["displayOrder"] for p in products)


def test_own_session_list_items_carry_the_same_products(api, creator, catalogue_show):
    show, _ = catalogue_show
    listed = api.get("/api/sessions", as_=creator).data
    assert listed[0]["products"] == api.get(f"/api/sessions/{show['id']}").data["products"]


def test_a_listed_products_id_is_what_showcase_takes(api, creator, catalogue_show):
    show, _ = catalogue_show
    assert api.post(f"/api/sessions/{show['id']}/start-stream", as_=creator).status == 200
    first = api.get(f"/api/sessions/{show['id']}").data["products"][0]
    resp = api.post(f"/api/sessions/{show['id']}/showcase", json={"productId": first["id"]}, as_=creator)
    assert resp.status == 200, resp
    assert api.get(f"/api/sessions/{show['id']}").data["activeProduct"]["name"] == first["name"]


def test_the_session_list_reads_products_in_the_same_queries_for_one_show_or_five(api, caplog, creator):
    def show_with_products():
        make_show(
            api, creator, productIds=[make_product(api, creator)["id"], make_product(api, creator)["id"]]
        )

    show_with_products()
    one = count_queries(caplog, lambda: api.get("/api/sessions", as_=creator))
    for _ in range(4):
        show_with_products()
    five = count_queries(caplog, lambda: api.get("/api/sessions", as_=creator))
    assert [len(s["products"]) for s in api.get("/api/sessions", as_=creator).data] == [2] * 5
    assert 0 < one == five


# tokens on public routes --------------------------------------------------------------------------


def expired_token(settings, user_id: int) -> str:
    moment = int(time.time())
    claims = {
        "sub": str(user_id),
        "role": "creator",
        "type": "access",
        "iat": moment - 120,
        "exp": moment - 60,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


@pytest.fixture(params=["expired", "invalid", "not bearer"])
def stale_header(request, settings, creator) -> tuple[str, dict]:
    """An Authorization header the front end might still send: its code when sign-in is required."""
    if request.param == "expired":
        return "token_expired", {"Authorization": f"Bearer {expired_token(settings, creator.id)}"}
    if request.param == "invalid":
        return "invalid_token", {"Authorization": "Bearer not-a-jwt"}
    return "invalid_token", {"Authorization": "Basic dXNlcjpwYXNz"}


PUBLIC_ROUTES = [
    "/api/users/live",
    "/api/users",
    "/api/users/{creator}",
    "/api/sessions/{show}",
    "/api/sessions/{show}/stream-token",
    "/api/sessions/{show}/conversion-stats",
    "/api/sessions/{show}/reactions",
    "/api/sessions/{show}/products",
    "/api/sessions/{show}/chat",
    "/api/products/categories",
    "/api/search?q=gadgets",
    "/api/search/sessions/live",
]


@pytest.mark.parametrize("path", PUBLIC_ROUTES)
def test_a_stale_token_on_a_public_route_is_answered_as_anonymous(
    api, creator, live_show, stale_header, path
):
    _, headers = stale_header
    url = path.format(creator=creator.id, show=live_show["id"])
    stale, anonymous = api.get(url, headers=headers), api.get(url)
    assert stale.status == anonymous.status == 200, stale
    if url.endswith("stream-token"):
        assert stale.data["uid"] == anonymous.data["uid"] == 0
    else:
        assert stale.json == anonymous.json


def test_a_stale_token_of_the_owner_shows_no_stream_key(api, settings, creator):
    show = make_show(api, creator, streamKey="secret-key")
    headers = {"Authorization": f"Bearer {expired_token(settings, creator.id)}"}
    assert "streamKey" not in api.get(f"/api/sessions/{show['id']}", headers=headers).data


def test_an_anonymous_subscriber_token_refresh_ignores_a_stale_token(api, live_show, stale_header):
    _, headers = stale_header
    resp = api.post(
        f"/api/sessions/{live_show['id']}/refresh-token", json={"role": "subscriber"}, headers=headers
    )
    assert resp.status == 200
    assert resp.data["uid"] == 0


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/api/auth/me", None),
        ("GET", "/api/sessions", None),
        ("GET", "/api/products", None),
        ("POST", "/api/products", {"name": "Lamp", "price": 10}),
        ("POST", "/api/sessions", {"title": "Mine"}),
        ("POST", "/api/sessions/{show}/refresh-token", {"role": "publisher"}),
        ("POST", "/api/sessions/{show}/end-stream", None),
    ],
)
def test_a_route_that_needs_sign_in_answers_a_stale_token_with_its_401(
    api, creator, live_show, stale_header, method, path, body
):
    code, headers = stale_header
    resp = api.request(method, path.format(show=live_show["id"]), json=body, headers=headers)
    assert resp.status == 401
    assert resp.json["error"] == code
    assert api.get(f"/api/sessions/{live_show['id']}").data["status"] == "live"
    assert api.get("/api/products", as_=creator).json == []


# refresh ------------------------------------------------------------------------------------------


def test_the_refresh_response_carries_the_user_like_login(api, creator):
    resp = api.post("/api/auth/refresh-token", json={"refreshToken": creator.refresh_token})
    assert resp.status == 200
    assert set(resp.data) == {"user", "accessToken", "token", "refreshToken"}
    logged_in = api.post("/api/auth/login", json={"username": creator.username, "password": PASSWORD})
    assert resp.data["user"] == logged_in.data["user"]
    assert resp.data["user"]["email"] == creator.email


def test_the_refresh_response_shows_a_role_gained_by_selling(api):
    seller = register(api)
    make_product(api, seller)
    resp = api.post("/api/auth/refresh-token", json={"refreshToken": seller.refresh_token})
    assert resp.data["user"]["role"] == "creator"
