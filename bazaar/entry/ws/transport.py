"""The socket of one upgraded request: reading WebSocket messages, a bounded send queue, the closing
handshake.

Nothing here knows what a message means: `SocketTransport.next_message` returns the client's next data
message (text or binary) and answers the WebSocket control frames itself; the dialect on top (`/ws` JSON or
Socket.IO) decides what they say.

Reading: an upgraded socket leaves the HTTP server (`take_socket`): the request's greenlet, handler, buffered
reader and environ all end with the upgrade. An idle connection is a read watcher on its socket and no
greenlet, whose saved C stack and Python data stack cost ~11 KB per connection; when the client sends
something, the connection's reader runs in a fresh greenlet until nothing is left to read (`when_readable`).

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
from gevent import socket as gsocket

from bazaar.entry.ws import wire
from config import Settings


def discard_input(read1: Callable[[int], bytes]) -> None:
    """Read and drop whatever the peer still sends, until it closes (or our close timer shuts the socket)."""
    try:
        while read1(65536):
            pass
    except OSError:
        pass


_RECV_BYTES = 4096
NOTHING_BUFFERED = wire.Message(-1, b"")  # `next_message`: nothing left to read without waiting


def take_socket(ws) -> tuple[gsocket.socket, bytes, Callable[[], None]]:
    """Take an upgraded connection's socket away from the HTTP server, with the bytes the client sent after
    its handshake (already read into the request's buffer) and the call that tells the server the connection
    is closed (`bazaar.serving.Handler.detach`). The request's greenlet then ends: nothing of the HTTP request
    stays with the connection."""
    return ws.handler.detach()


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


# `gevent.sleep` with any positive time resumes the greenlet on the loop's next turn, after the loop polled
# for I/O; `sleep(0)` may resume it first, so a flush yielding with 0 still holds every reply and read back.
_NEXT_LOOP_TURN_S = 1e-6
_CLOCK_EVERY = 32  # transports a flush writes between two looks at the clock


class FlushScheduler:
    """Writes the queued frames of every transport that has some, one send each (one per worker).

    A flush starts at the end of the event-loop turn, in a greenlet of its own, so the frames queued for a
    connection during one turn leave together. Writing to the thousands of sockets of a big room takes
    tens of milliseconds, so a flush lets the loop turn every `ws_flush_slice_ms`: a chat post's database
    and Redis round trips, the broker's listener and the readers go on meanwhile instead of waiting for
    the whole flush (each would otherwise wait behind one, and a post behind several). A frame queued
    during a flush for a connection it has not reached yet leaves in the same write; connections it has
    passed already are flushed next, at once. Two flushes in a row that each end with at least half as
    many connections due again mean the worker is falling behind: with a `ws_flush_gap_factor`, each next
    flush then waits that many times as long as the last one took, so the broadcasts arriving meanwhile
    leave in the same writes (fewer system calls on both sides) and the posts and the broker have the
    worker meanwhile. A worker that keeps up never waits: a broadcast arriving during one flush, or a few
    frames (pings, replies) after each, are no sign of falling behind.
    """

    def __init__(self, settings: Settings):
        self._slice_s = settings.ws_flush_slice_ms / 1000
        self._gap_factor = settings.ws_flush_gap_factor
        self._due: list[SocketTransport] = []
        self._flushing = False

    def schedule(self, transport: SocketTransport) -> None:
        self._due.append(transport)
        if not self._flushing:
            self._flushing = True
            gevent.spawn(self._flush)

    def _flush(self) -> None:
        behind = 0  # flushes in a row that ended with at least half as many connections due again
        try:
            while self._due:
                started = time.monotonic()
                flushed = self._flush_due()
                behind = behind + 1 if len(self._due) * 2 >= flushed else 0
                if behind >= 2 and self._gap_factor:
                    gevent.sleep((time.monotonic() - started) * self._gap_factor)
        finally:
            self._flushing = False

    def _flush_due(self) -> int:
        """Flushes the connections due now; returns how many."""
        due, self._due = self._due, []
        slice_ends = time.monotonic() + self._slice_s
        for count, transport in enumerate(due, 1):
            transport.flush()
            if not count % _CLOCK_EVERY and time.monotonic() >= slice_ends:
                gevent.sleep(_NEXT_LOOP_TURN_S)
                slice_ends = time.monotonic() + self._slice_s
        return len(due)


class SocketTransport:
    # thousands per worker: no per-instance __dict__; what a broadcast touches first (its cache lines are
    # cold: a room's broadcast goes through thousands of transports)
    __slots__ = (
        "closing",
        "aborted",
        "_queued",
        "_queued_bytes",
        "_queue_size",
        "_queue_bytes",
        "_head",
        "_writer",
        "_scheduler",
        "_nonblocking",
        "_queue",
        "last_seen",
        "_settings",
        "_sock",
        "_input",
        "_reader",
        "_readable",
        "_release",
        "_close_timer",
    )

    def __init__(
        self,
        sock,
        scheduler: FlushScheduler,
        settings: Settings,
        *,
        pending: bytes = b"",
        release: Callable[[], None] | None = None,
    ):
        """`sock` is the connection's own (`take_socket`), `pending` what the client sent after its handshake,
        `release` is called once the socket is closed."""
        self.last_seen = time.monotonic()  # when the peer last sent anything
        self._scheduler = scheduler
        self._settings = settings
        self._queue_size = settings.ws_send_queue_size
        self._queue_bytes = settings.ws_send_queue_bytes
        # The send queue: `_head` is the first frame queued (b"" while none is) and `_queue` holds those after
        # it, so that the usual case — one broadcast at a time — touches no list.
        self._head = b""
        self._queue: list[bytes] = []
        self._queued = 0  # frames queued, not yet handed to a write
        self._queued_bytes = 0
        self._sock = sock
        # A flush's write never waits: it goes straight to the non-blocking socket under gevent's wrapper
        # (`_sock`), without the wrapper's Python-level `send`; a flush writes once per member per broadcast.
        self._nonblocking = getattr(sock, "_sock", sock)
        try:  # frames are coalesced here already
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # the peer is gone already: the first read says so, and the socket is closed and released
        self._input = pending  # received, not yet parsed (b"" while idle: no buffer kept)
        self._reader = wire.MessageReader(self._read, settings.ws_max_frame_bytes)
        self._readable = None  # the read watcher, made when the connection first goes idle
        self._release = release
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
        if self._queued >= self._queue_size or self._queued_bytes + len(frame) > self._queue_bytes:
            return False
        self._append(frame)
        return True

    def _append(self, frame: bytes) -> None:
        """Queue `frame` whatever the queue holds; a transport whose queue was empty is due to flush (unless
        its writer greenlet is on it)."""
        if self._queued:
            self._queue.append(frame)
        else:
            self._head = frame
            if self._writer is None:
                self._scheduler.schedule(self)
        self._queued += 1
        self._queued_bytes += len(frame)

    def _take(self) -> bytes:
        """Everything queued, as one write; the queue is then empty."""
        data = self._head
        if self._queued > 1:
            self._queue.insert(0, data)
            data = b"".join(self._queue)
            self._queue.clear()
        self._head = b""
        self._queued = self._queued_bytes = 0
        return data

    def _discard(self) -> None:
        self._head = b""
        self._queue.clear()
        self._queued = self._queued_bytes = 0

    def free_slots(self) -> int:
        """How many more frames the queue takes."""
        return self._queue_size - self._queued

    def flush(self) -> None:
        """Write what is queued without blocking; a writer greenlet takes over what the socket refused."""
        if not self._queued or self._writer is not None or self.aborted:
            return
        data = self._take()
        try:
            sent = self._nonblocking.send(data, socket.MSG_DONTWAIT)
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
                if not self._queued:
                    break
                data = self._take()
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
            self._discard()
        self._append(wire.close_frame(code, reason))  # past the queue's bounds: the close frame goes out
        self._close_timer = gevent.spawn_later(self._settings.ws_close_timeout_s, self.abort)

    def abort(self) -> None:
        """Drop the connection now: the reader sees end of file and cleans up."""
        if self.aborted:
            return
        self.aborted = self.closing = True
        self._discard()
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
                    if self._queued:
                        self._sock.sendall(self._take())
                except OSError:
                    pass
        if self._close_timer is not None:
            self._close_timer.kill(block=False)
        if self._readable is not None:
            self._readable.close()
        try:
            self._sock.close()
        except OSError:
            pass
        if self._release is not None:
            self._release()

    # --- reading ----------------------------------------------------------------------------------
    def _read(self, count: int) -> bytes:
        """`count` bytes (fewer only at end of stream), from what was received first, then the socket."""
        buffered = self._input
        if len(buffered) < count:
            parts, have = [buffered], len(buffered)
            while have < count:
                chunk = self._sock.recv(max(count - have, _RECV_BYTES))
                if not chunk:
                    break
                parts.append(chunk)
                have += len(chunk)
            buffered = b"".join(parts)
        self._input = buffered[count:]
        return buffered[:count]

    def _read_any(self, limit: int) -> bytes:
        """Whatever is received, at most `limit` bytes (b"" at end of stream)."""
        if self._input:
            data, self._input = self._input[:limit], self._input[limit:]
            return data
        return self._sock.recv(limit)

    def when_readable(self, callback: Callable[[], None]) -> None:
        """Call `callback` (in the event loop) once the socket has something to read, or is closed: the
        connection waits without a greenlet. Only when nothing is buffered (`next_message` said so)."""
        if self._readable is None:
            self._readable = gevent.get_hub().loop.io(self._sock.fileno(), 1)
        self._readable.start(self._readable_once, callback)

    def _readable_once(self, callback: Callable[[], None]) -> None:
        self._readable.stop()
        callback()

    def next_message(self) -> wire.Message | None:
        """The client's next data message (OP_TEXT, OP_BINARY); NOTHING_BUFFERED when a control frame was
        all there was to read (the caller waits with `when_readable`), None once the socket is closed. Pings
        are answered, pongs only count as signs of life, a close frame is answered, and a protocol
        violation closes the connection with its code."""
        while True:
            try:
                message = self._reader.next_message()
            except wire.PeerGone:
                return None
            except wire.ProtocolViolation as violation:
                self.close(violation.code, violation.reason)
                discard_input(self._read_any)  # the stream cannot be parsed any further
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
            if not self._input:
                return NOTHING_BUFFERED

    def has_input(self) -> bool:
        """Whether received bytes wait to be parsed (else the next read would wait for the client)."""
        return bool(self._input)


def _valid_close_code(code: int | None) -> bool:
    return code is not None and (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999)
