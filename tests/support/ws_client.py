"""A small WebSocket client for tests, over `websocket-client`.

One thread per client reads every frame (answering the server's pings, as
browsers do) into a list; tests wait on it:

    viewer = WsClient(server.ws_url, actor=alice).connect()
    viewer.join(show)                               # the join-session ack's data
    viewer.send("send-reaction", {...}, ref="r1")
    viewer.expect("viewer-count", count=3)          # waits for a matching event

`SioClient` is the same for the Socket.IO dialect, over the real python-socketio client (WebSocket
transport), as the front end's `socket.io-client` speaks it.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import socket
import struct
import threading
import time
from urllib.parse import urlsplit

import socketio
import websocket

_refs = itertools.count(1)
FRONT_END_ORIGIN = "http://localhost:3001"


class WsClient:
    def __init__(
        self,
        url: str,
        *,
        actor=None,
        token: str | None = None,
        origin: str | None = None,
        query: str | None = None,
    ):
        token = token if token is not None else (actor.token if actor is not None else None)
        self.url = url + (f"?token={token}" if token is not None else "") + (query or "")
        self.actor = actor
        self.origin = origin
        self.frames: list[dict] = []
        self.close_code: int | None = None
        self.close_reason: str = ""
        self.closed = threading.Event()
        self._cursor = 0
        self._changed = threading.Condition()
        self._ws: websocket.WebSocket | None = None

    def connect(self, timeout_s: float = 10.0) -> WsClient:
        options = {"origin": self.origin} if self.origin else {"suppress_origin": True}
        self._ws = websocket.create_connection(
            self.url, timeout=timeout_s, enable_multithread=True, **options
        )
        self._ws.settimeout(None)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        try:
            while True:
                opcode, frame = self._ws.recv_data_frame(control_frame=False)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    if len(frame.data) >= 2:
                        self.close_code = struct.unpack("!H", frame.data[:2])[0]
                        self.close_reason = frame.data[2:].decode("utf-8", "replace")
                    break
                with self._changed:
                    self.frames.append(json.loads(frame.data))
                    self._changed.notify_all()
        except Exception:  # the connection dropped without a close frame
            pass
        finally:
            self.closed.set()
            with self._changed:
                self._changed.notify_all()
            try:
                self._ws.close()
            except Exception:
                pass

    # sending --------------------------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        self._ws.send(text)

    def send(self, event: str, data=None, *, ref=None) -> None:
        frame: dict = {"event": event}
        if data is not None:
            frame["data"] = data
        if ref is not None:
            frame["ref"] = ref
        self.send_text(json.dumps(frame))

    def request(self, event: str, data=None, timeout_s: float = 5.0) -> dict:
        """Send with a fresh ref; the `ack` or `error` frame answering it."""
        ref = f"r{next(_refs)}"
        self.send(event, data, ref=ref)
        return self.reply(ref, timeout_s)

    def reply(self, ref, timeout_s: float = 5.0) -> dict:
        """The `ack` or `error` answering `ref` (found wherever it is; `expect`'s cursor stays)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for frame in self.frames:
                    if frame.get("ref") == ref and frame["event"] in ("ack", "error"):
                        return frame
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed.is_set():
                    raise AssertionError(
                        f"no reply to ref {ref!r} within {timeout_s} s "
                        f"(closed={self.closed.is_set()}, code={self.close_code})"
                    )
                self._changed.wait(remaining)

    def join(self, show, since: str | None = None) -> dict:
        data = {"sessionId": show["id"] if isinstance(show, dict) else str(show)}
        if since is not None:
            data["sinceMessageId"] = since
        reply = self.request("join-session", data)
        assert reply["event"] == "ack", reply
        return reply["data"]

    def say(self, show, text: str) -> dict:
        """send-message; the stored message from the ack."""
        reply = self.request("send-message", {"sessionId": show["id"], "message": text})
        assert reply["event"] == "ack", reply
        return reply["data"]

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.close(timeout=1)
            except Exception:
                pass
            self.closed.wait(2)

    # receiving ------------------------------------------------------------------------------------
    def wait_for(self, predicate, timeout_s: float = 5.0, what: str = "a frame") -> dict:
        """The first frame after the cursor that satisfies `predicate`; the cursor moves past it."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for index in range(self._cursor, len(self.frames)):
                    if predicate(self.frames[index]):
                        self._cursor = index + 1
                        return self.frames[index]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed.is_set():
                    raise AssertionError(
                        f"no {what} within {timeout_s} s (closed={self.closed.is_set()}, "
                        f"code={self.close_code}); got {self.frames[self._cursor :][-20:]}"
                    )
                self._changed.wait(remaining)

    def expect(self, event: str, timeout_s: float = 5.0, **fields) -> dict:
        """The data of the next `event` whose data has these field values."""

        def matches(frame):
            return frame["event"] == event and all(
                frame.get("data", {}).get(k) == v for k, v in fields.items()
            )

        return self.wait_for(matches, timeout_s, f"{event!r} with {fields}")["data"]

    def eventually(self, condition, timeout_s: float = 5.0) -> None:
        """Wait until `condition(self)` holds (checked whenever a frame arrives)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not condition(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"condition not met within {timeout_s} s; last frames {self.frames[-10:]}"
                    )
                self._changed.wait(remaining)

    def received(self, event: str) -> list[dict]:
        with self._changed:
            return [f.get("data") for f in self.frames if f["event"] == event]

    def replies(self, ref) -> list[dict]:
        with self._changed:
            return [f for f in self.frames if f.get("ref") == ref]

    def wait_closed(self, timeout_s: float = 10.0) -> int | None:
        """The close code the server sent (None when the connection dropped without one)."""
        assert self.closed.wait(timeout_s), f"still open after {timeout_s} s"
        return self.close_code

    def __enter__(self):
        return self.connect() if self._ws is None else self

    def __exit__(self, *exc):
        self.close()


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    """Receive until `marker` has arrived; everything received."""
    received = b""
    while marker not in received:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r} arrived")
        received += chunk
    return received


