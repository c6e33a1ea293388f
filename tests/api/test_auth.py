"""SPEC §2: register, login, refresh rotation, logout, me, update."""

from __future__ import annotations

import time

import jwt
import pytest

from bazaar.domain.models import RefreshToken
from bazaar.infra import db
from tests.conftest import PASSWORD, register


def signup(api, username="alice", email="alice@example.test", password=PASSWORD, **extra):
    return api.post(
        "/api/auth/register", json={"username": username, "email": email, "password": password, **extra}
    )


def login(api, username, password=PASSWORD):
    return api.post("/api/auth/login", json={"username": username, "password": password})


def refresh(api, token):
    return api.post("/api/auth/refresh-token", json={"refreshToken": token})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


# register ------------------------------------------------------------------


def test_register_answers_201_with_the_user_and_a_token_pair(api):
    resp = signup(api)
    assert resp.status == 201
    assert resp.json["success"] is True
    data = resp.data
    assert data["user"]["username"] == "alice"
    assert data["user"]["email"] == "alice@example.test"
    assert set(data["user"]) == {"id", "username", "email", "role", "createdAt", "updatedAt"}
    assert data["token"] == data["accessToken"]
    assert data["refreshToken"]


def test_register_never_returns_the_password_or_its_hash(api):
    resp = signup(api)
    assert PASSWORD not in resp.text
    assert "password" not in resp.text.lower()


def test_register_makes_a_viewer_by_default(api):
    assert signup(api).data["user"]["role"] == "viewer"


def test_register_may_choose_creator(api):
    assert signup(api, role="creator").data["user"]["role"] == "creator"


@pytest.mark.parametrize("role", ["admin", "moderator", "superuser", ""])
def test_register_refuses_any_other_role_and_creates_nobody(api, role):
    resp = signup(api, role=role)
    assert resp.status == 400
    assert resp.json["success"] is False
    assert "role" in resp.json["details"]
    assert login(api, "alice").status == 401


@pytest.mark.parametrize(
    "username, email",
    [
        ("Alice", "someone@example.test"),
        ("someone", "ALICE@Example.TEST"),
    ],
)
def test_register_refuses_a_taken_username_or_email_whatever_the_case(api, username, email):
    assert signup(api).status == 201
    resp = signup(api, username=username, email=email)
    assert resp.status == 409
    assert resp.json["success"] is False


@pytest.mark.parametrize(
    "field, value",
    [
        ("username", ""),
        ("username", "ab"),
        ("username", "has space"),
        ("username", 123),
        ("email", "not-an-email"),
        ("email", None),
        ("password", "short12"),
        ("password", "x" * 73),
        ("password", "é" * 37),  # 37 characters but 74 bytes: bcrypt would silently truncate
        ("password", 12345678),
    ],
)
def test_register_refuses_invalid_fields_with_details(api, field, value):
    body = {"username": "alice", "email": "alice@example.test", "password": PASSWORD, field: value}
    resp = api.post("/api/auth/register", json=body)
    assert resp.status == 400
    assert field in resp.json["details"]


@pytest.mark.parametrize("missing", ["username", "email", "password"])
def test_register_names_a_missing_field(api, missing):
    body = {"username": "alice", "email": "alice@example.test", "password": PASSWORD}
    del body[missing]
    resp = api.post("/api/auth/register", json=body)
    assert resp.status == 400
    assert resp.json["details"][missing] == "is required"


def test_register_accepts_a_password_of_exactly_72_bytes(api):
    password = "p" * 72
    assert signup(api, password=password).status == 201
    assert login(api, "alice", password).status == 200


# login ---------------------------------------------------------------------


def test_login_by_username_returns_the_user_and_a_token_pair(api, viewer):
    resp = login(api, viewer.username)
    assert resp.status == 200
    assert resp.data["user"]["id"] == viewer.id
    assert resp.data["token"] == resp.data["accessToken"]
    assert resp.data["refreshToken"]


def test_login_accepts_the_email_in_the_username_field(api, viewer):
    assert login(api, viewer.email.upper()).status == 200


def test_login_accepts_an_email_field(api, viewer):
    resp = api.post("/api/auth/login", json={"email": viewer.email, "password": PASSWORD})
    assert resp.status == 200


def test_login_username_is_case_insensitive(api, viewer):
    assert login(api, viewer.username.upper()).status == 200


def test_login_gives_the_same_401_for_an_unknown_user_and_a_wrong_password(api, viewer):
    wrong_password = login(api, viewer.username, "not-the-password")
    unknown_user = login(api, "nobody-here", PASSWORD)
    assert wrong_password.status == unknown_user.status == 401
    assert wrong_password.json == unknown_user.json


