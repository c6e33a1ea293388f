"""gunicorn configuration, in one place for `bazaar serve` and for `gunicorn -c gunicorn.conf.py`.

One process model for REST and WebSocket: gevent-websocket workers.
"""

from __future__ import annotations

import _socket
import collections
import io
import json
import logging
import re
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

import gevent
import gevent.socket
from gevent import pywsgi
from geventwebsocket.gunicorn.workers import GeventWebSocketWorker
from geventwebsocket.handler import WebSocketHandler
from gunicorn.workers.ggevent import PyWSGIServer

from bazaar.domain.errors import DomainError
from config import Settings

log = logging.getLogger("bazaar.serve")
_READ_BUFFER_BYTES = 1024
_MAX_HEADER_LINE = 8192

# RFC 9112 §3: method SP request-target SP HTTP-version CRLF (a lone LF is tolerated, §2.2). The target is
# visible characters only; HTTP/0.9 and HTTP/2 over this parser are refused.
_REQUEST_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ [\x21-\x7e\x80-\xff]+ HTTP/1\.[01]\r?\n")
_FIELD_NAME = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FIELD_VALUE_FORBIDDEN = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs but HTAB (RFC 9110 §5.5)
_DIGITS = re.compile(r"[0-9]+")
# A whole head these rules accept: the request line (method, target, version, end: groups 1-4), then fields
# (RFC 9112 §5: a token, a colon, a value free of CTLs but HTAB) and the blank line.
_HEAD = re.compile(
    rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e\x80-\xff]+) (HTTP/1\.[01])(\r?\n)"
    rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\x00-\x08\x0a-\x1f\x7f]*\r?\n)*\r?\n"
)
_HEAD_END = re.compile(rb"\n\r?\n")
_NEL_OR_NBSP = re.compile(rb"[\x85\xa0]")
# One checked field line: its name and its value without the whitespace around it (what str.strip() drops).
_FIELD = re.compile(r"([^:\n]+):[ \t\x85\xa0]*([^\r\n]*?)[ \t\x85\xa0]*\r?\n")
_FRAMING_KEYS = frozenset({"HTTP_HOST", "CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING"})
_FIRST_ONLY = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})  # the environ keeps the first (as gevent's)
_CONTENT_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH")  # the two fields the environ holds without HTTP_


def _environ_key(name: str) -> str | None:
    """A field's WSGI environ key: HTTP_ACCEPT_ENCODING, CONTENT_TYPE; None for a name with an underscore,
    which gevent drops (X-Forwarded_For must not pass for X-Forwarded-For)."""
    if "_" in name:
        return None
    key = name.upper().replace("-", "_")
    return key if key in _CONTENT_KEYS else "HTTP_" + key


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client connection may cost a worker (settings: HTTP_* and MAX_CONNECTIONS_PER_ADDRESS)."""

    header_timeout_s: float
    body_timeout_s: float
    keepalive_timeout_s: float
    max_header_bytes: int
    max_body_bytes: int
    max_connections_per_address: int
    turn_s: float

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout_s=settings.http_header_timeout_s,
            body_timeout_s=settings.http_body_timeout_s,
            keepalive_timeout_s=settings.http_keepalive_timeout_s,
            max_header_bytes=settings.http_max_header_bytes,
            max_body_bytes=settings.max_body_bytes,
            max_connections_per_address=settings.max_connections_per_address,
            turn_s=settings.http_turn_s,
        )


class _LoopTurn:
    """The worker's event loop turn (its poll count) that requests are served in, and since when: when a
    request first saw it. The loop's own `now()` is no guide: starting a timer updates it."""

    iteration = -1
    since = 0.0

    @classmethod
    def overdue(cls, loop, turn_s: float) -> bool:
        """Whether the loop has been in the same turn for over `turn_s`."""
        now = time.monotonic()
        if loop.iteration != cls.iteration:
            cls.iteration, cls.since = loop.iteration, now
            return False
        return now - cls.since > turn_s


class _TimedOut(Exception):
    """A client took longer than its timeout to send a request's head or body."""


