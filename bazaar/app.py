"""The WSGI application: Falcon for REST, the WebSocket endpoint at /ws, built from one Settings."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import falcon

from bazaar import db, errors
from bazaar.api import route_table
from bazaar.api.middleware import RequestContext
from bazaar.services.auth import AuthService
from bazaar.services.products import ProductService
from bazaar.services.users import UserService
from config import Settings

log = logging.getLogger("bazaar")


@dataclass
class Services:
    """Everything a resource may be handed, built once per worker."""

    settings: Settings
    auth: AuthService
    users: UserService
    products: ProductService
    readiness_checks: dict = field(default_factory=dict)


def build_services(settings: Settings) -> Services:
    auth = AuthService(settings)
    services = Services(settings=settings, auth=auth, users=UserService(auth), products=ProductService())
    services.readiness_checks["database"] = db.ping
    return services


def create_api(settings: Settings, services: Services) -> falcon.App:
    app = falcon.App(middleware=[
        RequestContext(services.auth, settings.max_body_bytes),
        falcon.CORSMiddleware(allow_origins=list(settings.cors_origins), allow_credentials=list(settings.cors_origins),
                              expose_headers=["X-Request-Id", "X-Search-Backend", "Retry-After"]),
    ])
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.media_handlers = falcon.media.Handlers({falcon.MEDIA_JSON: falcon.media.JSONHandler()})
    app.resp_options.media_handlers = falcon.media.Handlers({falcon.MEDIA_JSON: falcon.media.JSONHandler()})
    errors.register(app)
    for route in route_table(services):
        app.add_route(route.uri, route.resource, suffix=route.suffix)
    return app


def create_app(settings: Settings):
    """The WSGI callable for `settings`: opens the database pool and wires every layer."""
    db.open_database(settings)
    services = build_services(settings)
    return create_api(settings, services)
