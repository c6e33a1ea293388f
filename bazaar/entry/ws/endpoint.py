"""GET /ws: the WebSocket endpoint (the upgrade itself is gevent-websocket's, in the gunicorn worker).

A browser's `Origin` must be one of the allowed CORS origins (else close 4403); a
`?token=` that is present must be a valid access token (else close 4401); without
one the connection is anonymous. A plain HTTP request gets a 400 envelope.
"""

from __future__ import annotations

import json
import logging
import socket
from urllib.parse import parse_qs

import falcon
import gevent

from bazaar.domain.errors import Invalid, Unauthorized
from bazaar.entry.errors import as_domain_error
from bazaar.entry.jobs.rooms import RealtimeJobs
from bazaar.entry.ws import wire
from bazaar.entry.ws.connection import (
    Connection,
    FlushScheduler,
    RoomEvents,
    discard_input,
)
from bazaar.infra import db
from bazaar.services.auth import AuthService
from bazaar.services.engagement import EngagementService, SessionFactsCache
from bazaar.services.presence import PresenceService
from config import Settings

log = logging.getLogger("bazaar.ws")


class WebSocketEndpoint:
    """The WSGI handler of /ws, and the worker's registry of open connections."""

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
        self.connections = connections  # the worker's open connections (the heartbeat job walks them too)
        self._scheduler = FlushScheduler()
        self._origins = {origin.rstrip("/") for origin in settings.cors_origins}
        self._stopping = False

    def __call__(self, environ, start_response):
        ws = environ.get("wsgi.websocket")
        if ws is None:
            return _not_upgraded(start_response)
        # From here on this module reads, writes and closes the socket: gevent-websocket's close()
        # would send a close frame without its status code.
        ws.closed = True
        if environ.get("PATH_INFO", "").rstrip("/") != "/ws":  # the server upgrades whatever asks
            return self._refuse(ws, wire.NOT_FOUND, "no WebSocket endpoint here")
        origin = environ.get("HTTP_ORIGIN")
        if origin and "*" not in self._origins and origin.rstrip("/") not in self._origins:
            return self._refuse(ws, wire.FORBIDDEN_ORIGIN, "origin not allowed")
        if self._stopping:
            return self._refuse(ws, wire.GOING_AWAY, "server shutting down")
        token = (parse_qs(environ.get("QUERY_STRING", "")).get("token") or [""])[0]
        environ.clear()  # the server keeps the request's environ for the socket's whole life (1.4 KB each)
        user = None
        if token:
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
        connection = Connection(ws, user, self.events, self._scheduler, self.settings)
        self.connections.add(connection)
        try:
            connection.run()
        finally:
            self.connections.discard(connection)
        return []

    def _refuse(self, ws, code: int, reason: str) -> list:
        """Close before any frame is read: send the close frame, then wait (briefly) for the peer's."""
        sock = ws.handler.socket
        try:
            sock.sendall(wire.close_frame(code, reason))
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return []
        with gevent.Timeout(self.settings.ws_close_timeout_s, False):
            discard_input(ws.handler.rfile.read1)
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


def _not_upgraded(start_response) -> list[bytes]:
    error = Invalid(
        "GET /ws is a WebSocket endpoint: send an Upgrade: websocket request",
        code="websocket_upgrade_required",
    )
    body = json.dumps(error.body()).encode()
    start_response(
        falcon.code_to_http_status(error.status),
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def create_websocket_endpoint(settings: Settings, services) -> WebSocketEndpoint:
    """The /ws endpoint over the worker's services (`bazaar.app.Services`)."""
    presence = PresenceService(services.live_state)
    facts = SessionFactsCache(settings.session_facts_cache_s)
    engagement = EngagementService(settings, services.live_state, services.publisher, facts)
    events = RoomEvents(
        settings, services.hub, services.live_state, services.sessions, services.chat, presence, engagement
    )
    connections: set[Connection] = set()
    jobs = RealtimeJobs(
        settings,
        services.hub,
        services.live_state,
        services.publisher,
        services.sessions,
        presence,
        facts,
        connections,
    )
    return WebSocketEndpoint(settings, services.auth, events, jobs, connections)