class _Refused(Exception):
    """A request the server answers itself, then closes the connection: its framing is ambiguous or broken
    (RFC 9112 §6.1, §6.3), so nothing after it on the connection can be trusted."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> tuple[str, bytes]:
        error = DomainError(self.reason, code=_ERROR_CODES[self.status])
        return str(self.status), _close_response(self.status, json.dumps(error.body()).encode())


_ERROR_CODES = {400: "bad_request", 414: "uri_too_long", 431: "headers_too_large"}
_MAX_HEADER_FIELDS = 100  # http.client's limit, which parses the fields


def _close_response(status: int, body: bytes, *extra_headers: str) -> bytes:
    head = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *extra_headers,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _too_many_connections(message: str) -> bytes:
    body = json.dumps(DomainError(message, code="too_many_connections").body()).encode()
    return _close_response(503, body, "Retry-After: 1")


_TOO_MANY_CONNECTIONS = _too_many_connections("Too many connections from this address")
_WORKER_FULL = _too_many_connections("The server is at its connection limit")

# Open connections per client address in this worker, upgraded ones included.
_open_connections: collections.Counter[str] = collections.Counter()


class _Detached:
    """Upgraded connections that left the server's greenlet pool (`Handler.detach`) and are still open: the
    pool no longer counts them, the worker's connection limit still does."""

    count = 0


class _Consumed:
    """Stands in for gevent's request input once the body has been read (or will never be): after the
    response gevent discards what is left of the body, and there is nothing left to read."""

    @staticmethod
    def _discard() -> None:
        pass


