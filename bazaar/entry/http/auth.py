"""/api/auth/*: register, login, refresh, logout, me, update."""

from __future__ import annotations

import falcon

from bazaar.domain.errors import Invalid
from bazaar.domain.validation import Email, Password, Str, Username
from bazaar.domain.views import user_view
from bazaar.entry.http.common import body, current_user, ok, require_user
from bazaar.services.auth import AuthService
from bazaar.services.users import UserService

REGISTER = {
    "username": Username(required=True),
    "email": Email(required=True),
    "password": Password(required=True),
    "role": Str(max_len=20),
}
LOGIN = {
    "username": Str(min_len=1, max_len=255, attr="login"),
    "email": Str(min_len=1, max_len=255),
    "password": Str(min_len=1, max_len=1024, strip=False, required=True),
}
REFRESH = {"refreshToken": Str(min_len=1, max_len=512, attr="refresh_token", required=True)}
LOGOUT = {"refreshToken": Str(min_len=1, max_len=512, attr="refresh_token")}
UPDATE_SELF = {
    "username": Username(),
    "email": Email(),
    "password": Password(),
    "currentPassword": Str(min_len=1, max_len=1024, strip=False, attr="current_password"),
}


def _session_payload(user, tokens) -> dict:
    return {"user": user_view(user, with_email=True), **tokens}


class Register:
    def __init__(self, auth: AuthService):
        self.auth = auth

    def on_post(self, req, resp):
        fields = body(req, REGISTER)
        user, tokens = self.auth.register(**{"role": "viewer", **fields})
        resp.status = falcon.HTTP_201
        resp.media = ok(_session_payload(user, tokens), message="User registered successfully")


class Login:
    def __init__(self, auth: AuthService):
        self.auth = auth

    def on_post(self, req, resp):
        fields = body(req, LOGIN)
        login = fields.get("login") or fields.get("email")
        if not login:
            raise Invalid("username (or email) is required", details={"username": "is required"})
        user, tokens = self.auth.login(login=login, password=fields["password"], client=req.remote_addr or "")
        resp.media = ok(_session_payload(user, tokens), message="Login successful")


class RefreshTokenResource:
    def __init__(self, auth: AuthService):
        self.auth = auth

    def on_post(self, req, resp):
        user, tokens = self.auth.refresh(body(req, REFRESH)["refresh_token"])
        resp.media = ok(_session_payload(user, tokens), message="Token refreshed")


class Logout:
    def __init__(self, auth: AuthService):
        self.auth = auth

    @falcon.before(require_user)
    def on_post(self, req, resp):
        self.auth.logout(req.context.user, body(req, LOGOUT).get("refresh_token"))
        resp.media = ok({}, message="Logged out successfully")


class Me:
    @falcon.before(require_user)
    def on_get(self, req, resp):
        resp.media = ok(user_view(req.context.user, with_email=True))


class UpdateSelf:
    def __init__(self, users: UserService):
        self.users = users

    @falcon.before(require_user)
    def on_put(self, req, resp):
        user = current_user(req, required=True)
        updated = self.users.update(user, user.id, body(req, UPDATE_SELF, partial=True))
        resp.media = ok(user_view(updated, with_email=True), message="Profile updated")

    on_post = on_put