def raw_handshake(host: str, port: int, path: str = "/ws") -> socket.socket:
    """A plain socket that has completed the WebSocket handshake (the load test's viewers, silent peers)."""
    sock = socket.create_connection((host, port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = read_until(sock, b"\r\n\r\n")
    if not response.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(response[:100])
    return sock


def silent_socket(url: str) -> socket.socket:
    """A WebSocket that completes the handshake and then never reads or answers anything."""
    parts = urlsplit(url)
    return raw_handshake(parts.hostname, parts.port, parts.path)


class SioClient:
    """A python-socketio client recording every event it receives as `(name, data)`."""

    def __init__(
        self, server, *, actor=None, auth: dict | None = None, headers: dict | None = None, query=""
    ):
        self.url = server.base_url + query
        self.auth = auth if auth is not None else ({"token": actor.token} if actor is not None else None)
        self.headers = headers or {}
        self.actor = actor
        self.events: list[tuple[str, object]] = []
        self.connect_errors: list[object] = []
        self.disconnected = threading.Event()
        self._changed = threading.Condition()
        # Sent from the front end's origin (an allowed CORS origin), as a browser would.
        self.sio = socketio.Client(reconnection=False, websocket_extra_options={"origin": FRONT_END_ORIGIN})
        self.sio.on("*", self._record)
        self.sio.on("connect_error", self.connect_errors.append)
        self.sio.on("disconnect", lambda *reason: self.disconnected.set())

    def _record(self, event: str, data=None) -> None:
        with self._changed:
            self.events.append((event, data))
            self._changed.notify_all()

    def connect(self, timeout_s: float = 10.0) -> SioClient:
        try:
            self.sio.connect(
                self.url,
                auth=self.auth,
                headers=self.headers,
                transports=["websocket"],
                wait_timeout=timeout_s,
            )
        except socketio.exceptions.ConnectionError as exc:  # say why: the server's CONNECT_ERROR data
            raise socketio.exceptions.ConnectionError(f"{exc} {self.connect_errors}") from exc
        return self

    def call(self, event: str, data=None, timeout_s: float = 5.0):
        """Emit with an acknowledgement callback; the ack's data."""
        return self.sio.call(event, data, timeout=timeout_s)

    def join(self, show) -> dict:
        reply = self.call("join-session", {"sessionId": show["id"], "userId": 999999})
        assert "error" not in reply, reply
        return reply

    def emit(self, event: str, data=None) -> None:
        self.sio.emit(event, data)

    def expect(self, event: str, predicate=lambda data: True, timeout_s: float = 5.0):
        """The data of the first `event` (received so far or later) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for name, data in self.events:
                    if name == event and predicate(data):
                        return data
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {event!r} within {timeout_s} s; got {self.events[-20:]}")
                self._changed.wait(remaining)

    def received(self, event: str) -> list:
        with self._changed:
            return [data for name, data in self.events if name == event]

    def close(self) -> None:
        try:
            self.sio.disconnect()
        except Exception:
            pass
