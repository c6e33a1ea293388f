"""Cross-cutting HTTP behaviour: request ids, access log, body limits and type, the caller's auth, the DB
connection; what the JSON reader and the router accept."""

from __future__ import annotations

import json
import logging
import os
import re
import time

import falcon

from bazaar.domain.errors import PayloadTooLarge
from bazaar.infra.db import release
from bazaar.infra.rows import SharedView
from bazaar.services.auth import AuthService

access_log = logging.getLogger("bazaar.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# A decoded path may hold any character: control characters (a newline would start a forged log line) are
# logged escaped.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


_UUID4_RANDOM_BITS = ((1 << 128) - 1) ^ (0xF000 << 64) ^ (0xC000 << 48)  # all but the version and variant
_UUID4_VERSION_AND_VARIANT = (0x4000 << 64) | (0x8000 << 48)


def new_request_id() -> str:
    """What `uuid.uuid4().hex` gives (32 hex digits of a random version-4 UUID), without making a UUID
    object on every request."""
    random = int.from_bytes(os.urandom(16))
    return "%032x" % (random & _UUID4_RANDOM_BITS | _UUID4_VERSION_AND_VARIANT)


def _loggable(text: str) -> str:
    return _CONTROL.sub(lambda match: match[0].encode("unicode_escape").decode("ascii"), text)


class RequestContext:
    """Request id in and out, one access-log line per request, the pooled connection handed back."""

    def __init__(self, auth: AuthService, max_body_bytes: int):
        self.auth = auth
        self.max_body_bytes = max_body_bytes

    def process_request(self, req: falcon.Request, resp: falcon.Response):
        incoming = req.get_header("X-Request-Id") or ""
        req.context.request_id = incoming if _REQUEST_ID.match(incoming) else new_request_id()
        req.context.started = time.perf_counter()
        req.context.auth = self.auth
        resp.set_header("X-Request-Id", req.context.request_id)
        if req.content_length is not None and req.content_length > self.max_body_bytes:
            raise PayloadTooLarge(f"Request body is larger than {self.max_body_bytes} bytes")
        if req.content_length and not req.content_type:
            raise falcon.HTTPUnsupportedMediaType(
                description="A request body needs Content-Type: application/json"
            )

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool):
        release()
        resp.set_header("X-Request-Id", req.context.get("request_id", ""))
        resp.append_header("Vary", "Origin")  # the CORS headers depend on it: caches must not mix origins
        if not access_log.isEnabledFor(logging.INFO):  # LOG_LEVEL=warning: not even the line's values
            return
        elapsed_ms = (time.perf_counter() - req.context.get("started", time.perf_counter())) * 1000
        # The path only: query strings may carry tokens.
        access_log.info(
            "%s %s %d %.1fms rid=%s",
            req.method,
            _loggable(req.path),
            resp.status_code,
            elapsed_ms,
            req.context.get("request_id"),
        )


_JSON = json.JSONEncoder(ensure_ascii=False)  # what json.dumps(ensure_ascii=False) makes on every call


def json_dumps(media) -> bytes:
    """A response body as UTF-8 JSON. A lone surrogate (a request's `"\\ud800"` echoed back, e.g. as an
    unknown field's name) has no UTF-8 form: it is written as the same JSON escape the client sent. A shared
    view (`rows.SharedView`: a product read by id) is encoded once for its life."""
    if type(media) is SharedView:
        return _encoded(media)
    if type(media) is BodyWithSharedViews:
        return _with_shared_views(media)
    return _utf8_json(media)


def _utf8_json(media) -> bytes:
    return _JSON.encode(media).encode("utf-8", "backslashreplace")


class BodyWithSharedViews(dict):
    """A body whose lists hold shared views (`rows.SharedView`, a search page's results): `json_dumps` encodes
    each view once for its life instead of on every page that shows it (the same bytes)."""


def _with_shared_views(body: dict) -> bytes:
    fields = []
    for key, value in body.items():
        encoded = b"[" + b", ".join(map(_encoded, value)) + b"]" if type(value) is list else json_dumps(value)
        fields.append(json_dumps(key) + b": " + encoded)
    return b"{" + b", ".join(fields) + b"}"


def _encoded(item) -> bytes:
    if type(item) is not SharedView:
        return json_dumps(item)
    if item.encoded is None:
        item.encoded = _utf8_json(item)
    return item.encoded


class AsciiInt(falcon.routing.IntConverter):
    """falcon's `int` path converter for ASCII digits only (`int()` also takes "１", "١", "+1" and "1_0")."""

    def convert(self, value: str):
        if not (value.isascii() and value.isdigit()):
            return None
        return super().convert(value)
