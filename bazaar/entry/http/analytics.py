"""Analytics: of a session (its owner, moderators, admins) and of a creator (self or admin). Bare bodies."""

from __future__ import annotations

import uuid

import falcon

from bazaar.domain.validation import page_schema
from bazaar.entry.http.common import ok, query, require_user
from bazaar.services.analytics import AnalyticsService

PAGE = page_schema()


class SessionAnalytics:
    """The report (`on_get`), the viewers watching now (`live`) and every view (`viewers`)."""

    def __init__(self, analytics: AnalyticsService):
        self.analytics = analytics

    @falcon.before(require_user)
    def on_get(self, req, resp, session_id: uuid.UUID):
        resp.media = self.analytics.session_report(session_id, req.context.user)

    @falcon.before(require_user)
    def on_get_live(self, req, resp, session_id: uuid.UUID):
        resp.media = self.analytics.live_viewers(session_id, req.context.user, **query(req, PAGE))

    @falcon.before(require_user)
    def on_get_viewers(self, req, resp, session_id: uuid.UUID):
        resp.media = self.analytics.viewers(session_id, req.context.user, **query(req, PAGE))


class CreatorAnalytics:
    def __init__(self, analytics: AnalyticsService):
        self.analytics = analytics

    @falcon.before(require_user)
    def on_get(self, req, resp, creator_id: int):
        resp.media = ok(self.analytics.creator_report(creator_id, req.context.user), creatorId=creator_id)
