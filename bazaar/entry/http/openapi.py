"""The OpenAPI 3.1 document, generated from the route table and each responder's `@endpoint`: the same
models that validate a request describe it (bodies, query parameters with their bounds, path parameters
with their formats), the answers' models describe the responses, and the statuses are the ones the route
can answer. tests/api/test_openapi.py checks the document against the app."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from bazaar.entry.http import answers
from bazaar.entry.http.endpoint import NONE, OPTIONAL, REQUIRED, TOKEN, Endpoint

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_REF = "#/components/schemas/{model}"
_CONVERTER = re.compile(r"\{(\w+)(?::([a-z]+)(?:\(([^)]*)\))?)?\}")
_ERROR_TEXT = {
    400: "Invalid input: malformed JSON, wrong types or values (`details` names each field)",
    401: "Not signed in, or the token is expired or invalid",
    403: "Signed in but not allowed",
    404: "No such row (an id that is not a UUID or an integer in range is a 404 too)",
    409: "Conflicts with the current state (a duplicate, an illegal status move)",
    413: "Body over MAX_BODY_BYTES",
    415: "A body that is not JSON",
    429: "Rate limited: `Retry-After` says when to try again",
    503: "A dependency (database, Redis, Agora) is down or not configured",
}


def openapi_path(uri_template: str) -> str:
    """Falcon's `/x/{id:uuid}` → OpenAPI's `/x/{id}`."""
    return _CONVERTER.sub(r"{\1}", uri_template)


def responders(route) -> list[tuple[str, Any]]:
    """(method, responder) for every method the route's resource answers."""
    found = []
    for method in HTTP_METHODS:
        name = f"on_{method}" + (f"_{route.suffix}" if route.suffix else "")
        responder = getattr(route.resource, name, None)
        if callable(responder):
            found.append((method, responder))
    return found


def statuses(spec: Endpoint, uri_template: str) -> list[int]:
    """Every status the responder can answer: its success, then the errors its declaration implies."""
    # 400 everywhere: the server refuses broken framing (a malformed Content-Length, say) before routing.
    errors = set(spec.errors) | {400}
    if spec.body:
        errors |= {413, 415}
    if spec.auth in (REQUIRED, TOKEN):
        errors.add(401)
    if spec.roles:
        errors.add(403)
    if re.search(r"\{\w+:(uuid|int)", uri_template):  # an id: malformed or naming no row
        errors.add(404)
    if spec.uses_dependencies:
        errors.add(503)
    return [spec.status, *sorted(errors)]


class _Schemas:
    """Collects every model's JSON schema under components/schemas (one name per model); a plain type
    (`list[Product]`, `dict`) is written inline with its models among the components."""

    def __init__(self):
        self.models: list[tuple[type[BaseModel], str]] = []
        self.inline: dict[tuple[Any, str], dict] = {}
        self.components: dict[str, Any] = {}

    def add(self, kind: Any, mode: str) -> None:
        if kind is None:
            return
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            self.models.append((kind, mode))
        else:
            schema = TypeAdapter(kind).json_schema(mode=mode, ref_template=_REF)
            self.components.update(_tidy(schema.pop("$defs", {})))
            self.inline[(kind, mode)] = _tidy(schema)

    def resolve(self) -> None:
        by_model, top = models_json_schema(self.models, ref_template=_REF)
        self.inline.update(by_model)
        self.components.update(_tidy(top.get("$defs", {})))

    def of(self, kind: Any, mode: str) -> dict:
        return self.inline[(kind, mode)]


def _tidy(schema: Any) -> Any:
    """Drop pydantic's generated titles (noise for a reader and for a fuzzer) and `default: null` (absent
    means "not sent": a partial update's fields are not nullable for all that)."""
    if isinstance(schema, dict):
        return {
            k: _tidy(v)
            for k, v in schema.items()
            if not (k == "title" and isinstance(v, str)) and not (k == "default" and v is None)
        }
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    return schema


