"""The socket of one upgraded request: reading WebSocket messages, a bounded send queue, the closing
handshake.

Nothing here knows what a message means: `SocketTransport.next_message` returns the client's next data
message (text or binary) and answers the WebSocket control frames itself; the dialect on top (`/ws` JSON or
Socket.IO) decides what they say.

Writing: frames are queued. At the end of the event-loop turn, each transport with queued frames writes
them with one non-blocking send; only a socket that cannot take everything gets a writer greenlet, which
blocks on it and coalesces whatever queues meanwhile into its next write. A queue holding
`ws_send_queue_size` frames belongs to a client that cannot keep up: `push` refuses more, and the
connection is dropped instead of slowing its room.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import gevent

from bazaar.entry.ws import wire
from config import Settings


def discard_input(read1: Callable[[int], bytes]) -> None:
    """Read and drop whatever the peer still sends, until it closes (or our close timer shuts the socket)."""
    try:
        while read1(65536):
            pass
    except OSError:
        pass


def refuse(ws, code: int, reason: str, settings: Settings) -> None:
    """Close before any frame is read: send the close frame, then wait (briefly) for the peer's."""
    sock = ws.handler.socket
    try:
        sock.sendall(wire.close_frame(code, reason))
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return
    with gevent.Timeout(settings.ws_close_timeout_s, False):
        discard_input(ws.handler.rfile.read1)


class FlushScheduler:
    """Writes the queued frames of every transport that has some, one send each (one per worker).

    A flush runs at the end of the event-loop turn, so the frames queued for a connection during one
    turn leave together. When flushing keeps the worker busy (a big room, many messages), the next
    flush waits `_GAP_FACTOR` times as long as the last one took: the broadcasts arriving meanwhile
    leave in the same writes, which halves the system calls of both sides when it matters, and adds
    no delay at all when the worker is idle.
    """

    _GAP_FACTOR = 1.0

    def __init__(self):
        self._due: list[SocketTransport] = []
        self._scheduled = False
        self._not_before = 0.0

    def schedule(self, transport: SocketTransport) -> None:
        self._due.append(transport)
        if self._scheduled:
            return
        self._scheduled = True
        wait_s = self._not_before - time.monotonic()
        if wait_s > 0:
            gevent.spawn_later(wait_s, self._flush)
        else:
            gevent.get_hub().loop.run_callback(self._flush)

    def _flush(self) -> None:
        started = time.monotonic()
        due, self._due = self._due, []
        self._scheduled = False
        for transport in due:
            transport.flush()
        finished = time.monotonic()
        self._not_before = finished + (finished - started) * self._GAP_FACTOR


