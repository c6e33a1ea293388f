"""An independent reader of Agora AccessToken version "006" tokens (RTC), written from the token format.

    token   = "006" + app id (32 characters) + base64(content)
    content = bytes(signature) + uint32 crc32(channel) + uint32 crc32(uid) + bytes(message)
    message = uint32 salt + uint32 ts + map<uint16 privilege, uint32 expiry ts>
    bytes   = uint16 length + the bytes;  integers little-endian
    signature = HMAC-SHA256(key = app certificate, app id + channel + uid + message)

The uid is its decimal string, and the empty string for uid 0 (anonymous).
Tests use this to check what the service hands out without asking the builder a second time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import zlib
from dataclasses import dataclass

VERSION = "006"
APP_ID_LENGTH = 32

JOIN_CHANNEL = 1
PUBLISH_AUDIO_STREAM = 2
PUBLISH_VIDEO_STREAM = 3
PUBLISH_DATA_STREAM = 4


class MalformedToken(ValueError):
    pass


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise MalformedToken("token content is truncated")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def uint16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def uint32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def bytes(self) -> bytes:
        return self.take(self.uint16())

    def done(self) -> bool:
        return self.at == len(self.data)


def _uid_text(uid: int) -> str:
    return "" if uid == 0 else str(uid)


def _crc(text: str) -> int:
    return zlib.crc32(text.encode()) & 0xFFFFFFFF


@dataclass(frozen=True)
class AgoraToken:
    version: str
    app_id: str
    signature: bytes
    channel_crc: int
    uid_crc: int
    message: bytes
    salt: int
    ts: int
    privileges: dict[int, int]  # privilege → expiry (epoch seconds)

    def is_for(self, channel: str, uid: int) -> bool:
        """The CRCs in the token match this channel and uid."""
        return self.channel_crc == _crc(channel) and self.uid_crc == _crc(_uid_text(uid))

    def signed_with(self, certificate: str, channel: str, uid: int) -> bool:
        signed = (self.app_id + channel + _uid_text(uid)).encode() + self.message
        expected = hmac.new(certificate.encode(), signed, hashlib.sha256).digest()
        return hmac.compare_digest(expected, self.signature)


def decode(token: str) -> AgoraToken:
    if not token.startswith(VERSION):
        raise MalformedToken(f"token version is not {VERSION}")
    app_id = token[len(VERSION) : len(VERSION) + APP_ID_LENGTH]
    if len(app_id) != APP_ID_LENGTH:
        raise MalformedToken("token is too short for an app id")
    try:
        content = base64.b64decode(token[len(VERSION) + APP_ID_LENGTH :], validate=True)
    except binascii.Error as problem:
        raise MalformedToken(f"token content is not base64: {problem}") from None
    outer = _Reader(content)
    signature, channel_crc, uid_crc, message = outer.bytes(), outer.uint32(), outer.uint32(), outer.bytes()
    if not outer.done():
        raise MalformedToken("trailing bytes after the message")
    inner = _Reader(message)
    salt, ts = inner.uint32(), inner.uint32()
    privileges = {}
    for _ in range(inner.uint16()):
        key = inner.uint16()
        privileges[key] = inner.uint32()
    if not inner.done():
        raise MalformedToken("trailing bytes after the privileges")
    return AgoraToken(
        version=VERSION,
        app_id=app_id,
        signature=signature,
        channel_crc=channel_crc,
        uid_crc=uid_crc,
        message=message,
        salt=salt,
        ts=ts,
        privileges=privileges,
    )
