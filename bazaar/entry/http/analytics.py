"""Analytics: of a session (its owner, moderators, admins) and of a creator (self or admin). Bare bodies."""

from __future__ import annotations

import uuid

from bazaar.domain.inputs import Page
from bazaar.entry.http import answers
from bazaar.entry.http.common import ok
from bazaar.entry.http.endpoint import REQUIRED, endpoint
from bazaar.services.analytics import AnalyticsService


class SessionAnalytics:
    """The report (`on_get`), the viewers watching now (`live`) and every view (`viewers`)."""

    def __init__(self, analytics: AnalyticsService):
        self.analytics = analytics

    @endpoint("Session analytics (owner, moderator, admin)", auth=REQUIRED, answer=dict, errors=(403,))
    def on_get(self, req, resp, session_id: uuid.UUID):
        resp.media = self.analytics.session_report(session_id, req.context.user)

    @endpoint(
        "Viewers watching now (owner, moderator, admin)",
        auth=REQUIRED,
        query=Page,
        answer=dict,
        errors=(403,),
    )
    def on_get_live(self, req, resp, session_id: uuid.UUID):
        page = req.context.query
        resp.media = self.analytics.live_viewers(
            session_id, req.context.user, limit=page.limit, offset=page.offset
        )

    @endpoint(
        "Every view of a session (owner, moderator, admin)",
        auth=REQUIRED,
        query=Page,
        answer=dict,
        errors=(403,),
    )
    def on_get_viewers(self, req, resp, session_id: uuid.UUID):
        page = req.context.query
        resp.media = self.analytics.viewers(
            session_id, req.context.user, limit=page.limit, offset=page.offset
        )


class CreatorAnalytics:
    def __init__(self, analytics: AnalyticsService):
        self.analytics = analytics

    @endpoint(
        "Analytics over a creator's sessions (self or admin)",
        auth=REQUIRED,
        answer=answers.CreatorReport,
        errors=(403,),
    )
    def on_get(self, req, resp, creator_id: int):
        resp.media = ok(self.analytics.creator_report(creator_id, req.context.user), creatorId=creator_id)
