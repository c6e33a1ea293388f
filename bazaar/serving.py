"""gunicorn configuration, in one place for `bazaar serve` and for `gunicorn -c gunicorn.conf.py`.

One process model for REST and WebSocket: gevent-websocket workers.
"""

from __future__ import annotations

import logging
import socket
import sys

import gevent
from geventwebsocket.gunicorn.workers import GeventWebSocketWorker
from geventwebsocket.handler import WebSocketHandler

from config import Settings

WORKER_CLASS = "bazaar.serving.Worker"
log = logging.getLogger("bazaar.serve")
_READ_BUFFER_BYTES = 1024


class Handler(WebSocketHandler):
    """gevent-websocket's handler with a 1 KiB read buffer instead of 8 KiB: an open WebSocket keeps its
    buffer for life (7 KiB × 4,000 sockets = 28 MB). Larger reads bypass the buffer anyway."""

    def __init__(self, sock, address, server, rfile=None):
        super().__init__(
            sock, address, server, rfile if rfile is not None else sock.makefile("rb", _READ_BUFFER_BYTES)
        )

    def log_request(self):
        """No second access log: the app logs each request itself, without the query string (it may
        carry a token)."""


class Worker(GeventWebSocketWorker):
    """The gevent-websocket worker with `Handler`."""

    wsgi_handler = Handler


def post_worker_init(worker) -> None:
    app = getattr(worker, "wsgi", None)
    if hasattr(app, "start"):
        app.start()
        gevent.spawn(_shut_down_when_stopping, worker, app)
    log.info("worker %s ready", worker.pid)


def _shut_down_when_stopping(worker, app) -> None:
    """gunicorn's SIGTERM only clears `worker.alive` and then waits up to graceful_timeout for open
    requests, which WebSockets never finish by themselves: close them (1001) as soon as it is cleared."""
    while worker.alive:
        gevent.sleep(0.1)
    app.shutdown()


def on_starting(server) -> None:
    """Refuse to start when the address is taken. With `reuse_port` each worker binds a socket of its
    own, and the kernel would let them join another server's listeners and share its traffic; a plain
    bind (no SO_REUSEPORT) still fails while anything listens there."""
    for address in server.cfg.address:
        if not isinstance(address, tuple):
            continue  # a unix socket: gunicorn reports its own errors
        probe = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections in TIME_WAIT do not count
        try:
            probe.bind(address)
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", address[0], address[1], exc.strerror)
            sys.exit(1)
        finally:
            probe.close()


def worker_exit(server, worker) -> None:
    """SIGTERM: let the app close its WebSockets (1001) and views before the worker dies."""
    app = getattr(worker, "wsgi", None)
    shutdown = getattr(app, "shutdown", None)
    if shutdown is not None:
        shutdown()


def gunicorn_options(
    settings: Settings, *, host: str | None = None, port: int | None = None, workers: int | None = None
) -> dict:
    return {
        "bind": f"{host or settings.host}:{port or settings.port}",
        "workers": workers or settings.worker_count,
        "worker_class": WORKER_CLASS,
        "worker_connections": settings.worker_connections,
        "graceful_timeout": settings.graceful_timeout_s,
        "timeout": 30,
        "keepalive": 5,
        "backlog": 4096,
        # Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new connections
        # over them. On one shared socket whichever worker woke first accepted most of a burst (53 of 64
        # keep-alive connections on one worker, 11 on the other), and answered its share several times
        # slower for as long as those connections lasted.
        "reuse_port": True,
        "on_starting": on_starting,
        "loglevel": settings.log_level,
        "accesslog": None,  # the app logs one line per request itself, without query strings
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
    }
