"""A small REST client for tests: names the actor, hides the HTTP plumbing."""

from __future__ import annotations

from dataclasses import dataclass

import falcon.testing


@dataclass
class Actor:
    id: int
    username: str
    email: str
    password: str
    role: str
    token: str
    refresh_token: str


class Response:
    def __init__(self, raw: falcon.testing.Result):
        self.raw = raw
        self.status = raw.status_code
        self.headers = raw.headers
        self.text = raw.text

    @property
    def json(self):
        return self.raw.json

    @property
    def data(self):
        return self.raw.json["data"]

    def __repr__(self):
        return f"<Response {self.status} {self.text[:300]}>"


class ApiClient:
    def __init__(self, app):
        self.client = falcon.testing.TestClient(app)

    def request(
        self,
        method: str,
        path: str,
        *,
        as_: Actor | None = None,
        json=None,
        params=None,
        headers=None,
        body=None,
    ) -> Response:
        headers = dict(headers or {})
        if as_ is not None:
            headers["Authorization"] = f"Bearer {as_.token}"
        kwargs = {"headers": headers, "params": params}
        if json is not None:
            kwargs["json"] = json
        if body is not None:
            kwargs["body"] = body
        return Response(self.client.simulate_request(method, path, **kwargs))

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)
