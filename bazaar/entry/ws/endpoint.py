"""GET /ws and /socket.io/: the real-time endpoint (the upgrade itself is gevent-websocket's, in the gunicorn
worker), one connection model with two wire dialects.

A browser's `Origin` must be one of the allowed CORS origins (else close 4403). On /ws a `?token=` that is
present must be a valid access token (else close 4401); without one the connection is anonymous. On
/socket.io/ (Engine.IO v4, WebSocket transport) identity is settled by the client's CONNECT packet
(`socketio_dialect`). A plain HTTP request to /ws gets a 400 envelope; one to /socket.io/ (the polling
transport) gets Engine.IO's "Transport unknown" error, and the client stays on WebSocket.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

import falcon
import gevent

from bazaar.domain.errors import Invalid, Unauthorized
from bazaar.entry.errors import as_domain_error
from bazaar.entry.jobs.rooms import RealtimeJobs
from bazaar.entry.ws import wire
from bazaar.entry.ws.connection import Connection, Dialect
from bazaar.entry.ws.handlers import RoomEvents
from bazaar.entry.ws.json_dialect import JsonDialect
from bazaar.entry.ws.socketio_dialect import PROTOCOL_VERSION, SocketIODialect, bearer_token
from bazaar.entry.ws.transport import FlushScheduler, SocketTransport, refuse, take_socket
from bazaar.infra import db
from bazaar.services.auth import AuthService
from config import Settings

log = logging.getLogger("bazaar.ws")

WS_PATH = "/ws"
SOCKETIO_PATH = "/socket.io"
# Engine.IO's error for a transport it does not serve (its code 0); the client then keeps to WebSocket.
_TRANSPORT_UNKNOWN = json.dumps({"code": 0, "message": "Transport unknown"}).encode()


class WebSocketEndpoint:
    """The WSGI handler of /ws and /socket.io/, and the worker's registry of open connections."""

    def __init__(
        self,
        settings: Settings,
        auth: AuthService,
        events: RoomEvents,
        jobs: RealtimeJobs,
        connections: set[Connection],
    ):
        self.settings = settings
        self.auth = auth
        self.events = events
        self.jobs = jobs
        self.connections = connections  # the worker's open connections (the heartbeat jobs walk them too)
        self._scheduler = FlushScheduler(settings)
        self._json = JsonDialect()
        self._origins = {origin.rstrip("/") for origin in settings.cors_origins}
        self._stopping = False

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "").rstrip("/")
        ws = environ.get("wsgi.websocket")
        if ws is None:
            return _not_upgraded(start_response, socketio=path == SOCKETIO_PATH)
        # From here on this module reads, writes and closes the socket: gevent-websocket's close()
        # would send a close frame without its status code.
        ws.closed = True
        if path not in (WS_PATH, SOCKETIO_PATH):  # the server upgrades whatever asks
            return self._refuse(ws, wire.NOT_FOUND, "no WebSocket endpoint here")
        origin = environ.get("HTTP_ORIGIN")
        if origin and "*" not in self._origins and origin.rstrip("/") not in self._origins:
            return self._refuse(ws, wire.FORBIDDEN_ORIGIN, "origin not allowed")
        if self._stopping:
            return self._refuse(ws, wire.GOING_AWAY, "server shutting down")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        token = (query.get("token") or [""])[0]
        authorization = environ.get("HTTP_AUTHORIZATION")
        user = None
        dialect: Dialect = self._json
        if path == SOCKETIO_PATH:
            if (query.get("EIO") or [""])[0] != PROTOCOL_VERSION or "sid" in query:
                return self._refuse(ws, wire.PROTOCOL_ERROR, "Engine.IO v4 over WebSocket only, no upgrade")
            dialect = SocketIODialect(self.auth, self.settings, token or bearer_token(authorization))
        elif token:
            try:
                user = self.auth.authenticate(token)
            except Exception as exc:
                failure = as_domain_error(exc)
                if isinstance(failure, Unauthorized):
                    return self._refuse(ws, wire.UNAUTHORIZED, failure.message)
                if failure is None:
                    log.exception("authenticating a WebSocket failed")
                return self._refuse(ws, wire.TRY_AGAIN_LATER, "service unavailable")
            finally:
                db.release()
        sock, pending, release = take_socket(ws)
        transport = SocketTransport(sock, self._scheduler, self.settings, pending=pending, release=release)
        Connection(transport, dialect, user, self.events, self.connections).start()
        return []  # the request ends here; the connection goes on reading by itself

    def _refuse(self, ws, code: int, reason: str) -> list:
        refuse(ws, code, reason, self.settings)
        return []

    def start(self) -> None:
        self.jobs.start()

    def shutdown(self) -> None:
        """SIGTERM: close every socket with 1001 and wait until each has left its rooms (views closed)."""
        if self._stopping:
            return
        self._stopping = True
        self.jobs.stop()
        open_connections = list(self.connections)
        for connection in open_connections:
            connection.close(wire.GOING_AWAY, "server shutting down")
        deadline = self.settings.ws_close_timeout_s + max(1.0, self.settings.graceful_timeout_s / 2)
        with gevent.Timeout(deadline, False):
            while self.connections:
                gevent.sleep(0.05)
        if open_connections:
            log.info(
                "closed %d WebSocket(s) for shutdown, %d still open",
                len(open_connections),
                len(self.connections),
            )


def _not_upgraded(start_response, *, socketio: bool) -> list[bytes]:
    if socketio:
        body = _TRANSPORT_UNKNOWN
        status = falcon.HTTP_400
    else:
        error = Invalid(
            "GET /ws is a WebSocket endpoint: send an Upgrade: websocket request",
            code="websocket_upgrade_required",
        )
        body = json.dumps(error.body()).encode()
        status = falcon.code_to_http_status(error.status)
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def create_websocket_endpoint(settings: Settings, services) -> WebSocketEndpoint:
    """The real-time endpoint over the worker's services (`bazaar.app.Services`)."""
    events = RoomEvents(
        settings,
        services.hub,
        services.live_state,
        services.sessions,
        services.chat,
        services.presence,
        services.engagement,
    )
    connections: set[Connection] = set()
    jobs = RealtimeJobs(
        settings,
        services.hub,
        services.live_state,
        services.publisher,
        services.sessions,
        services.presence,
        services.session_facts,
        connections,
    )
    return WebSocketEndpoint(settings, services.auth, events, jobs, connections)
