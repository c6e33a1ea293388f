"""SPEC §1: the error envelope everywhere, status codes for bad requests, request ids, CORS, the access
log."""

from __future__ import annotations

import logging

import pytest

from bazaar.app import build_services, create_api
from tests.conftest import PASSWORD
from tests.support.api_client import ApiClient


def assert_error_envelope(resp, status, error=None):
    assert resp.status == status, resp
    assert resp.json["success"] is False
    assert resp.json["message"]
    if error:
        assert resp.json["error"] == error


def test_an_unknown_route_is_a_404_envelope(api):
    assert_error_envelope(api.get("/api/no-such-thing"), 404, "not_found")


def test_an_unknown_route_outside_the_api_is_a_404_envelope(api):
    assert_error_envelope(api.get("/favicon.ico"), 404, "not_found")


def test_a_method_the_route_does_not_have_is_a_405_envelope(api):
    resp = api.delete("/api/users")
    assert_error_envelope(resp, 405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"]


def test_malformed_json_is_a_400_envelope(api, creator):
    resp = api.post(
        "/api/products", as_=creator, body='{"name": "Lamp",', headers={"Content-Type": "application/json"}
    )
    assert_error_envelope(resp, 400, "invalid_json")


def test_invalid_utf8_is_a_400_envelope(api):
    resp = api.post(
        "/api/auth/login", body=b'{"username": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    assert_error_envelope(resp, 400)


@pytest.mark.parametrize("payload", ["[1, 2]", '"text"', "42", "null"])
def test_a_json_body_that_is_not_an_object_is_a_400_envelope(api, payload):
    resp = api.post("/api/auth/login", body=payload, headers={"Content-Type": "application/json"})
    assert_error_envelope(resp, 400)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_a_body_that_is_not_json_is_a_415_envelope(api, content_type):
    resp = api.post("/api/auth/login", body="username=a&password=b", headers={"Content-Type": content_type})
    assert_error_envelope(resp, 415, "unsupported_media_type")


def test_json_with_a_charset_is_accepted(api, viewer):
    resp = api.post(
        "/api/auth/login",
        body=f'{{"username": "{viewer.username}", "password": "{PASSWORD}"}}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert resp.status == 200


def test_a_body_over_the_limit_is_a_413_envelope(api, settings, creator):
    resp = api.post(
        "/api/products",
        as_=creator,
        body="x" * (settings.max_body_bytes + 1),
        headers={"Content-Type": "application/json"},
    )
    assert_error_envelope(resp, 413, "payload_too_large")
    assert resp.headers.get("X-Request-Id")


def test_a_wrong_type_is_a_400_with_field_details(api, creator):
    resp = api.post("/api/products", as_=creator, json={"name": ["Lamp"], "price": "cheap"})
    assert_error_envelope(resp, 400, "validation_error")
    assert set(resp.json["details"]) == {"name", "price"}


def test_a_trailing_slash_reaches_the_same_route(api):
    assert api.get("/api/users/").status == 200


def test_health_answers_without_dependencies(api):
    resp = api.get("/health")
    assert resp.status == 200
    assert resp.json["status"] == "ok"


def test_ready_checks_the_database(api):
    resp = api.get("/ready")
    assert resp.status == 200
    assert resp.json["checks"]["database"] == "ok"


class Broken:
    def on_get(self, req, resp):
        raise RuntimeError("secret internals")


def test_an_unexpected_error_is_a_500_envelope_logged_under_the_returned_request_id(app, settings, caplog):
    broken_app = create_api(settings, build_services(settings))
    broken_app.add_route("/api/broken", Broken())
    resp = ApiClient(broken_app).get("/api/broken")
    assert_error_envelope(resp, 500, "internal_error")
    assert "secret internals" not in resp.text
    request_id = resp.headers["X-Request-Id"]
    assert resp.json["requestId"] == request_id
    [logged] = [r for r in caplog.records if r.levelname == "ERROR" and request_id in r.getMessage()]
    assert "secret internals" in str(logged.exc_info[1])


# request ids -----------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/health"),
        ("GET", "/api/users"),
        ("GET", "/api/nope"),
        ("DELETE", "/api/users"),
        ("GET", "/api/auth/me"),
    ],
)
def test_every_response_carries_a_request_id(api, method, path):
    assert len(api.request(method, path).headers.get("X-Request-Id", "")) >= 8


def test_each_request_gets_its_own_id(api):
    assert api.get("/health").headers["X-Request-Id"] != api.get("/health").headers["X-Request-Id"]


def test_a_sane_incoming_request_id_is_echoed(api):
    resp = api.get("/api/nope", headers={"X-Request-Id": "client-req-12345"})
    assert resp.headers["X-Request-Id"] == "client-req-12345"


@pytest.mark.parametrize("incoming", ["short", "has spaces in it", "x" * 200, "evil\u2028id-123456"])
def test_an_unusable_incoming_request_id_is_replaced(api, incoming):
    returned = api.get("/health", headers={"X-Request-Id": incoming}).headers["X-Request-Id"]
    assert returned and returned != incoming


# CORS ------------------------------------------------------------------------


def preflight(api, origin, path="/api/products"):
    return api.request(
        "OPTIONS",
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_a_preflight_from_an_allowed_origin_allows_authorization(api):
    resp = preflight(api, "http://app.test")
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "http://app.test"
    assert "authorization" in resp.headers["Access-Control-Allow-Headers"].lower()
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]


def test_the_default_front_end_origin_is_allowed(api):
    assert (
        preflight(api, "http://localhost:3001").headers["Access-Control-Allow-Origin"]
        == "http://localhost:3001"
    )


def test_a_preflight_on_a_route_with_a_path_parameter_is_answered(api):
    resp = preflight(api, "http://app.test", path="/api/users/1")
    assert resp.headers["Access-Control-Allow-Origin"] == "http://app.test"


def test_a_disallowed_origin_gets_no_allow_origin_header(api):
    resp = preflight(api, "http://evil.test")
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_a_cross_origin_request_can_read_the_request_id(api):
    resp = api.get("/api/users", headers={"Origin": "http://app.test"})
    assert resp.headers["Access-Control-Allow-Origin"] == "http://app.test"
    assert "x-request-id" in resp.headers["Access-Control-Expose-Headers"].lower()


def test_an_error_to_an_allowed_origin_still_carries_cors_headers(api):
    resp = api.get("/api/nope", headers={"Origin": "http://app.test"})
    assert resp.headers["Access-Control-Allow-Origin"] == "http://app.test"


def test_a_refused_oversized_body_still_carries_cors_headers(api, settings):
    resp = api.post(
        "/api/auth/login",
        body="x" * (settings.max_body_bytes + 1),
        headers={"Origin": "http://app.test", "Content-Type": "application/json"},
    )
    assert resp.status == 413
    assert resp.headers["Access-Control-Allow-Origin"] == "http://app.test"


# access log --------------------------------------------------------------------


@pytest.fixture
def access_log(caplog):
    caplog.set_level(logging.INFO, logger="bazaar.access")
    return caplog


def access_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "bazaar.access"]


