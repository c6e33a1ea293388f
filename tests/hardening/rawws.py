"""A WebSocket client that writes any frame, for what a conforming library would never send, and reads the
server's frames one by one."""

from __future__ import annotations

import base64
import os
import socket
import struct

from tests.support.ws_client import read_until

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


class RawWebSocket:
    def __init__(
        self,
        port: int,
        path: str = "/ws",
        *,
        source: str = "127.0.0.1",
        receive_buffer_bytes: int | None = None,
    ):
        self.sock = socket.socket()
        self.sock.bind((source, 0))
        if receive_buffer_bytes:  # before connecting, so the TCP window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_bytes)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        response = read_until(self.sock, b"\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 101 "), response[:200]
        self._buffer = response.split(b"\r\n\r\n", 1)[1]

    def send_frame(self, opcode: int, payload: bytes = b"", *, fin: bool = True) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", (0x80 if fin else 0) | opcode, 0x80 | length)
        elif length <= 0xFFFF:
            header = struct.pack("!BBH", (0x80 if fin else 0) | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", (0x80 if fin else 0) | opcode, 0x80 | 127, length)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_text(self, text: str | bytes) -> None:
        self.send_frame(TEXT, text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)

    def close_with(self, payload: bytes) -> None:
        self.send_frame(CLOSE, payload)

    def _exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the TCP connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def next_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the server's next frame; ConnectionError when the TCP connection ends."""
        first, second = self._exactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._exactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._exactly(8))[0]
        return first & 0x0F, self._exactly(length)

    def next_data_frame(self) -> tuple[int, bytes]:
        """The next frame that is not a ping (the server pings on its heartbeat)."""
        while True:
            opcode, payload = self.next_frame()
            if opcode != PING:
                return opcode, payload

    def close_code(self) -> int:
        """The status code of the server's close frame (frames before it are skipped)."""
        while True:
            opcode, payload = self.next_frame()
            if opcode == CLOSE:
                return struct.unpack("!H", payload[:2])[0]

    def close(self) -> None:
        self.sock.close()
