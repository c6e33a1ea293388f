"""SPEC §10: /api/openapi.json is an OpenAPI 3.1 document of exactly the routes the app serves."""

from __future__ import annotations

import pytest

from bazaar.app import build_services
from bazaar.entry.http import route_table
from bazaar.entry.http.openapi import openapi_path

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


@pytest.fixture
def served(app, settings) -> set[tuple[str, str]]:
    """(method, OpenAPI path) for every responder in the app's route table."""
    pairs = set()
    for route in route_table(build_services(settings)):
        for method in HTTP_METHODS:
            responder = f"on_{method}" + (f"_{route.suffix}" if route.suffix else "")
            if callable(getattr(route.resource, responder, None)):
                pairs.add((method, openapi_path(route.uri)))
    return pairs


@pytest.fixture
def documented(api) -> set[tuple[str, str]]:
    paths = api.get("/api/openapi.json").json["paths"]
    return {(method, path) for path, operations in paths.items() for method in operations}


def test_the_document_is_openapi_3_1(api):
    resp = api.get("/api/openapi.json")
    assert resp.status == 200
    assert resp.json["openapi"].startswith("3.1")
    assert resp.json["info"]["title"]


def test_every_served_route_is_documented(served, documented):
    assert served - documented == set()


def test_every_documented_route_is_served(served, documented):
    assert documented - served == set()


def test_the_route_walk_sees_the_foundation_routes(served):
    assert {
        ("post", "/api/auth/register"),
        ("get", "/api/products/{product_id}"),
        ("delete", "/api/users/{user_id}"),
        ("post", "/api/auth/update"),
    } <= served


def test_routes_that_need_a_token_say_so(api):
    paths = api.get("/api/openapi.json").json["paths"]
    assert paths["/api/auth/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/api/products/categories"]["get"]


def test_path_parameters_are_declared(api):
    operation = api.get("/api/openapi.json").json["paths"]["/api/products/{product_id}"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["product_id"]


def test_template_conversion_drops_falcon_converters():
    assert openapi_path("/api/products/{product_id:uuid}") == "/api/products/{product_id}"
    assert openapi_path("/api/users/{user_id:int(min=1)}/x/{y}") == "/api/users/{user_id}/x/{y}"
