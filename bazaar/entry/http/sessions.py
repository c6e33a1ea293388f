"""/api/sessions: live shows, their status machine, stream tokens, showcase, live counters, products;
/api/users/live."""

from __future__ import annotations

import uuid

import falcon

from bazaar.domain.models import Session, SessionStatus
from bazaar.domain.validation import (
    Bool,
    Choice,
    HttpUrl,
    Id,
    IdList,
    Int,
    Str,
    StrList,
    Timestamp,
    page_schema,
)
from bazaar.domain.views import session_product_view
from bazaar.entry.http.common import (
    body,
    current_user,
    ok,
    optional_user,
    query,
    require_user,
)
from bazaar.services.agora import PUBLISHER, ROLES, SUBSCRIBER
from bazaar.services.session_products import SessionProductService
from bazaar.services.sessions import SessionService

_MAX_DISPLAY_ORDER = 2**31 - 1  # the column is a 32-bit integer

EDITABLE = {
    "title": Str(min_len=1, max_len=255, required=True),
    "description": Str(max_len=5000, nullable=True, allow_control=True),
    "category": Str(min_len=1, max_len=100, nullable=True),
    "tags": StrList(),
    "streamUrl": HttpUrl(attr="stream_url", nullable=True),
    "scheduledAt": Timestamp(attr="scheduled_at", nullable=True),
}
CREATE = {
    **EDITABLE,
    "streamKey": Str(min_len=1, max_len=255, attr="stream_key", nullable=True),
    "productIds": IdList(attr="product_ids"),
}
LIST = {"status": Choice(SessionStatus.ALL), **page_schema()}
STATUS = {"status": Choice(SessionStatus.ALL, required=True)}
SHOWCASE = {"productId": Id(attr="product_id", required=True, nullable=True)}
TOKEN = {"role": Choice(ROLES, default=SUBSCRIBER)}
ADD_PRODUCT = {
    "productId": Id(attr="product_id", required=True),
    "featured": Bool(default=False),
    "displayOrder": Int(attr="display_order", minimum=0, maximum=_MAX_DISPLAY_ORDER),
}
FEATURED = {"productIds": IdList(attr="product_ids", required=True)}
ORDER = {"displayOrder": Int(attr="display_order", minimum=0, maximum=_MAX_DISPLAY_ORDER, required=True)}
PRODUCTS_QUERY = {"featured": Bool()}


class Sessions:
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @falcon.before(require_user)
    def on_get(self, req, resp):
        params = query(req, LIST)
        own = self.sessions.list_own(
            req.context.user, status=params.get("status"), limit=params["limit"], offset=params["offset"]
        )
        resp.media = ok(self.sessions.present(own, req.context.user), count=True)

    @falcon.before(require_user)  # who may sell: the service (SELLERS)
    def on_post(self, req, resp):
        session = self.sessions.create(req.context.user, body(req, CREATE))
        resp.status = falcon.HTTP_201
        resp.media = ok(self.sessions.present_one(session, req.context.user), message="Session created")


class SessionItem:
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @falcon.before(optional_user)
    def on_get(self, req, resp, session_id: uuid.UUID):
        resp.media = ok(self.sessions.present_one(self.sessions.get(session_id), req.context.user))

    @falcon.before(require_user)
    def on_put(self, req, resp, session_id: uuid.UUID):
        session = self.sessions.update(req.context.user, session_id, body(req, EDITABLE, partial=True))
        resp.media = ok(self.sessions.present_one(session, req.context.user), message="Session updated")

    on_patch = on_put

    @falcon.before(require_user)
    def on_delete(self, req, resp, session_id: uuid.UUID):
        self.sessions.delete(req.context.user, session_id)
        resp.media = ok(message="Session deleted")


class SessionStatusResource:
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @falcon.before(require_user)
    def on_patch(self, req, resp, session_id: uuid.UUID):
        status = body(req, STATUS)["status"]
        session = self.sessions.change_status(req.context.user, session_id, status)
        resp.media = ok(
            self.sessions.present_one(session, req.context.user), message=f"Session is now {status}"
        )


class SessionStream:
    """/start-stream (suffix `start`) and /end-stream (suffix `end`)."""

    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @falcon.before(require_user)
    def on_post_start(self, req, resp, session_id: uuid.UUID):
        resp.media = ok(self.sessions.start_stream(req.context.user, session_id), message="Stream started")

    @falcon.before(require_user)
    def on_post_end(self, req, resp, session_id: uuid.UUID):
        self.sessions.end_stream(req.context.user, session_id)
        resp.media = ok(message="Stream ended successfully")


