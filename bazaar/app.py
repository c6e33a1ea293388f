"""The WSGI application: Falcon for REST, the WebSocket endpoint at /ws, built from one Settings."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import falcon

from bazaar.entry import errors
from bazaar.entry.http import route_table
from bazaar.entry.http.middleware import AsciiInt, RequestContext, json_dumps
from bazaar.entry.jobs.orders import OrderJobs
from bazaar.entry.ws.endpoint import SOCKETIO_PATH, WS_PATH, WebSocketEndpoint, create_websocket_endpoint
from bazaar.entry.ws.frames import RoomFrame
from bazaar.infra import db
from bazaar.infra.broker import Broker, make_broker
from bazaar.infra.search import SearchBackend, make_search
from bazaar.infra.webhook_outbox import WebhookRecorder
from bazaar.live import events
from bazaar.live.hub import Hub
from bazaar.live.publisher import Publisher
from bazaar.live.state import LiveState, make_live_state
from bazaar.services.agora import AgoraTokens
from bazaar.services.analytics import AnalyticsService
from bazaar.services.auth import AuthService
from bazaar.services.chat import ChatService
from bazaar.services.drops import DropService
from bazaar.services.engagement import EngagementService, SessionFactsCache
from bazaar.services.orders import OrderService
from bazaar.services.payments import PaymentService
from bazaar.services.presence import PresenceService
from bazaar.services.products import ProductService
from bazaar.services.session_products import SessionProductService
from bazaar.services.sessions import SessionService
from bazaar.services.users import UserService
from config import Settings

log = logging.getLogger("bazaar")


@dataclass
class Services:
    """Everything a resource may be handed, built once per worker."""

    settings: Settings
    broker: Broker
    hub: Hub
    publisher: Publisher
    live_state: LiveState
    auth: AuthService
    users: UserService
    products: ProductService
    sessions: SessionService
    session_products: SessionProductService
    drops: DropService
    orders: OrderService
    payments: PaymentService
    chat: ChatService
    presence: PresenceService
    engagement: EngagementService
    session_facts: SessionFactsCache  # per-worker cache of a session's status and product ids (clicks)
    analytics: AnalyticsService
    search: SearchBackend
    readiness_checks: dict  # name → callable raising when that dependency is unreachable


class ChatReplay:
    """The hub's `ChatLog`: the chat service's reads, as the broadcasts they were."""

    def __init__(self, chat: ChatService, limit: int):
        self.chat = chat
        self.limit = limit

    def newest(self, room: str) -> str | None:
        newest = self.chat.history(uuid.UUID(room), limit=1)
        return newest[0]["id"] if newest else None

    def after(self, room: str, message_id: str | None) -> list[str]:
        with db.connection():  # the broker's listener replays: its connection goes back to the pool
            session_id = uuid.UUID(room)
            messages = (
                self.chat.messages_since(session_id, uuid.UUID(message_id), self.limit)
                if message_id
                else self.chat.history(session_id, limit=self.limit)
            )
        return [events.encode(*events.new_message(message)) for message in messages]


def build_services(settings: Settings) -> Services:
    broker = make_broker(settings)
    live_state = make_live_state(settings)
    publisher = Publisher(broker)
    chat = ChatService(settings, publisher, live_state)
    # each dialect's frame built once per broadcast per worker; chat lost to a broker outage replayed
    hub = Hub(broker, encode=RoomFrame, chat=ChatReplay(chat, settings.chat_replay_limit))
    broker.start(hub.deliver, hub.resubscribed)
    auth = AuthService(settings, live_state)
    webhooks = WebhookRecorder(enabled=settings.webhook_url is not None)
    sessions = SessionService(publisher, live_state, AgoraTokens(settings), settings.open_selling, webhooks)
    search = make_search(settings, live_state)
    orders = OrderService(settings, sessions, publisher, live_state, webhooks)
    session_facts = SessionFactsCache(settings.session_facts_cache_s)
    checks = {
        "database": db.ping,
        **({"redis": live_state.ping} if settings.redis_url else {}),
        "search": search.ping,
    }
    return Services(
        settings=settings,
        broker=broker,
        hub=hub,
        publisher=publisher,
        live_state=live_state,
        auth=auth,
        users=UserService(auth),
        products=ProductService(settings.open_selling),
        sessions=sessions,
        session_products=SessionProductService(sessions, publisher),
        drops=DropService(sessions, publisher),
        orders=orders,
        payments=PaymentService(settings, orders),
        chat=chat,
        presence=PresenceService(live_state),
        engagement=EngagementService(settings, live_state, publisher, session_facts),
        session_facts=session_facts,
        analytics=AnalyticsService(live_state),
        search=search,
        readiness_checks=checks,
    )


def create_api(settings: Settings, services: Services) -> falcon.App:
    app = falcon.App(
        middleware=[
            RequestContext(services.auth, settings.max_body_bytes),
            falcon.CORSMiddleware(
                allow_origins=list(settings.cors_origins),
                allow_credentials=list(settings.cors_origins),
                expose_headers=["X-Request-Id", "X-Search-Backend", "Retry-After"],
            ),
        ]
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.router_options.converters["int"] = AsciiInt  # ids are ASCII digits only
    app.req_options.media_handlers = falcon.media.Handlers({falcon.MEDIA_JSON: falcon.media.JSONHandler()})
    app.resp_options.media_handlers = falcon.media.Handlers(
        {falcon.MEDIA_JSON: falcon.media.JSONHandler(dumps=json_dumps)}
    )
    errors.register(app)
    for route in route_table(services):
        app.add_route(route.uri, route.resource, suffix=route.suffix)
    return app


class Application:
    """The WSGI callable the server runs: /ws, /socket.io/ (and any upgraded request) to the WebSocket
    endpoint, everything else to Falcon.
    gunicorn's hooks (bazaar/serving.py) call `start` in each worker and `shutdown` on SIGTERM."""

    def __init__(self, api: falcon.App, websockets: WebSocketEndpoint, broker: Broker, order_jobs: OrderJobs):
        self.api = api
        self.websockets = websockets
        self.broker = broker
        self.order_jobs = order_jobs

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "").rstrip("/")
        if "wsgi.websocket" in environ or path in (WS_PATH, SOCKETIO_PATH):
            return self.websockets(environ, start_response)
        return self.api(environ, start_response)

    def start(self) -> None:
        self.websockets.start()
        self.order_jobs.start()

    def shutdown(self) -> None:
        self.order_jobs.stop()
        self.websockets.shutdown()
        self.broker.stop()


def create_app(settings: Settings) -> Application:
    """The WSGI callable for `settings`: opens the database pool and wires every layer."""
    db.open_database(settings)
    services = build_services(settings)
    return Application(
        create_api(settings, services),
        create_websocket_endpoint(settings, services),
        services.broker,
        OrderJobs(settings, services.orders),
    )
