"""Chat of a session: history, posting (REST and WebSocket share `post_message`), counting, moderation."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import create_model

from bazaar.domain.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from bazaar.domain.inputs import Body, text, validated
from bazaar.domain.models import ChatMessage, User
from bazaar.domain.views import message_view
from bazaar.infra.db import database
from bazaar.live import events
from bazaar.live.publisher import Publisher
from bazaar.live.state import LiveState
from bazaar.services.sessions import SessionService
from config import Settings


class ChatService:
    def __init__(self, settings: Settings, publisher: Publisher, live_state: LiveState):
        self.settings = settings
        self.publisher = publisher
        self.live_state = live_state
        # Trimmed; newline allowed, every other control character refused.
        self.message_model = create_model(
            "ChatText", __base__=Body, message=(text(min_len=1, max_len=settings.chat_max_chars), ...)
        )

    def post_message(self, session_id: uuid.UUID, user: User, text) -> dict:
        """Validate, rate-limit, store, then broadcast `new-message`; returns the stored message."""
        text = validated(self.message_model, {"message": text}).message
        session = SessionService.get(session_id)
        if not session.on_air:
            raise Conflict(
                "Chat is open only while the session is live or paused",
                code="chat_closed",
                currentStatus=session.status,
            )
        wait_s = self.live_state.hit(
            f"chat:{user.id}", self.settings.chat_rate_count, self.settings.chat_rate_window_s
        )
        if wait_s:
            raise RateLimited(
                f"At most {self.settings.chat_rate_count} chat messages per "
                f"{self.settings.chat_rate_window_s:g} seconds, slow down",
                retry_after_s=wait_s,
            )
        # One statement, committed on its own: a transaction around it would cost a BEGIN and a COMMIT,
        # two more round trips before the broadcast (the room waits for every one of them).
        message = ChatMessage.create(session=session.id, user=user.id, message=text)
        stored = message_view(message, user.username)
        self.publisher.publish(session.id, events.new_message(stored))
        self.live_state.record_engagement(str(session.id))
        return stored

    @staticmethod
    def history(
        session_id: uuid.UUID, *, limit: int, before: datetime | uuid.UUID | None = None
    ) -> list[dict]:
        """The newest `limit` messages before `before` (a time or a message id), oldest first."""
        SessionService.get(session_id)
        query = _with_author(ChatMessage.session == session_id)
        if isinstance(before, uuid.UUID):
            anchor = _message_in(session_id, before)
            if anchor is None:
                raise Invalid(
                    "before is not a message of this session",
                    details={"before": "must be an ISO time or a message id of this session"},
                )
            query = query.where(_before(anchor))
        elif before is not None:
            query = query.where(ChatMessage.created_at < before)
        newest_first = query.order_by(ChatMessage.created_at.desc(), ChatMessage.id.desc()).limit(limit)
        return [message_view(m, m.user.username) for m in reversed(list(newest_first))]

    @staticmethod
    def messages_since(session_id: uuid.UUID, since_message_id: uuid.UUID, limit: int) -> list[dict]:
        """Messages strictly after `since_message_id`, oldest first (WebSocket replay).
        Raises NotFound when that message is not in this session."""
        anchor = _message_in(session_id, since_message_id)
        if anchor is None:
            raise NotFound("Message not found in this session")
        query = _with_author((ChatMessage.session == session_id) & _after(anchor))
        rows = query.order_by(ChatMessage.created_at, ChatMessage.id).limit(limit)
        return [message_view(m, m.user.username) for m in rows]

    @staticmethod
    def count(session_id: uuid.UUID) -> int:
        SessionService.get(session_id)
        return ChatMessage.select().where(ChatMessage.session == session_id).count()

    def delete_message(self, session_id: uuid.UUID, message_id: uuid.UUID, actor: User) -> None:
        """Moderators, admins and the session's owner remove a message; `message-deleted` is broadcast."""
        session = SessionService.get(session_id)
        if not actor.can_moderate and session.creator_id != actor.id:
            raise Forbidden("Only a moderator, an admin or the session's owner can delete chat messages")
        with database.atomic():
            deleted = (
                ChatMessage.delete()
                .where((ChatMessage.id == message_id) & (ChatMessage.session == session.id))
                .execute()
            )
            if not deleted:
                raise NotFound("Message not found in this session")
            self.publisher.publish(session.id, events.message_deleted(session.id, message_id))


def _message_in(session_id: uuid.UUID, message_id: uuid.UUID) -> ChatMessage | None:
    return ChatMessage.get_or_none((ChatMessage.id == message_id) & (ChatMessage.session == session_id))


def _with_author(condition):
    return ChatMessage.select(ChatMessage, User.id, User.username).join(User).where(condition)


def _before(anchor: ChatMessage):
    """Messages that come before `anchor` in (created_at, id) order."""
    return (ChatMessage.created_at < anchor.created_at) | (
        (ChatMessage.created_at == anchor.created_at) & (ChatMessage.id < anchor.id)
    )


def _after(anchor: ChatMessage):
    return (ChatMessage.created_at > anchor.created_at) | (
        (ChatMessage.created_at == anchor.created_at) & (ChatMessage.id > anchor.id)
    )