def test_login_with_an_overlong_password_is_a_401_not_a_crash(api, viewer):
    assert login(api, viewer.username, "x" * 200).status == 401


@pytest.mark.parametrize(
    "body", [{"password": PASSWORD}, {"username": "someone"}, {"username": 5, "password": "x"}]
)
def test_login_with_missing_or_mistyped_fields_is_a_400(api, body):
    assert api.post("/api/auth/login", json=body).status == 400


# refresh -------------------------------------------------------------------


def test_refresh_returns_a_new_pair(api, viewer):
    resp = refresh(api, viewer.refresh_token)
    assert resp.status == 200
    data = resp.data
    assert data["token"] == data["accessToken"]
    assert data["refreshToken"] != viewer.refresh_token
    assert api.get("/api/auth/me", headers=bearer(data["accessToken"])).data["id"] == viewer.id


def test_a_refresh_token_works_only_once(api, viewer):
    assert refresh(api, viewer.refresh_token).status == 200
    resp = refresh(api, viewer.refresh_token)
    assert resp.status == 401
    assert resp.json["success"] is False


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(api, viewer):
    newest = refresh(api, viewer.refresh_token).data["refreshToken"]
    assert refresh(api, viewer.refresh_token).status == 401  # the thief (or the victim) replays it
    assert refresh(api, newest).status == 401


def test_reuse_revokes_only_that_login_family(api, viewer):
    other_login = login(api, viewer.username).data["refreshToken"]
    refresh(api, viewer.refresh_token)
    refresh(api, viewer.refresh_token)
    assert refresh(api, other_login).status == 200


def test_an_unknown_refresh_token_is_a_401(api):
    assert refresh(api, "not-a-token").status == 401


@pytest.mark.parametrize("body", [{}, {"refreshToken": ""}, {"refreshToken": 42}])
def test_refresh_without_a_token_string_is_a_400(api, body):
    assert api.post("/api/auth/refresh-token", json=body).status == 400


# logout --------------------------------------------------------------------


def test_logout_makes_the_refresh_token_stop_working(api, viewer):
    resp = api.post("/api/auth/logout", as_=viewer)
    assert resp.status == 200
    assert resp.json["success"] is True
    assert resp.json["message"]
    assert resp.data == {}
    assert refresh(api, viewer.refresh_token).status == 401


def test_logout_with_a_refresh_token_ends_only_that_login(api, viewer):
    other_login = login(api, viewer.username).data["refreshToken"]
    api.post("/api/auth/logout", as_=viewer, json={"refreshToken": viewer.refresh_token})
    assert refresh(api, viewer.refresh_token).status == 401
    assert refresh(api, other_login).status == 200


def test_logout_needs_a_token(api):
    assert api.post("/api/auth/logout").status == 401


# me ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/auth/currentUser"])
def test_me_returns_the_caller_with_email(api, viewer, path):
    resp = api.get(path, as_=viewer)
    assert resp.status == 200
    assert resp.data["id"] == viewer.id
    assert resp.data["email"] == viewer.email
    assert "password" not in resp.text.lower()


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/auth/currentUser"])
def test_me_needs_a_token(api, path):
    resp = api.get(path)
    assert resp.status == 401
    assert resp.json["success"] is False


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc.def.ghi",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
    ],
)
def test_a_malformed_authorization_header_is_a_401(api, header):
    resp = api.get("/api/auth/me", headers={"Authorization": header})
    assert resp.status == 401
    assert resp.json["error"]


def access_claims(user_id, **changes):
    moment = int(time.time())
    return {
        "sub": str(user_id),
        "role": "viewer",
        "type": "access",
        "iat": moment,
        "exp": moment + 60,
        **changes,
    }


def test_an_expired_access_token_is_a_401(api, settings, viewer):
    expired = jwt.encode(
        access_claims(viewer.id, iat=int(time.time()) - 120, exp=int(time.time()) - 60),
        settings.jwt_secret,
        algorithm="HS256",
    )
    resp = api.get("/api/auth/me", headers=bearer(expired))
    assert resp.status == 401
    assert resp.json["error"] == "token_expired"


