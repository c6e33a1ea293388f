"""One declaration per responder — who may call it, what it reads, what it answers — enforced here and
published by `/api/openapi.json` (Falcon's media-validation recipe, Zulip's `typed_endpoint`).

    @endpoint("Create a product", auth=REQUIRED, body=ProductCreate, status=201, answer=ProductOut)
    def on_post(self, req, resp):
        product = self.products.create(req.context.user, req.context.body)

The caller is checked first (a stranger learns nothing about the body), then the path, query string and
body are validated; the responder finds them typed on `req.context.path`, `.query` and `.body`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import falcon
from pydantic import BaseModel

from bazaar.domain.errors import Invalid
from bazaar.domain.inputs import validated
from bazaar.entry.http.common import optional_user, require_role, require_token_subject, require_user

NONE, OPTIONAL, REQUIRED = "none", "optional", "required"
# A valid access token required, its user id on `req.context.user_id`; the responder's service reads the
# user's row (401 when gone) in the statement it runs anyway: the buy request, which a burst's thousands
# of losers send at once, then costs one round trip.
TOKEN = "token"


@dataclass(frozen=True)
class Endpoint:
    summary: str
    auth: str = NONE  # NONE, OPTIONAL (a token is read when valid), REQUIRED or TOKEN
    roles: tuple[str, ...] = ()  # with REQUIRED: only these roles (403 for others)
    path: type[BaseModel] | None = None  # free-text path segments (falcon converts uuid and int ones)
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    headers: type[BaseModel] | None = None  # documented only: the responder reads them (own error codes)
    status: int = 200
    answer: Any = None  # the success body: a pydantic model or type (None: no body)
    # What the rules can answer besides validation, auth and missing rows (an idempotent replay's 200 too).
    errors: tuple[int, ...] = ()
    uses_dependencies: bool = True  # reaches the database or Redis, so may answer 503


def endpoint(summary: str, **declared) -> Callable[[Callable], Callable]:
    spec = Endpoint(summary, **declared)
    if spec.roles and spec.auth != REQUIRED:
        raise ValueError(f"{summary!r}: roles need auth=REQUIRED")

    def decorate(responder):
        @functools.wraps(responder)
        def typed(resource, req, resp, **params):
            if spec.path is not None:
                req.context.path = validated(spec.path, params, what="path")
            if spec.query is not None:
                req.context.query = validated(spec.query, req.params, what="query")
            if spec.body is not None:
                req.context.body = validated(spec.body, json_body(req))
            return responder(resource, req, resp, **params)

        wrapped = typed
        if spec.roles:
            wrapped = falcon.before(require_role(*spec.roles))(wrapped)
        elif spec.auth == REQUIRED:
            wrapped = falcon.before(require_user)(wrapped)
        elif spec.auth == OPTIONAL:
            wrapped = falcon.before(optional_user)(wrapped)
        elif spec.auth == TOKEN:
            wrapped = falcon.before(require_token_subject)(wrapped)
        wrapped.endpoint = spec
        return wrapped

    return decorate


def json_body(req: falcon.Request) -> Any:
    """The parsed JSON body; an absent body is an empty object."""
    if not req.content_length and not req.get_header("Transfer-Encoding"):
        return {}
    try:
        return req.get_media()
    except RecursionError:  # the JSON parser gives up on absurd nesting
        raise Invalid("The request body is nested too deeply") from None