def test_one_access_log_line_per_request_with_method_path_status_ms_and_request_id(api, access_log):
    resp = api.get("/api/users/999999", headers={"X-Request-Id": "trace-me-123456"})
    [line] = access_lines(access_log)
    assert "GET" in line
    assert "/api/users/999999" in line
    assert str(resp.status) in line
    assert "ms" in line
    assert "trace-me-123456" in line


def test_the_access_log_never_holds_tokens_or_passwords(api, viewer, access_log):
    api.post("/api/auth/login", json={"username": viewer.username, "password": PASSWORD})
    api.get("/api/auth/me", as_=viewer, params={"token": viewer.token})
    api.post("/api/auth/refresh-token", json={"refreshToken": viewer.refresh_token})
    text = "\n".join(access_lines(access_log))
    assert len(access_lines(access_log)) == 3
    for secret in (PASSWORD, viewer.token, viewer.refresh_token):
        assert secret not in text
    assert viewer.token not in access_log.text


def test_deeply_nested_json_is_a_400_envelope(api):
    resp = api.post(
        "/api/auth/login", body="[" * 100_000 + "]" * 100_000, headers={"Content-Type": "application/json"}
    )
    assert_error_envelope(resp, 400)


@pytest.mark.parametrize(
    "path, payload",
    [
        ("/api/auth/login", '{"username": "\\ud800", "password": "whatever-123"}'),
        ("/api/auth/login", '{"username": "someone", "password": "\\ud800\\udfff-\\udc00-pass"}'),
        (
            "/api/auth/register",
            '{"username": "alice", "email": "\\udc00@x.test", "password": "long-enough-1"}',
        ),
        (
            "/api/auth/register",
            '{"username": "alice", "email": "a@x.test", "password": "\\ud800-long-enough"}',
        ),
    ],
)
def test_text_that_is_not_valid_unicode_is_a_400(api, path, payload):
    resp = api.post(path, body=payload, headers={"Content-Type": "application/json"})
    assert_error_envelope(resp, 400)
