"""Cross-cutting HTTP behaviour: request ids, access log, body limits, the caller's auth, the DB
connection."""

from __future__ import annotations

import logging
import re
import time
import uuid

import falcon

from bazaar.domain.errors import PayloadTooLarge
from bazaar.infra.db import release
from bazaar.services.auth import AuthService

access_log = logging.getLogger("bazaar.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContext:
    """Request id in and out, one access-log line per request, the pooled connection handed back."""

    def __init__(self, auth: AuthService, max_body_bytes: int):
        self.auth = auth
        self.max_body_bytes = max_body_bytes

    def process_request(self, req: falcon.Request, resp: falcon.Response):
        incoming = req.get_header("X-Request-Id") or ""
        req.context.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        req.context.started = time.perf_counter()
        req.context.auth = self.auth
        resp.set_header("X-Request-Id", req.context.request_id)
        if req.content_length is not None and req.content_length > self.max_body_bytes:
            raise PayloadTooLarge(f"Request body is larger than {self.max_body_bytes} bytes")

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool):
        release()
        resp.set_header("X-Request-Id", req.context.get("request_id", ""))
        elapsed_ms = (time.perf_counter() - req.context.get("started", time.perf_counter())) * 1000
        # The path only: query strings may carry tokens.
        access_log.info(
            "%s %s %d %.1fms rid=%s",
            req.method,
            req.path,
            resp.status_code,
            elapsed_ms,
            req.context.get("request_id"),
        )
