"""The one mapping of domain errors to the error envelope (REST) and to `error` frames (WebSocket).

Services raise `bazaar.domain.errors`; no resource builds an error body by hand.
"""

from __future__ import annotations

import logging

import falcon
import redis

from bazaar.domain.errors import DomainError, RateLimited, Unavailable
from bazaar.infra.db import UNAVAILABLE_ERRORS, discard_broken_connection

log = logging.getLogger("bazaar.entry.errors")


# falcon's own HTTP errors (unknown route, 405, malformed JSON…) → our codes
_FALCON_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "service_unavailable",
}


def as_domain_error(exc: BaseException) -> DomainError | None:
    """Translate infrastructure failures to the domain error a client should see."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, UNAVAILABLE_ERRORS):
        discard_broken_connection()
        return Unavailable("The database is unavailable, try again shortly", code="database_unavailable")
    if isinstance(exc, redis.RedisError):
        return Unavailable(
            "Live state (Redis) is unavailable, try again shortly", code="live_state_unavailable"
        )
    return None


def error_frame(exc: BaseException, ref=None) -> dict:
    """The WebSocket `error` event for an exception (unexpected ones are logged)."""
    domain = as_domain_error(exc)
    if domain is None:
        log.exception("unhandled error in a WebSocket frame")
        domain = DomainError("Internal error", code="internal_error")
    frame = {"event": "error", "data": {"message": domain.message, "code": domain.code}}
    if domain.details:
        frame["data"]["details"] = domain.details
    if ref is not None:
        frame["ref"] = ref
    return frame


def _write(resp: falcon.Response, status, body: dict) -> None:
    resp.status = status
    resp.media = body


def _handle_domain(req, resp, exc: DomainError, params):
    _write(resp, falcon.code_to_http_status(exc.status), exc.body())
    if isinstance(exc, RateLimited):
        resp.set_header("Retry-After", str(max(1, int(exc.retry_after_s + 0.999))))


def _handle_http(req, resp, exc: falcon.HTTPError, params):
    code = _FALCON_CODES.get(exc.status_code, "error")
    if exc.status_code == 404:
        message = f"Route {req.method} {req.path} not found"
    elif exc.status_code == 405:
        message = f"Method {req.method} not allowed on {req.path}"
    elif exc.status_code == 400 and isinstance(exc, falcon.MediaMalformedError):
        message, code = "Malformed JSON body", "invalid_json"
    else:
        message = exc.description or exc.title or "Request failed"
    _write(resp, exc.status, {"success": False, "message": message, "error": code})
    for name, value in (exc.headers or {}).items():
        resp.set_header(name, value)


def _handle_unexpected(req, resp, exc: Exception, params):
    domain = as_domain_error(exc)
    if domain is not None:
        return _handle_domain(req, resp, domain, params)
    log.exception("unhandled error request_id=%s %s %s", req.context.get("request_id"), req.method, req.path)
    _write(
        resp,
        falcon.HTTP_500,
        {
            "success": False,
            "message": "Internal server error",
            "error": "internal_error",
            "requestId": req.context.get("request_id"),
        },
    )


def register(app: falcon.App) -> None:
    # falcon picks the most specific handler by the exception's MRO.
    app.add_error_handler(Exception, _handle_unexpected)
    app.add_error_handler(falcon.HTTPError, _handle_http)
    app.add_error_handler(DomainError, _handle_domain)