class StreamTokens:
    """/stream-token (a subscriber token) and /refresh-token (suffix `refresh`, either role)."""

    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @falcon.before(optional_user)
    def on_get(self, req, resp, session_id: uuid.UUID):
        resp.media = ok(self.sessions.stream_token(req.context.user, session_id))

    @falcon.before(optional_user)
    def on_post_refresh(self, req, resp, session_id: uuid.UUID):
        role = body(req, TOKEN)["role"]
        actor = current_user(req, required=role == PUBLISHER)  # a publisher token needs sign-in
        resp.media = ok(self.sessions.refresh_token(actor, session_id, role), message="Token refreshed")


def reactions_view(session: Session, counts: dict[str, int]) -> dict:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {
        "sessionId": str(session.id),
        "sessionStatus": session.status,
        "isLive": session.status == SessionStatus.LIVE,
        "reactions": counts,
        "sortedReactions": [{"type": kind, "count": n} for kind, n in ranked],
        "total": sum(counts.values()),
    }


class Reactions:
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    def on_get(self, req, resp, session_id: uuid.UUID):
        resp.media = ok(reactions_view(*self.sessions.reaction_counts(session_id)))


class ConversionStats:
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @falcon.before(optional_user)
    def on_get(self, req, resp, session_id: uuid.UUID):
        session, stats = self.sessions.conversion_stats(session_id)
        resp.media = {
            "success": True,
            "sessionId": str(session.id),
            "sessionStatus": session.status,
            "data": stats,
        }


class Showcase:
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @falcon.before(require_user)
    def on_post(self, req, resp, session_id: uuid.UUID):
        product_id = body(req, SHOWCASE)["product_id"]
        shown = self.sessions.showcase(req.context.user, session_id, product_id)
        resp.media = ok(shown, message="Product showcased" if product_id else "Showcase cleared")


class SessionProducts:
    def __init__(self, links: SessionProductService):
        self.links = links

    def on_get(self, req, resp, session_id: uuid.UUID):
        featured = query(req, PRODUCTS_QUERY).get("featured")
        resp.media = ok(
            [session_product_view(link) for link in self.links.list(session_id, featured=featured)],
            count=True,
        )

    @falcon.before(require_user)
    def on_post(self, req, resp, session_id: uuid.UUID):
        fields = body(req, ADD_PRODUCT)
        link = self.links.add(req.context.user, session_id, fields.pop("product_id"), **fields)
        resp.status = falcon.HTTP_201
        resp.media = ok(session_product_view(link), message="Product added to the session")

    @falcon.before(require_user)
    def on_patch(self, req, resp, session_id: uuid.UUID):
        product_ids = body(req, FEATURED)["product_ids"]
        links = self.links.set_featured(req.context.user, session_id, product_ids)
        resp.media = ok(
            [session_product_view(link) for link in links], count=True, message="Featured products updated"
        )


class SessionProductItem:
    """/products/{product_id} (remove), /feature (suffix `feature`), /order (suffix `order`)."""

    def __init__(self, links: SessionProductService):
        self.links = links

    @falcon.before(require_user)
    def on_delete(self, req, resp, session_id: uuid.UUID, product_id: uuid.UUID):
        self.links.remove(req.context.user, session_id, product_id)
        resp.media = ok(message="Product removed from the session")

    @falcon.before(require_user)
    def on_patch_feature(self, req, resp, session_id: uuid.UUID, product_id: uuid.UUID):
        link = self.links.toggle_featured(req.context.user, session_id, product_id)
        resp.media = ok(
            session_product_view(link),
            message="Product featured" if link.featured else "Product no longer featured",
        )

    @falcon.before(require_user)
    def on_patch_order(self, req, resp, session_id: uuid.UUID, product_id: uuid.UUID):
        display_order = body(req, ORDER)["display_order"]
        link = self.links.reorder(req.context.user, session_id, product_id, display_order)
        resp.media = ok(session_product_view(link), message="Display order updated")


class LiveCreators:
    """/api/users/live: creators on air now, each with their live session."""

    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @falcon.before(optional_user)
    def on_get(self, req, resp):
        page = query(req, page_schema())
        resp.media = ok(
            self.sessions.live_creators(req.context.user, limit=page["limit"], offset=page["offset"]),
            count=True,
        )
