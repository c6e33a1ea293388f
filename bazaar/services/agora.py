"""Agora RTC tokens: publisher tokens for a session's owner, subscriber tokens for its audience."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from agora_token_builder.RtcTokenBuilder import (
    Role_Publisher,
    Role_Subscriber,
    RtcTokenBuilder,
)

from bazaar.domain.clock import iso
from bazaar.domain.errors import Unavailable
from config import Settings

PUBLISHER = "publisher"
SUBSCRIBER = "subscriber"
ROLES = (PUBLISHER, SUBSCRIBER)
_BUILDER_ROLES = {PUBLISHER: Role_Publisher, SUBSCRIBER: Role_Subscriber}


class AgoraTokens:
    def __init__(self, settings: Settings):
        self.app_id = settings.agora_app_id
        self.app_certificate = settings.agora_app_certificate
        self.expiry_s = settings.agora_token_expiry_s

    def ensure_configured(self) -> None:
        if not (self.app_id and self.app_certificate):
            raise Unavailable(
                "Video streaming is not configured: AGORA_APP_ID and AGORA_APP_CERTIFICATE must be set",
                code="agora_not_configured",
            )

    def issue(self, channel: str, uid: int, role: str) -> dict:
        """A token for `uid` (0 = anonymous) in `channel`, valid for `agora_token_expiry_s`."""
        self.ensure_configured()
        expires_ts = int(time.time()) + self.expiry_s
        token = RtcTokenBuilder.buildTokenWithUid(
            self.app_id, self.app_certificate, channel, uid, _BUILDER_ROLES[role], expires_ts
        )
        return {
            "channelName": channel,
            "token": token,
            "uid": uid,
            "appId": self.app_id,
            "expiresAt": iso(datetime.fromtimestamp(expires_ts, UTC)),
            "role": role,
        }
