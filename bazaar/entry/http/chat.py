"""/api/sessions/:id/chat: history, posting, count, moderation."""

from __future__ import annotations

import uuid

import falcon

from bazaar.entry.http import answers, schemas
from bazaar.entry.http.common import ok
from bazaar.entry.http.endpoint import REQUIRED, endpoint
from bazaar.services.chat import ChatService


class ChatMessages:
    def __init__(self, chat: ChatService):
        self.chat = chat

    @endpoint(
        "Chat history: the newest page before `before`, oldest first",
        query=schemas.ChatHistory,
        answer=answers.OkList[answers.ChatMessage],
    )
    def on_get(self, req, resp, session_id: uuid.UUID):
        params = req.context.query
        messages = self.chat.history(session_id, limit=params.limit, before=params.before)
        resp.media = ok(messages, count=True)

    @endpoint(
        "Post a chat message (live or paused sessions)",
        auth=REQUIRED,
        body=schemas.ChatPost,
        status=201,
        answer=answers.Ok[answers.ChatMessage],
        errors=(409, 429),
    )
    def on_post(self, req, resp, session_id: uuid.UUID):
        message = self.chat.post_message(session_id, req.context.user, req.context.body.message)
        resp.status = falcon.HTTP_201
        resp.media = ok(message, message="Message sent")


class ChatCount:
    def __init__(self, chat: ChatService):
        self.chat = chat

    @endpoint("Number of chat messages", answer=answers.Ok[answers.Count])
    def on_get(self, req, resp, session_id: uuid.UUID):
        resp.media = ok({"count": self.chat.count(session_id)})


class ChatMessageItem:
    def __init__(self, chat: ChatService):
        self.chat = chat

    @endpoint("Delete a message (moderator, admin, owner)", auth=REQUIRED, answer=answers.Done, errors=(403,))
    def on_delete(self, req, resp, session_id: uuid.UUID, message_id: uuid.UUID):
        self.chat.delete_message(session_id, message_id, req.context.user)
        resp.media = ok(message="Message deleted")
