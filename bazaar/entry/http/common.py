"""What every resource uses: the success envelope and the auth hooks."""

from __future__ import annotations

import falcon

from bazaar.domain.errors import Forbidden, Unauthorized
from bazaar.domain.models import User


def ok(data=None, *, message: str | None = None, count: bool = False, **extra) -> dict:
    body = {"success": True}
    if message:
        body["message"] = message
    if data is not None:
        body["data"] = data
        if count:
            body["count"] = len(data)
    body.update(extra)
    return body


def _bearer(req: falcon.Request) -> str | None:
    header = req.get_header("Authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'", code="invalid_token")
    return token.strip()


def current_user(req: falcon.Request, *, required: bool) -> User | None:
    """The caller, from the bearer token. Where sign-in is `required`, no user is a 401 naming what was
    wrong with the token (expired, invalid); elsewhere an expired or invalid token counts as no token
    (SPEC §2: the front end never refreshes, and a 401 makes it sign the person out of public pages)."""
    if "user" not in req.context:
        req.context.user, req.context.token_refusal = None, None
        try:
            token = _bearer(req)
            req.context.user = req.context.auth.authenticate(token) if token else None
        except Unauthorized as refusal:
            req.context.token_refusal = refusal
    if required and req.context.user is None:
        raise req.context.token_refusal or Unauthorized("Authentication required")
    return req.context.user


def require_user(req, resp, resource, params):
    current_user(req, required=True)


def require_token_subject(req, resp, resource, params):
    """The caller's user id from a valid access token, their row left for the responder to read."""
    token = _bearer(req)
    if not token:
        raise Unauthorized("Authentication required")
    req.context.user_id = req.context.auth.subject(token)


def optional_user(req, resp, resource, params):
    current_user(req, required=False)


def require_role(*roles: str):
    def hook(req, resp, resource, params):
        user = current_user(req, required=True)
        if user.role not in roles:
            raise Forbidden(f"This action needs the role {' or '.join(roles)}")

    return hook
