"""/api/sessions/:id/chat: history, posting, count, moderation."""

from __future__ import annotations

import uuid

import falcon

from bazaar.domain.validation import Field, Id, Int, Timestamp
from bazaar.entry.http.common import body, ok, query, require_user
from bazaar.services.chat import ChatService


class TimeOrMessageId(Field):
    """`before`: a message id, or an ISO-8601 time."""

    def convert(self, value, textual):
        for form in (Id(), Timestamp()):
            try:
                return form.convert(value, textual)
            except ValueError:
                pass
        raise ValueError("must be an ISO time or a message id")


HISTORY = {"limit": Int(minimum=1, maximum=100, default=50), "before": TimeOrMessageId()}


class ChatMessages:
    def __init__(self, chat: ChatService):
        self.chat = chat

    def on_get(self, req, resp, session_id: uuid.UUID):
        params = query(req, HISTORY)
        messages = self.chat.history(session_id, limit=params["limit"], before=params.get("before"))
        resp.media = ok(messages, count=True)

    @falcon.before(require_user)
    def on_post(self, req, resp, session_id: uuid.UUID):
        # The author is the caller: identity fields the front end sends along (userId, userName) are ignored.
        text = body(req, self.chat.message_fields, unknown="ignore")["message"]
        message = self.chat.post_message(session_id, req.context.user, text)
        resp.status = falcon.HTTP_201
        resp.media = ok(message, message="Message sent")


class ChatCount:
    def __init__(self, chat: ChatService):
        self.chat = chat

    def on_get(self, req, resp, session_id: uuid.UUID):
        resp.media = ok({"count": self.chat.count(session_id)})


class ChatMessageItem:
    def __init__(self, chat: ChatService):
        self.chat = chat

    @falcon.before(require_user)
    def on_delete(self, req, resp, session_id: uuid.UUID, message_id: uuid.UUID):
        self.chat.delete_message(session_id, message_id, req.context.user)
        resp.media = ok(message="Message deleted")
