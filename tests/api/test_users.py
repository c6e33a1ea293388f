"""SPEC §3: public listing and profiles, admin creation, self-or-admin update and delete."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, register


def actor(request, who):
    """The fixture named `who`, or None for an anonymous caller."""
    return request.getfixturevalue(who) if who != "anonymous" else None


def new_user(**fields):
    return {"username": "newbie", "email": "newbie@example.test", "password": PASSWORD, **fields}


# list ----------------------------------------------------------------------


def test_anyone_lists_users_without_emails(api, viewer, creator):
    resp = api.get("/api/users")
    assert resp.status == 200
    assert resp.json["count"] == len(resp.data) == 2
    assert {u["username"] for u in resp.data} == {viewer.username, creator.username}
    assert all("email" not in u for u in resp.data)
    assert "password" not in resp.text.lower()


def test_a_user_sees_only_their_own_email_in_the_list(api, viewer, creator):
    users = {u["id"]: u for u in api.get("/api/users", as_=viewer).data}
    assert users[viewer.id]["email"] == viewer.email
    assert "email" not in users[creator.id]


def test_an_admin_sees_every_email_in_the_list(api, admin, viewer):
    assert all("email" in u for u in api.get("/api/users", as_=admin).data)


def test_users_are_paginated_by_limit_and_offset(api):
    ids = [register(api).id for _ in range(5)]
    resp = api.get("/api/users", params={"limit": 2, "offset": 1})
    assert [u["id"] for u in resp.data] == ids[1:3]
    assert resp.json["count"] == 2


def test_users_default_page_is_20(api):
    for _ in range(21):
        register(api)
    assert api.get("/api/users").json["count"] == 20


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": -1},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"offset": -1},
        {"offset": "x"},
    ],
)
def test_out_of_range_pagination_is_a_400(api, params):
    resp = api.get("/api/users", params=params)
    assert resp.status == 400
    assert resp.json["success"] is False
    assert set(params) <= set(resp.json["details"])


def test_limit_100_is_allowed(api):
    assert api.get("/api/users", params={"limit": 100}).status == 200


# read ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "who, sees_email",
    [
        ("anonymous", False),
        ("viewer", True),
        ("other", False),
        ("moderator", False),
        ("admin", True),
    ],
)
def test_a_profile_shows_the_email_only_to_its_user_and_admins(api, request, viewer, who, sees_email):
    caller = register(api) if who == "other" else actor(request, who)
    resp = api.get(f"/api/users/{viewer.id}", as_=caller)
    assert resp.status == 200
    assert resp.data["username"] == viewer.username
    assert ("email" in resp.data) is sees_email


def test_an_unknown_user_is_a_404(api):
    resp = api.get("/api/users/999999")
    assert resp.status == 404
    assert resp.json["success"] is False


def test_a_non_numeric_user_id_is_a_404(api):
    assert api.get("/api/users/abc").status == 404


# create (admin) ------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "creator", "moderator", "admin"])
def test_an_admin_creates_a_user_with_any_role(api, admin, role):
    resp = api.post("/api/users", as_=admin, json=new_user(role=role))
    assert resp.status == 201
    assert resp.json["success"] is True
    assert resp.data["role"] == role
    assert resp.data["email"] == "newbie@example.test"
    assert api.post("/api/auth/login", json={"username": "newbie", "password": PASSWORD}).status == 200


def test_a_created_user_is_a_viewer_unless_told(api, admin):
    assert api.post("/api/users", as_=admin, json=new_user()).data["role"] == "viewer"


@pytest.mark.parametrize(
    "who, status",
    [
        ("anonymous", 401),
        ("viewer", 403),
        ("creator", 403),
        ("moderator", 403),
    ],
)
def test_only_an_admin_creates_users(api, request, who, status):
    resp = api.post("/api/users", as_=actor(request, who), json=new_user(role="admin"))
    assert resp.status == status
    assert api.post("/api/auth/login", json={"username": "newbie", "password": PASSWORD}).status == 401


def test_creating_a_user_with_a_taken_email_is_a_409(api, admin, viewer):
    resp = api.post("/api/users", as_=admin, json=new_user(email=viewer.email.upper()))
    assert resp.status == 409


@pytest.mark.parametrize(
    "fields", [{"role": "overlord"}, {"password": "short"}, {"email": "nope"}, {"id": 5}]
)
def test_creating_a_user_with_invalid_fields_is_a_400(api, admin, fields):
    assert api.post("/api/users", as_=admin, json=new_user(**fields)).status == 400


# update --------------------------------------------------------------------


@pytest.mark.parametrize(
    "who, status",
    [
        ("anonymous", 401),
        ("self", 200),
        ("other", 403),
        ("creator", 403),
        ("moderator", 403),
        ("admin", 200),
    ],
)
def test_who_may_update_a_user(api, request, viewer, who, status):
    caller = viewer if who == "self" else register(api) if who == "other" else actor(request, who)
    resp = api.put(f"/api/users/{viewer.id}", as_=caller, json={"username": "renamed"})
    assert resp.status == status
    expected = "renamed" if status == 200 else viewer.username
    assert api.get(f"/api/users/{viewer.id}").data["username"] == expected


def test_a_user_cannot_change_their_own_role(api, viewer):
    resp = api.put(f"/api/users/{viewer.id}", as_=viewer, json={"role": "admin"})
    assert resp.status == 403
    assert api.get(f"/api/users/{viewer.id}").data["role"] == "viewer"


def test_a_moderator_cannot_promote_themself(api, moderator):
    assert api.put(f"/api/users/{moderator.id}", as_=moderator, json={"role": "admin"}).status == 403


def test_an_admin_changes_a_role(api, admin, viewer):
    resp = api.put(f"/api/users/{viewer.id}", as_=admin, json={"role": "creator"})
    assert resp.status == 200
    assert resp.data["role"] == "creator"
    assert api.get("/api/auth/me", as_=viewer).data["role"] == "creator"


def test_an_admin_resets_a_password_without_the_current_one(api, admin, viewer):
    resp = api.put(f"/api/users/{viewer.id}", as_=admin, json={"password": "reset-by-admin"})
    assert resp.status == 200
    assert (
        api.post("/api/auth/login", json={"username": viewer.username, "password": "reset-by-admin"}).status
        == 200
    )
    assert api.post("/api/auth/refresh-token", json={"refreshToken": viewer.refresh_token}).status == 401


def test_a_user_changing_their_own_password_needs_the_current_one(api, viewer):
    resp = api.put(f"/api/users/{viewer.id}", as_=viewer, json={"password": "brand-new-pass"})
    assert resp.status == 400
    assert "currentPassword" in resp.json["details"]


def test_updating_to_a_taken_username_is_a_409(api, viewer, creator):
    resp = api.put(f"/api/users/{viewer.id}", as_=viewer, json={"username": creator.username.upper()})
    assert resp.status == 409
    assert api.get(f"/api/users/{viewer.id}").data["username"] == viewer.username


def test_updating_an_unknown_user_is_a_404(api, admin):
    assert api.put("/api/users/999999", as_=admin, json={"username": "renamed"}).status == 404


@pytest.mark.parametrize(
    "fields", [{"username": 7}, {"email": "nope"}, {"role": "overlord"}, {"createdAt": "x"}]
)
def test_updating_with_invalid_fields_is_a_400(api, admin, viewer, fields):
    assert api.put(f"/api/users/{viewer.id}", as_=admin, json=fields).status == 400


# delete --------------------------------------------------------------------


@pytest.mark.parametrize(
    "who, status",
    [
        ("anonymous", 401),
        ("self", 204),
        ("other", 403),
        ("creator", 403),
        ("moderator", 403),
        ("admin", 204),
    ],
)
def test_who_may_delete_a_user(api, request, viewer, who, status):
    caller = viewer if who == "self" else register(api) if who == "other" else actor(request, who)
    resp = api.delete(f"/api/users/{viewer.id}", as_=caller)
    assert resp.status == status
    assert api.get(f"/api/users/{viewer.id}").status == (404 if status == 204 else 200)


def test_a_deleted_user_answers_204_with_no_body(api, viewer):
    resp = api.delete(f"/api/users/{viewer.id}", as_=viewer)
    assert resp.status == 204
    assert resp.text == ""


def test_deleting_a_creator_removes_their_products(api, creator):
    product = api.post("/api/products", as_=creator, json={"name": "Lamp", "price": 10}).json
    assert api.delete(f"/api/users/{creator.id}", as_=creator).status == 204
    assert api.get(f"/api/products/{product['id']}").status == 404


def test_deleting_an_unknown_user_is_a_404(api, admin):
    assert api.delete("/api/users/999999", as_=admin).status == 404


@pytest.mark.parametrize("user_id", ["0", "-1", "2147483648", "99999999999999999999"])
def test_a_user_id_out_of_range_is_a_404(api, admin, user_id):
    for method in ("GET", "PUT", "DELETE"):
        resp = api.request(method, f"/api/users/{user_id}", as_=admin, json={"username": "renamed"})
        assert resp.status == 404
        assert resp.json["success"] is False