class SocketTransport:
    # thousands per worker: no per-instance __dict__
    __slots__ = (
        "last_seen",
        "closing",
        "aborted",
        "_scheduler",
        "_settings",
        "_queue_size",
        "_queue_bytes",
        "_queued_bytes",
        "_sock",
        "_rfile",
        "_reader",
        "_queue",
        "_writer",
        "_close_timer",
    )

    def __init__(self, ws, scheduler: FlushScheduler, settings: Settings):
        self.last_seen = time.monotonic()  # when the peer last sent anything
        self._scheduler = scheduler
        self._settings = settings
        self._queue_size = settings.ws_send_queue_size
        self._queue_bytes = settings.ws_send_queue_bytes
        self._queued_bytes = 0  # in `_queue`, not yet handed to a write
        _forget_the_request(ws.handler)
        self._sock = ws.handler.socket
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # frames are coalesced here already
        self._rfile = ws.handler.rfile
        self._reader = wire.MessageReader(self._rfile.read, settings.ws_max_frame_bytes)
        self._queue: list[bytes] = []
        self._writer: gevent.Greenlet | None = None
        self.closing = False  # our close frame is queued: nothing else goes out
        self.aborted = False
        self._close_timer: gevent.Greenlet | None = None

    # --- writing ----------------------------------------------------------------------------------
    def push(self, frame: bytes) -> bool:
        """Queue a complete WebSocket frame; False when the queue is full. Frames pushed while closing are
        dropped (and count as taken)."""
        if self.closing:
            return True
        if len(self._queue) >= self._queue_size or self._queued_bytes + len(frame) > self._queue_bytes:
            return False
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        if len(self._queue) == 1 and self._writer is None:
            self._scheduler.schedule(self)
        return True

    def free_slots(self) -> int:
        """How many more frames the queue takes."""
        return self._queue_size - len(self._queue)

    def flush(self) -> None:
        """Write what is queued without blocking; a writer greenlet takes over what the socket refused."""
        if not self._queue or self._writer is not None or self.aborted:
            return
        data = self._queue[0] if len(self._queue) == 1 else b"".join(self._queue)
        self._queue.clear()
        self._queued_bytes = 0
        try:
            sent = self._sock.send(data, 0, 0.0)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.abort()
            return
        if sent < len(data):
            self._writer = gevent.spawn(self._write, memoryview(data)[sent:])
        elif self.closing:
            self._shutdown(socket.SHUT_WR)  # the close frame is out: no more writes from us

    def _write(self, data) -> None:
        try:
            while True:
                self._sock.sendall(data)
                if not self._queue:
                    break
                data = b"".join(self._queue)
                self._queue.clear()
                self._queued_bytes = 0
        except OSError:
            self._writer = None
            self.abort()
            return
        self._writer = None
        if self.closing:
            self._shutdown(socket.SHUT_WR)

    # --- closing ----------------------------------------------------------------------------------
    def close(self, code: int, reason: str = "", *, discard_queued: bool = False) -> None:
        """Start the closing handshake: our close frame goes out after what is queued (after the write in
        flight only, when `discard_queued`); the reader then waits for the peer's close frame, at most
        `ws_close_timeout_s`."""
        if self.closing:
            return
        self.closing = True
        if discard_queued:
            self._queue.clear()
            self._queued_bytes = 0
        self._queue.append(wire.close_frame(code, reason))
        if self._writer is None:
            self._scheduler.schedule(self)
        self._close_timer = gevent.spawn_later(self._settings.ws_close_timeout_s, self.abort)

    def abort(self) -> None:
        """Drop the connection now: the reader sees end of file and cleans up."""
        if self.aborted:
            return
        self.aborted = self.closing = True
        self._queue.clear()
        self._queued_bytes = 0
        self._shutdown(socket.SHUT_RDWR)

    def _shutdown(self, how: int) -> None:
        try:
            self._sock.shutdown(how)
        except OSError:
            pass

    def finish(self) -> None:
        """The reader is done: let the last frames (our close reply) out before the server closes the
        socket."""
        self.closing = True
        if not self.aborted:
            with gevent.Timeout(self._settings.ws_close_timeout_s, False):
                try:
                    if self._writer is not None:
                        self._writer.join()
                    if self._queue:
                        self._sock.sendall(b"".join(self._queue))
                        self._queue.clear()
                        self._queued_bytes = 0
                except OSError:
                    pass
        if self._close_timer is not None:
            self._close_timer.kill(block=False)

    # --- reading ----------------------------------------------------------------------------------
    def next_message(self) -> wire.Message | None:
        """The client's next data message (OP_TEXT, OP_BINARY); None once the socket is closed. Pings are
        answered, pongs only count as signs of life, a close frame is answered, and a protocol violation
        closes the connection with its code. (A method rather than a generator: a suspended generator
        adds a C-level frame to every idle connection's saved greenlet stack.)"""
        while True:
            try:
                message = self._reader.next_message()
            except wire.PeerGone:
                return None
            except wire.ProtocolViolation as violation:
                self.close(violation.code, violation.reason)
                discard_input(self._rfile.read1)  # the stream cannot be parsed any further
                return None
            self.last_seen = time.monotonic()
            if message.opcode == wire.OP_CLOSE:
                self.close(
                    message.close_code if _valid_close_code(message.close_code) else wire.PROTOCOL_ERROR
                )
                return None
            if message.opcode == wire.OP_PING:
                if not self.push(wire.frame(wire.OP_PONG, message.payload)):
                    self.abort()
            elif not self.closing and message.opcode != wire.OP_PONG:
                return message


def _forget_the_request(handler) -> None:
    """Drop what the handler keeps of the HTTP request once it is a WebSocket: the environ (the endpoint has
    read what it needs from it), the parsed header fields and the 101's headers. Nothing reads them again,
    and every open connection would keep them for its whole life."""
    handler.environ.clear()
    handler.headers = None
    handler.response_headers = None


def _valid_close_code(code: int | None) -> bool:
    return code is not None and (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999)