class Handler(WebSocketHandler):
    """gevent-websocket's handler, strict about what it accepts.

    gevent's pywsgi has no read timeouts and accepts ambiguous framing, so this handler reads each
    request's head itself: within `header_timeout_s` from its first byte (a new connection's wait for
    that byte counts too, a kept-alive one's is `keepalive_timeout_s`), refusing with 400 and closing
    what RFC 9112 says to (Content-Length with Transfer-Encoding, a coding other than chunked, obs-fold,
    whitespace before a colon, a bare CR, no Host or two). A body is read whole before the app runs,
    within `body_timeout_s` and `max_body_bytes`, chunked ones included; the app then sees a plain
    Content-Length body. A client address may hold `max_connections_per_address` connections per worker.

    The read buffer is 1 KiB instead of 8 KiB: an open WebSocket keeps its buffer for life
    (7 KiB × 4,000 sockets = 28 MB). Larger reads bypass the buffer anyway.
    """

    limits = ConnectionLimits.of(Settings())
    _requests_served = 0
    _address: str | None = None  # the client address counted for this connection, until it is released
    _keepalive_timer: gevent.Timeout | None = None

    def __init__(self, sock, address, server, rfile=None):
        super().__init__(
            sock, address, server, rfile if rfile is not None else sock.makefile("rb", _READ_BUFFER_BYTES)
        )

    def handle(self):
        address = self.client_address[0] if isinstance(self.client_address, tuple) else ""
        if _open_connections[address] >= self.limits.max_connections_per_address:
            self._refuse_connection(_TOO_MANY_CONNECTIONS)
            return
        pool = self.server.pool
        if pool is not None and len(pool) + _Detached.count > pool.size:
            self._refuse_connection(_WORKER_FULL)
            return
        _open_connections[address] += 1
        self._address = address
        try:
            super().handle()
        finally:
            if self._keepalive_timer is not None:
                self._keepalive_timer.close()
            if self._address is not None:  # else `detach` handed the connection on
                _connection_closed(address)

    def _refuse_connection(self, response: bytes) -> None:
        try:
            self.socket.sendall(response)
        except OSError:
            pass
        finally:
            self.rfile.close()
            self.socket.close()

    def detach(self) -> tuple[socket.socket, bytes, Callable[[], None]]:
        """Hand an upgraded connection over to its WebSocket: its socket (a new object over the same file
        descriptor: the server closes the old one when the request ends), the bytes the client sent after
        its handshake that are already in the request's buffer, and the call to make once the socket is
        closed (the per-address and per-worker counts). The request then ends, and with it its greenlet,
        this handler and its buffers; the server keeps nothing of the connection."""
        old = self.socket
        old.settimeout(0.0)  # take what is buffered without waiting for more
        try:
            pending = self.rfile.read1(_READ_BUFFER_BYTES)
        except OSError:
            pending = b""
        family, kind, proto = old.family, old.type, old.proto
        own = gevent.socket.socket(family, kind, proto, fileno=old.detach())
        self.socket = None  # the request's end closes nothing
        address, self._address = self._address, None
        _Detached.count += 1

        def release() -> None:
            _Detached.count -= 1
            _connection_closed(address)

        return own, pending or b"", release

    def handle_one_request(self):
        """One request on the connection: its head read and checked under the timeouts, its body read, the
        app run. None closes the connection; (status, bytes) is sent and then closes it."""
        if self.rfile.closed:
            return None
        try:
            if self._requests_served:
                # Other connections' turn first once the event loop has not polled for `turn_s`: a client
                # whose next request is already here (pipelined, or sent as soon as the last answer arrived)
                # would otherwise be served on and on while the others wait.
                if _LoopTurn.overdue(self.server.loop, self.limits.turn_s):
                    gevent.sleep(1e-6)  # the next turn, after the loop polls (sleep(0) may come back before)
                if not self._next_request_arrives():
                    return None
                head = self._buffered_head()  # no timer when the whole head is already here
                if head is None:
                    with gevent.Timeout(self.limits.header_timeout_s, _TimedOut):
                        head = self._read_head()
            else:
                with gevent.Timeout(self.limits.header_timeout_s, _TimedOut):
                    head = self._read_head()
            if not head:
                return None
            self._parse_head(head)
            self.response_length = 0
            self.environ = self.get_environ()
            self._read_body()
        except pywsgi._InvalidClientRequest:  # what gevent's own rules refuse
            return self._refuse(_Refused(400, "Malformed request"))
        except _Refused as refusal:
            return self._refuse(refusal)
        except _TimedOut:
            return None
        except OSError:  # the client went away (or reset) mid-request
            return None
        self.application = self.server.application
        self._requests_served += 1
        self.handle_one_response()
        if self.close_connection or self.rfile.closed:
            return None
        return True

    def _refuse(self, refusal: _Refused) -> tuple[str, bytes]:
        log.info("refused a request from %s: %s", self.client_address[0], refusal.reason)
        return refusal.response()

    def _next_request_arrives(self) -> bool:
        """Whether a kept-alive connection starts another request within the keep-alive timeout."""
        if self._keepalive_timer is None:  # one per connection, started for each wait (a new one costs more)
            self._keepalive_timer = gevent.Timeout(self.limits.keepalive_timeout_s, False)
        timer = self._keepalive_timer
        timer.start()
        try:
            return bool(self.rfile.peek(1))
        except gevent.Timeout as expired:
            if expired is not timer:
                raise
            return False
        finally:
            timer.cancel()

    # --- the request head -------------------------------------------------------------------------
    # Usually the whole head is in the read buffer: it is taken in one read and checked by one regular
    # expression (`_HEAD`). Otherwise it is read line by line (never past its end) with every check made
    # as each line arrives, and a head the expression refuses is checked line by line to say why: both ways
    # accept exactly the same heads and refuse the others with the same answer.

    def _buffered_head(self) -> bytes | None:
        """The whole head when the read buffer holds it, without waiting for more."""
        data = self.rfile.peek(1)
        end = _HEAD_END.search(data)
        return self.rfile.read(end.end()) if end is not None else None

    def _read_head(self) -> bytes:
        """The request head, request line to blank line; b"" when the connection closes before a byte."""
        if not self.rfile.peek(1):
            return b""
        head = self._buffered_head()
        return head if head is not None else self._checked_head(self.rfile.readline)

    def _checked_head(self, readline) -> bytes:
        """Read a head line by line from `readline`, refusing at the first line that breaks a rule (RFC
        9112 §3, §5); b"" when there is nothing to read."""
        line = readline(_MAX_HEADER_LINE + 1)
        if len(line) > _MAX_HEADER_LINE:
            raise _Refused(414, "Request line too long")
        if not line:
            return b""
        if not _REQUEST_LINE.fullmatch(line):
            raise _Refused(400, "Malformed request line")
        lines, size = [line], 0
        while True:
            line = readline(_MAX_HEADER_LINE + 1)
            size += len(line)
            too_many = len(lines) > _MAX_HEADER_FIELDS and line not in (b"\r\n", b"\n")
            if size > self.limits.max_header_bytes or len(line) > _MAX_HEADER_LINE or too_many:
                raise _Refused(431, "Request header fields too large")
            if not line.endswith(b"\n"):
                raise OSError("connection closed inside the request head")
            lines.append(line)
            if line in (b"\r\n", b"\n"):
                return b"".join(lines)
            field = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            if field[:1] in (b" ", b"\t"):
                raise _Refused(400, "Folded header lines (obs-fold) are not accepted")
            name, colon, value = field.partition(b":")
            if not colon or not _FIELD_NAME.fullmatch(name):
                raise _Refused(400, "Malformed header field name")
            if _FIELD_VALUE_FORBIDDEN.search(value):
                raise _Refused(400, "Control characters (a bare CR?) in a header field")

    def _parse_head(self, head: bytes) -> None:
        """Take the request line and header fields of a head (checked, or refused with the reason), and what
        the framing rules refuse: Content-Length with Transfer-Encoding, a coding other than chunked, no Host
        on HTTP/1.1 or two, a signed or repeated Content-Length."""
        parsed = _HEAD.fullmatch(head)
        fields_at = parsed.end(4) if parsed is not None else 0
        if (
            parsed is None
            or len(head) - fields_at > self.limits.max_header_bytes
            or head.count(b"\n", fields_at) > _MAX_HEADER_FIELDS + 1  # the fields and the blank line
            or (len(head) > _MAX_HEADER_LINE and max(map(len, head.splitlines(True))) > _MAX_HEADER_LINE)
        ):
            self._checked_head(io.BytesIO(head).readline)  # raises the refusal that says why
            raise _Refused(400, "Malformed request")
        self.requestline = head[: parsed.end(3)].decode("latin-1")
        if _NEL_OR_NBSP.search(parsed.group(2)):  # gevent splits the request line at these, as at spaces
            words = self.requestline.split()
            if len(words) != 3:
                raise pywsgi._InvalidClientRequest(self.requestline)
            self.command, self.path, self.request_version = words
        else:
            self.command = parsed.group(1).decode("latin-1")
            self.path = parsed.group(2).decode("latin-1")
            self.request_version = parsed.group(3).decode("latin-1")
        fields: dict[str, str] = {}  # environ key → value, repeated fields joined
        first: dict[str, str] = {}  # environ key → the field's first value
        hosts = lengths = codings = 0
        for name, value in _FIELD.findall(head[fields_at:].decode("latin-1")):
            key = _environ_key(name)
            if key is None:
                continue
            if key in _FRAMING_KEYS:
                if key == "HTTP_HOST":
                    hosts += 1
                elif key == "CONTENT_LENGTH":
                    lengths += 1
                else:
                    codings += 1
            if key not in first:
                first[key] = fields[key] = value
            elif key not in _FIRST_ONLY:
                fields[key] += ("; " if "COOKIE" in key else ",") + value
        if hosts > 1 or (not hosts and self.request_version == "HTTP/1.1"):
            raise _Refused(400, "A request needs exactly one Host header")
        length = first.get("CONTENT_LENGTH")
        if codings:
            if lengths:
                raise _Refused(400, "Content-Length together with Transfer-Encoding")
            if self.request_version != "HTTP/1.1":
                raise _Refused(400, "Transfer-Encoding in an HTTP/1.0 request")
            if codings > 1 or first["HTTP_TRANSFER_ENCODING"].lower() != "chunked":
                raise _Refused(400, "Transfer-Encoding other than chunked")
        if lengths > 1 or (lengths and not _DIGITS.fullmatch(length)):
            raise _Refused(400, "Invalid Content-Length")
        self.content_length = int(length) if length is not None else None
        if self.content_length and self.command == "HEAD":
            raise pywsgi._InvalidClientRequest("Unexpected Content-Length")
        connection = first.get("HTTP_CONNECTION", "").lower()
        if self.request_version == "HTTP/1.1":
            self.close_connection = connection == "close"
        else:
            self.close_connection = (connection or "close") != "keep-alive"
        self._fields, self._first_fields = fields, first

    def _connection_upgrade_requested(self) -> bool:
        first = self._first_fields
        return (
            first.get("HTTP_CONNECTION", "").lower() == "upgrade"
            or first.get("HTTP_UPGRADE", "").lower() == "websocket"
        )

    def get_environ(self) -> dict:
        """The request's WSGI environ, as gevent's `get_environ` makes it, from what `_parse_head` took."""
        environ = self.server.get_environ()
        path, _, query = self.path.partition("?")
        environ["REQUEST_METHOD"] = self.command
        environ["SCRIPT_NAME"] = ""
        environ["PATH_INFO"] = pywsgi.unquote_latin1(path)
        environ["QUERY_STRING"] = query
        environ["SERVER_PROTOCOL"] = self.request_version
        if isinstance(self.client_address, tuple):
            environ["REMOTE_ADDR"] = str(self.client_address[0])
            environ["REMOTE_PORT"] = str(self.client_address[1])
        environ.update(self._fields)
        expects_continue = environ.get("HTTP_EXPECT") == "100-continue"
        upgrade = self._connection_upgrade_requested()
        self.wsgi_input = pywsgi.Input(
            self.rfile,
            self.content_length,
            socket=self.socket if expects_continue else None,
            chunked_input="HTTP_TRANSFER_ENCODING" in environ,  # only "chunked" gets this far
        )
        environ["wsgi.input"] = self.rfile if upgrade else self.wsgi_input
        environ["wsgi.input_terminated"] = not upgrade
        return environ

    def _read_body(self) -> None:
        """Read the body whole (within the size limit and the body timeout) so the app never waits on the
        client and gets a Content-Length body, chunked or not."""
        chunked = "HTTP_TRANSFER_ENCODING" in self.environ
        if not (self.content_length or chunked) or self._connection_upgrade_requested():
            return
        limit = self.limits.max_body_bytes
        if self.content_length is not None and self.content_length > limit:
            self._skip_body()  # the app answers 413 from the declared length
            return
        try:
            with gevent.Timeout(self.limits.body_timeout_s, _TimedOut):
                body = self.wsgi_input.read(limit + 1)
        except pywsgi._InvalidClientInput:
            raise _Refused(400, "Malformed chunked body") from None
        except OSError:
            log.info("%s closed the connection before the end of its request body", self.client_address[0])
            raise
        if len(body) > limit:
            # A chunked body over the limit: the app answers 413 from this length; the rest is never read.
            self.environ["CONTENT_LENGTH"] = str(len(body))
            self._skip_body()
            return
        self.environ.pop("HTTP_TRANSFER_ENCODING", None)
        self.environ["CONTENT_LENGTH"] = str(len(body))
        self.environ["wsgi.input"] = io.BytesIO(body)
        self.wsgi_input = _Consumed

    def _skip_body(self) -> None:
        self.environ.pop("HTTP_TRANSFER_ENCODING", None)
        self.environ["wsgi.input"] = io.BytesIO()
        self.wsgi_input = _Consumed
        self.close_connection = True

    def run_application(self):
        """gevent-websocket's tries an upgrade on every request; only a GET asking for one (Upgrade:
        websocket, what its `upgrade_websocket` checks first) can be one: others go straight to the app."""
        if self.command == "GET" and self.environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            return super().run_application()
        return pywsgi.WSGIHandler.run_application(self)

    def start_response(self, status, headers, exc_info=None):
        if self.close_connection and not any(name.lower() == "connection" for name, _ in headers):
            headers = [*headers, ("Connection", "close")]
        if "wsgi.websocket" in self.environ:  # gevent-websocket's sets the response up for the WebSocket
            return super().start_response(status, headers, exc_info)
        return pywsgi.WSGIHandler.start_response(self, status, headers, exc_info)

    def finalize_headers(self):
        if self.provided_date is None:  # pywsgi's Date header, formatted once a second
            self.response_headers.append((b"Date", _HttpDate.now()))
            self.provided_date = True
        super().finalize_headers()

    def _write_with_headers(self, data):
        """pywsgi's, with the head and the first part of a body that is not chunked (all of it for a
        Content-Length response) sent together: pywsgi sends them apart, two system calls where one does."""
        self.headers_sent = True
        self.finalize_headers()  # decides whether the body is chunked
        message = bytearray(b"HTTP/1.1 ")
        message += self.status
        message += b"\r\n"
        for name, value in self.response_headers:
            message += name
            message += b": "
            message += value
            message += b"\r\n"
        message += b"\r\n"
        if data and isinstance(data, bytes) and not self.response_use_chunked:
            message += data
            self._sendall(message)
        else:  # pywsgi's way, failures included (gevent-websocket's own answers are str)
            self._sendall(message)
            self._write(data)

    def _sendall(self, data):
        """pywsgi's, trying one `send` first: gevent's `sendall` asks the socket for its buffer size on every
        call (a system call) to cut large data into chunks, and a response usually leaves in one send."""
        try:
            sent = self.socket.send(data)
            if sent < len(data):
                self.socket.sendall(memoryview(data)[sent:])
        except OSError as exc:  # what pywsgi's `_sendall` records of a failed send
            self.status = f"socket error: {exc}"
            if self.code > 0:
                self.code = -self.code
            raise
        self.response_length += len(data)

    def log_request(self):
        """No second access log: the app logs each request itself, without the query string (it may
        carry a token)."""


