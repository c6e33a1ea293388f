"""The OpenAPI 3.1 document. Each operation is described here once; a test checks that
every route the app serves is described and nothing described is missing from the app."""

from __future__ import annotations

import re

NONE, OPTIONAL, REQUIRED = "none", "optional", "required"

# (method, path, summary, auth)
OPERATIONS: list[tuple[str, str, str, str]] = [
    ("get", "/health", "Liveness", NONE),
    ("get", "/ready", "Readiness of database, Redis and search", NONE),
    ("get", "/api/openapi.json", "This document", NONE),
    # auth
    ("post", "/api/auth/register", "Register (viewer or creator)", NONE),
    ("post", "/api/auth/login", "Log in with username or email", NONE),
    ("post", "/api/auth/refresh-token", "Rotate a refresh token", NONE),
    ("post", "/api/auth/logout", "Revoke refresh tokens", REQUIRED),
    ("get", "/api/auth/me", "The caller", REQUIRED),
    ("get", "/api/auth/currentUser", "The caller (alias)", REQUIRED),
    ("put", "/api/auth/update", "Update own profile", REQUIRED),
    ("post", "/api/auth/update", "Update own profile (alias)", REQUIRED),
    # users
    ("get", "/api/users", "List users", NONE),
    ("post", "/api/users", "Create a user with any role (admin)", REQUIRED),
    ("get", "/api/users/{user_id}", "A user", NONE),
    ("put", "/api/users/{user_id}", "Update a user (self or admin)", REQUIRED),
    ("delete", "/api/users/{user_id}", "Delete a user (self or admin)", REQUIRED),
    # products
    ("get", "/api/products", "Own products", REQUIRED),
    ("post", "/api/products", "Create a product (creator)", REQUIRED),
    ("get", "/api/products/categories", "Distinct categories", NONE),
    ("get", "/api/products/in-stock", "Own products in stock", REQUIRED),
    ("get", "/api/products/category/{category}", "Own products in a category", REQUIRED),
    ("get", "/api/products/{product_id}", "A product", NONE),
    ("put", "/api/products/{product_id}", "Update a product (owner)", REQUIRED),
    ("delete", "/api/products/{product_id}", "Delete a product (owner)", REQUIRED),
    # sessions
    ("get", "/api/users/live", "Creators live now, with their session", OPTIONAL),
    ("get", "/api/sessions", "Own sessions (?status=)", REQUIRED),
    ("post", "/api/sessions", "Create a session (creator)", REQUIRED),
    ("get", "/api/sessions/{session_id}", "A session with its creator and products", OPTIONAL),
    ("put", "/api/sessions/{session_id}", "Update a session (owner)", REQUIRED),
    ("patch", "/api/sessions/{session_id}", "Update a session (owner)", REQUIRED),
    ("delete", "/api/sessions/{session_id}", "Delete a session that is not on air (owner)", REQUIRED),
    (
        "patch",
        "/api/sessions/{session_id}/status",
        "Move a session along its status machine (owner)",
        REQUIRED,
    ),
    ("post", "/api/sessions/{session_id}/start-stream", "Go live; a publisher token (owner)", REQUIRED),
    (
        "post",
        "/api/sessions/{session_id}/end-stream",
        "End the stream, persist live counters (owner)",
        REQUIRED,
    ),
    ("get", "/api/sessions/{session_id}/stream-token", "A subscriber token (uid 0 when anonymous)", OPTIONAL),
    ("post", "/api/sessions/{session_id}/refresh-token", "A fresh publisher or subscriber token", OPTIONAL),
    ("get", "/api/sessions/{session_id}/reactions", "Reaction counts, live while on air", NONE),
    (
        "get",
        "/api/sessions/{session_id}/conversion-stats",
        "Product clicks and click-through rates",
        OPTIONAL,
    ),
    (
        "post",
        "/api/sessions/{session_id}/showcase",
        "Showcase a session product or clear it (owner)",
        REQUIRED,
    ),
    ("get", "/api/sessions/{session_id}/products", "The session's products (?featured=)", NONE),
    ("post", "/api/sessions/{session_id}/products", "Add an own product to the session (owner)", REQUIRED),
    (
        "patch",
        "/api/sessions/{session_id}/products",
        "Set exactly these products as featured (owner)",
        REQUIRED,
    ),
    (
        "delete",
        "/api/sessions/{session_id}/products/{product_id}",
        "Remove a product from the session (owner)",
        REQUIRED,
    ),
    (
        "patch",
        "/api/sessions/{session_id}/products/{product_id}/feature",
        "Toggle featured (owner)",
        REQUIRED,
    ),
    (
        "patch",
        "/api/sessions/{session_id}/products/{product_id}/order",
        "Set the display order (owner)",
        REQUIRED,
    ),
    # selling: drops, orders, payments (issue 13)
    (
        "put",
        "/api/sessions/{session_id}/products/{product_id}/drop",
        "Open, change or end (dropQuantity 0) a product's drop in the show (owner)",
        REQUIRED,
    ),
    ("post", "/api/sessions/{session_id}/orders", "Buy from a drop (Idempotency-Key required)", REQUIRED),
    ("get", "/api/sessions/{session_id}/orders", "The show's orders (owner, admin)", REQUIRED),
    ("get", "/api/orders", "The caller's orders as a buyer, newest first", REQUIRED),
    ("get", "/api/orders/{order_id}", "An order (buyer, seller, admin)", REQUIRED),
    ("post", "/api/orders/{order_id}/cancel", "Cancel a reservation (buyer, seller, admin)", REQUIRED),
    ("post", "/api/orders/{order_id}/mark-paid", "Confirm payment received (seller, admin)", REQUIRED),
    ("post", "/api/orders/{order_id}/fulfil", "Mark a paid order shipped (seller, admin)", REQUIRED),
    ("post", "/api/orders/{order_id}/refund", "Refund a paid order (seller, admin)", REQUIRED),
    ("post", "/api/payments/webhook/{provider}", "A payment provider's signed event", NONE),
    # chat
    (
        "get",
        "/api/sessions/{session_id}/chat",
        "Chat history: the newest page before `before`, oldest first",
        NONE,
    ),
    ("post", "/api/sessions/{session_id}/chat", "Post a chat message (live or paused sessions)", REQUIRED),
    ("get", "/api/sessions/{session_id}/chat/count", "Number of chat messages", NONE),
    (
        "delete",
        "/api/sessions/{session_id}/chat/{message_id}",
        "Delete a message (moderator, admin, owner)",
        REQUIRED,
    ),
    # analytics
    ("get", "/api/sessions/{session_id}/analytics", "Session analytics (owner, moderator, admin)", REQUIRED),
    (
        "get",
        "/api/sessions/{session_id}/analytics/live",
        "Viewers watching now (owner, moderator, admin)",
        REQUIRED,
    ),
    (
        "get",
        "/api/sessions/{session_id}/analytics/viewers",
        "Every view of a session (owner, moderator, admin)",
        REQUIRED,
    ),
    (
        "get",
        "/api/analytics/creator/{creator_id}",
        "Analytics over a creator's sessions (self or admin)",
        REQUIRED,
    ),
    # search
    ("get", "/api/search", "Sessions and products matching a text (?q=, limit)", NONE),
    (
        "get",
        "/api/search/sessions",
        "Search sessions (?q, status, category, creatorId, sortBy, limit, offset)",
        NONE,
    ),
    ("get", "/api/search/sessions/live", "Live sessions, most viewers first", NONE),
    ("get", "/api/search/sessions/upcoming", "Scheduled sessions, soonest first", NONE),
    ("get", "/api/search/sessions/trending", "Live sessions by viewers, then recent engagement", NONE),
    ("get", "/api/search/sessions/creator/{creator_id}", "A creator's sessions, newest first", NONE),
    (
        "get",
        "/api/search/products",
        "Search products (?q, category, inStock, minPrice, maxPrice, sellerId, sortBy, limit, offset)",
        NONE,
    ),
]

