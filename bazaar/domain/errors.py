"""Domain errors: what went wrong, for a person, with a plain HTTP-like status and a short machine code.

Services raise these. `bazaar/entry/errors.py` maps them once to the REST error envelope and to WebSocket
`error` frames; nothing here knows about HTTP libraries, Redis or the database.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None, **extra):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details
        self.extra = extra  # extra envelope fields, e.g. the current status of a Conflict

    def body(self) -> dict:
        body = {"success": False, "message": self.message, "error": self.code}
        if self.details:
            body["details"] = self.details
        body.update(self.extra)
        return body


class Invalid(DomainError):
    status = 400
    code = "validation_error"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str = "Too many requests, slow down", *, retry_after_s: float = 1.0, **kw):
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class Unavailable(DomainError):
    status = 503
    code = "service_unavailable"