def _not_null(schema: dict) -> dict:
    """A query or path parameter is absent rather than null: the `null` branch of an optional goes."""
    options = schema.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        schema = {k: v for k, v in schema.items() if k != "anyOf"}
        schema.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
    return schema


def _parameters(model: type[BaseModel] | None, where: str) -> list[dict]:
    if model is None:
        return []
    schema = _tidy(model.model_json_schema(mode="validation", ref_template=_REF))
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema["properties"].items():
        prop = _not_null(prop)
        params.append({"name": name, "in": where, "required": name in required, "schema": prop})
    return params


def _path_parameters(uri_template: str, declared: type[BaseModel] | None) -> list[dict]:
    """From falcon's converters: `uuid` → string/uuid, `int(min=…, max=…)` → a bounded integer; free
    segments from the responder's path model."""
    free = {p["name"]: p["schema"] for p in _parameters(declared, "path")}
    params = []
    for name, converter, args in _CONVERTER.findall(uri_template):
        if converter == "uuid":
            schema = {"type": "string", "format": "uuid"}
        elif converter == "int":
            schema = {"type": "integer"}
            bounds = dict(re.findall(r"(min|max)\s*=\s*(-?\d+)", args))
            if "min" in bounds:
                schema["minimum"] = int(bounds["min"])
            if "max" in bounds:
                schema["maximum"] = int(bounds["max"])
        else:
            schema = free.get(name, {"type": "string"})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _operation(route, method: str, spec: Endpoint, schemas: _Schemas) -> dict:
    path = openapi_path(route.uri)
    summary = getattr(route.resource, "summary", None) or spec.summary  # a resource serving many lists
    op: dict[str, Any] = {
        "summary": summary,
        "operationId": f"{method}_{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_')}",
    }
    params = (
        _path_parameters(route.uri, spec.path)
        + _parameters(spec.query, "query")
        + _parameters(spec.headers, "header")
    )
    if params:
        op["parameters"] = params
    if spec.auth in (REQUIRED, TOKEN):
        op["security"] = [{"bearerAuth": []}]
    elif spec.auth == OPTIONAL:
        op["security"] = [{"bearerAuth": []}, {}]
    if spec.body is not None:
        body_schema = spec.body.model_json_schema(mode="validation")
        op["requestBody"] = {
            "required": bool(body_schema.get("required")),  # an absent body is an empty object
            "content": {"application/json": {"schema": schemas.of(spec.body, "validation")}},
        }
    responses: dict[str, Any] = {}
    for status in statuses(spec, route.uri):
        if status >= 400:
            responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
        elif spec.answer is None or status == 204:
            responses[str(status)] = {"description": "Done, no body"}
        else:
            responses[str(status)] = {
                "description": "Success" if status == spec.status else "Success (a replay)",
                "content": {"application/json": {"schema": schemas.of(spec.answer, "serialization")}},
            }
    op["responses"] = responses
    return op


def document(routes) -> dict:
    """The document for `routes` (the route table); responders without `@endpoint` are described by
    their docstring only."""
    declared = []
    schemas = _Schemas()
    schemas.add(answers.Error, "serialization")
    for route in routes:
        for method, responder in responders(route):
            spec = getattr(responder, "endpoint", None) or Endpoint(
                (responder.__doc__ or type(route.resource).__doc__ or "").strip() or "Undeclared", auth=NONE
            )
            declared.append((route, method, spec))
            schemas.add(spec.body, "validation")
            schemas.add(spec.answer, "serialization")
    schemas.resolve()
    paths: dict[str, dict] = {}
    for route, method, spec in declared:
        paths.setdefault(openapi_path(route.uri), {})[method] = _operation(route, method, spec, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Stream Bazaar API",
            "version": "1.0.0",
            "description": "REST API of the Stream Bazaar live-stream shopping backend. "
            "WebSocket protocol: GET /ws and /socket.io/ (see README).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas.components,
            "responses": {
                f"Error{status}": {
                    "description": text,
                    "content": {"application/json": {"schema": schemas.of(answers.Error, "serialization")}},
                }
                for status, text in _ERROR_TEXT.items()
            },
        },
    }