_CONVERTER = re.compile(r"\{(\w+)(:[^}]*)?\}")


def openapi_path(uri_template: str) -> str:
    """Falcon's `/x/{id:uuid}` → OpenAPI's `/x/{id}`."""
    return _CONVERTER.sub(r"{\1}", uri_template)


_ERROR = {"$ref": "#/components/responses/Error"}


def _operation(method: str, path: str, summary: str, auth: str) -> dict:
    op = {
        "summary": summary,
        "operationId": f"{method}_{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_')}",
        "responses": {
            "200" if method != "post" else "201": {"description": "Success"},
            "4XX": _ERROR,
            "5XX": _ERROR,
        },
    }
    if method == "delete":
        op["responses"] = {
            "204": {"description": "Deleted"},
            "200": {"description": "Deleted"},
            "4XX": _ERROR,
        }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", path)
    ]
    if params:
        op["parameters"] = params
    if auth == REQUIRED:
        op["security"] = [{"bearerAuth": []}]
    elif auth == OPTIONAL:
        op["security"] = [{"bearerAuth": []}, {}]
    if method in ("post", "put", "patch"):
        op["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return op


def document() -> dict:
    paths: dict = {}
    for method, path, summary, auth in OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(method, path, summary, auth)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Stream Bazaar API",
            "version": "1.0.0",
            "description": "REST API of the Stream Bazaar live-stream shopping backend. "
            "WebSocket protocol: GET /ws (see README).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["success", "message", "error"],
                    "properties": {
                        "success": {"const": False},
                        "message": {"type": "string"},
                        "error": {"type": "string"},
                        "details": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                }
            },
            "responses": {
                "Error": {
                    "description": "Error envelope",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
        },
    }
