"""/api/auth/*: register, login, refresh, logout, me, update."""

from __future__ import annotations

import falcon

from bazaar.domain.errors import Invalid
from bazaar.domain.views import user_view
from bazaar.entry.http import answers, schemas
from bazaar.entry.http.common import ok
from bazaar.entry.http.endpoint import REQUIRED, endpoint
from bazaar.services.auth import AuthService
from bazaar.services.users import UserService


def _session_payload(user, tokens) -> dict:
    return {"user": user_view(user, with_email=True), **tokens}


class Register:
    def __init__(self, auth: AuthService):
        self.auth = auth

    @endpoint(
        "Register (viewer or creator)",
        body=schemas.Register,
        status=201,
        answer=answers.Ok[answers.SignedIn],
        errors=(409,),
    )
    def on_post(self, req, resp):
        user, tokens = self.auth.register(**req.context.body.model_dump())
        resp.status = falcon.HTTP_201
        resp.media = ok(_session_payload(user, tokens), message="User registered successfully")


class Login:
    def __init__(self, auth: AuthService):
        self.auth = auth

    @endpoint(
        "Log in with username or email",
        body=schemas.Login,
        answer=answers.Ok[answers.SignedIn],
        errors=(401, 429),
    )
    def on_post(self, req, resp):
        fields = req.context.body
        login = fields.username or fields.email
        if not login:
            raise Invalid("username (or email) is required", details={"username": "is required"})
        user, tokens = self.auth.login(login=login, password=fields.password, client=req.remote_addr or "")
        resp.media = ok(_session_payload(user, tokens), message="Login successful")


class RefreshTokenResource:
    def __init__(self, auth: AuthService):
        self.auth = auth

    @endpoint(
        "Rotate a refresh token",
        body=schemas.RefreshToken,
        answer=answers.Ok[answers.SignedIn],
        errors=(401,),
    )
    def on_post(self, req, resp):
        user, tokens = self.auth.refresh(req.context.body.refresh_token)
        resp.media = ok(_session_payload(user, tokens), message="Token refreshed")


class Logout:
    def __init__(self, auth: AuthService):
        self.auth = auth

    @endpoint("Revoke refresh tokens", auth=REQUIRED, body=schemas.Logout, answer=answers.Ok[dict])
    def on_post(self, req, resp):
        self.auth.logout(req.context.user, req.context.body.refresh_token)
        resp.media = ok({}, message="Logged out successfully")


class Me:
    @endpoint("The caller", auth=REQUIRED, answer=answers.Ok[answers.User])
    def on_get(self, req, resp):
        resp.media = ok(user_view(req.context.user, with_email=True))


class UpdateSelf:
    def __init__(self, users: UserService):
        self.users = users

    @endpoint(
        "Update own profile",
        auth=REQUIRED,
        body=schemas.SelfUpdate,
        answer=answers.Ok[answers.User],
        errors=(403, 409),
    )
    def on_put(self, req, resp):
        user = req.context.user
        updated = self.users.update(user, user.id, req.context.body)
        resp.media = ok(user_view(updated, with_email=True), message="Profile updated")

    on_post = on_put