def test_an_access_token_lives_jwt_expires_in(api, settings, viewer):
    claims = jwt.decode(viewer.token, settings.jwt_secret, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == settings.jwt_expires_in_s == 15 * 60
    assert claims["sub"] == str(viewer.id)


def test_refresh_tokens_are_stored_only_as_hashes(api, viewer):
    with db.connection():
        stored = [row.token_hash for row in RefreshToken.select()]
    assert stored
    assert viewer.refresh_token not in stored
    assert all(viewer.refresh_token not in value for value in stored)


def test_a_token_signed_with_another_secret_is_a_401(api, viewer):
    forged = jwt.encode(access_claims(viewer.id), "some-other-secret-0123456789abcdef", algorithm="HS256")
    assert api.get("/api/auth/me", headers=bearer(forged)).status == 401


def test_an_unsigned_token_is_a_401(api, viewer):
    unsigned = jwt.encode(access_claims(viewer.id), None, algorithm="none")
    assert api.get("/api/auth/me", headers=bearer(unsigned)).status == 401


def test_a_refresh_token_is_not_an_access_token(api, viewer):
    assert api.get("/api/auth/me", headers=bearer(viewer.refresh_token)).status == 401


def test_a_token_of_a_deleted_user_is_a_401(api, viewer):
    assert api.delete(f"/api/users/{viewer.id}", as_=viewer).status == 204
    assert api.get("/api/auth/me", as_=viewer).status == 401


def test_a_bad_token_on_a_public_route_is_answered_as_anonymous(api, viewer):
    resp = api.get("/api/users", headers=bearer("garbage"))
    assert resp.status == 200
    assert all("email" not in user for user in resp.data)  # as anonymous: nobody's email shows


# update --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_update_changes_the_callers_profile(api, viewer, method):
    resp = api.request(
        method, "/api/auth/update", as_=viewer, json={"username": "renamed", "email": "New@Example.test"}
    )
    assert resp.status == 200
    assert resp.data["username"] == "renamed"
    assert resp.data["email"] == "new@example.test"
    assert api.get("/api/auth/me", as_=viewer).data["username"] == "renamed"


def test_update_needs_a_token(api):
    assert api.put("/api/auth/update", json={"username": "renamed"}).status == 401


def test_update_refuses_a_taken_username(api, viewer, creator):
    resp = api.put("/api/auth/update", as_=viewer, json={"username": creator.username.upper()})
    assert resp.status == 409


def test_update_keeps_the_own_username_in_another_case(api, viewer):
    resp = api.put("/api/auth/update", as_=viewer, json={"username": viewer.username.upper()})
    assert resp.status == 200


def test_update_cannot_change_the_role(api, viewer):
    resp = api.put("/api/auth/update", as_=viewer, json={"role": "admin"})
    assert resp.status == 400
    assert api.get("/api/auth/me", as_=viewer).data["role"] == "viewer"


def test_changing_the_password_needs_the_current_password(api, viewer):
    resp = api.put("/api/auth/update", as_=viewer, json={"password": "brand-new-pass"})
    assert resp.status == 400
    assert "currentPassword" in resp.json["details"]
    assert login(api, viewer.username).status == 200


def test_a_wrong_current_password_changes_nothing(api, viewer):
    resp = api.put(
        "/api/auth/update",
        as_=viewer,
        json={"password": "brand-new-pass", "currentPassword": "wrong-password", "username": "renamed"},
    )
    assert resp.status == 400
    assert "currentPassword" in resp.json["details"]
    assert login(api, viewer.username).status == 200


def test_a_password_change_replaces_the_password(api, viewer):
    resp = api.put(
        "/api/auth/update", as_=viewer, json={"password": "brand-new-pass", "currentPassword": PASSWORD}
    )
    assert resp.status == 200
    assert login(api, viewer.username, "brand-new-pass").status == 200
    assert login(api, viewer.username).status == 401


def test_a_password_change_revokes_the_refresh_tokens(api, viewer):
    api.put("/api/auth/update", as_=viewer, json={"password": "brand-new-pass", "currentPassword": PASSWORD})
    assert refresh(api, viewer.refresh_token).status == 401


def test_update_refuses_a_short_new_password(api, viewer):
    resp = api.put("/api/auth/update", as_=viewer, json={"password": "short", "currentPassword": PASSWORD})
    assert resp.status == 400
    assert "password" in resp.json["details"]


def test_another_users_token_cannot_change_this_user(api, viewer):
    other = register(api)
    api.put("/api/auth/update", as_=other, json={"username": "renamed"})
    assert api.get(f"/api/users/{viewer.id}").data["username"] == viewer.username


def test_login_attempts_past_the_limit_are_refused_with_retry_after(api, viewer, settings):
    for _ in range(settings.login_rate_count):
        assert (
            api.post(
                "/api/auth/login", json={"username": viewer.username, "password": "wrong-password"}
            ).status
            == 401
        )
    resp = api.post("/api/auth/login", json={"username": viewer.username, "password": viewer.password})
    assert resp.status == 429
    assert resp.json["error"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) >= 1