class _HttpDate:
    """The Date header's value for this second (what pywsgi's `format_date_time` makes)."""

    _second = -1
    _value = b""

    @classmethod
    def now(cls) -> bytes:
        second = int(time.time())
        if second != cls._second:
            cls._value, cls._second = pywsgi.format_date_time(second), second
        return cls._value


def _connection_closed(address: str) -> None:
    _open_connections[address] -= 1
    if not _open_connections[address]:
        del _open_connections[address]


# Connections refused in a row before the event loop runs what else is ready; gevent accepts up to
# `max_accept` (100) times per wake-up, so at most 1,000 refusals pass between two turns of the loop.
_REFUSALS_PER_READ = 10


class Server(PyWSGIServer):
    """gunicorn's gevent WSGI server, refusing a connection from an address already at its cap as it is
    accepted: answered 503 and closed on the bare descriptor, before gevent makes a socket, a greenlet or
    a handler for it. A flood from one address then costs the worker little more than the kernel's accept,
    send and close, so the worker keeps up with the kernel's accept queue and other clients' connections are
    neither dropped there nor kept waiting behind the flood. (`Handler.handle` still checks, for a burst
    accepted before the first connections were counted.)"""

    def do_read(self):
        listener = self.socket
        for _ in range(_REFUSALS_PER_READ):
            try:
                fd, address = listener._accept()
            except BlockingIOError:
                return None
            client = address[0] if isinstance(address, tuple) else ""
            if _open_connections[client] < self.handler_class.limits.max_connections_per_address:
                accepted = gevent.socket.socket(listener.family, listener.type, listener.proto, fileno=fd)
                return accepted, address
            refused = _socket.socket(fileno=fd)  # the C socket: gevent's is patched over `socket`
            try:
                refused.send(_TOO_MANY_CONNECTIONS, socket.MSG_DONTWAIT)
            except OSError:
                pass
            refused.close()
        return None  # back to the event loop: what is ready to run goes first, then the rest of the queue


class Worker(GeventWebSocketWorker):
    """The gevent-websocket worker with `Server` and `Handler`."""

    server_class = Server
    wsgi_handler = Handler


def worker_class(settings: Settings) -> type[Worker]:
    """`Worker` with `settings`' connection limits (gunicorn builds handlers from a class, so the limits
    ride on one)."""
    handler = type("Handler", (Handler,), {"limits": ConnectionLimits.of(settings)})
    return type("Worker", (Worker,), {"wsgi_handler": handler})


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
        "worker_class": worker_class(settings),
        "worker_connections": settings.worker_connections,
        "graceful_timeout": settings.graceful_timeout_s,
        "timeout": 30,
        # No "keepalive": gunicorn's applies to its own HTTP parser, not to gevent's pywsgi; `Handler` closes
        # idle kept-alive connections after HTTP_KEEPALIVE_TIMEOUT_S.
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
