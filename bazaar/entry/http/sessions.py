"""/api/sessions: live shows, their status machine, stream tokens, showcase, live counters, products;
/api/users/live."""

from __future__ import annotations

import uuid

import falcon

from bazaar.domain.inputs import Page
from bazaar.domain.models import Session, SessionStatus
from bazaar.domain.views import session_product_view
from bazaar.entry.http import answers, schemas
from bazaar.entry.http.common import current_user, ok
from bazaar.entry.http.endpoint import OPTIONAL, REQUIRED, endpoint
from bazaar.services.agora import PUBLISHER
from bazaar.services.session_products import SessionProductService
from bazaar.services.sessions import SessionService


class Sessions:
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @endpoint(
        "Own sessions (?status=)",
        auth=REQUIRED,
        query=schemas.SessionList,
        answer=answers.OkList[answers.Session],
    )
    def on_get(self, req, resp):
        params = req.context.query
        own = self.sessions.list_own(
            req.context.user, status=params.status, limit=params.limit, offset=params.offset
        )
        resp.media = ok(self.sessions.present(own, req.context.user), count=True)

    # who may sell: the service (SELLERS)
    @endpoint(
        "Create a session",
        auth=REQUIRED,
        body=schemas.SessionCreate,
        status=201,
        answer=answers.Ok[answers.Session],
        errors=(403,),
    )
    def on_post(self, req, resp):
        session = self.sessions.create(req.context.user, req.context.body)
        resp.status = falcon.HTTP_201
        resp.media = ok(self.sessions.present_one(session, req.context.user), message="Session created")


class SessionItem:
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @endpoint("A session with its creator and products", auth=OPTIONAL, answer=answers.Ok[answers.Session])
    def on_get(self, req, resp, session_id: uuid.UUID):
        resp.media = ok(self.sessions.present_one(self.sessions.get(session_id), req.context.user))

    @endpoint(
        "Update a session (owner)",
        auth=REQUIRED,
        body=schemas.SessionUpdate,
        answer=answers.Ok[answers.Session],
        errors=(403,),
    )
    def on_put(self, req, resp, session_id: uuid.UUID):
        session = self.sessions.update(req.context.user, session_id, req.context.body)
        resp.media = ok(self.sessions.present_one(session, req.context.user), message="Session updated")

    on_patch = on_put

    @endpoint(
        "Delete a session that is not on air (owner)", auth=REQUIRED, answer=answers.Done, errors=(403, 409)
    )
    def on_delete(self, req, resp, session_id: uuid.UUID):
        self.sessions.delete(req.context.user, session_id)
        resp.media = ok(message="Session deleted")


class SessionStatusResource:
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @endpoint(
        "Move a session along its status machine (owner)",
        auth=REQUIRED,
        body=schemas.StatusChange,
        answer=answers.Ok[answers.Session],
        errors=(403, 409),
    )
    def on_patch(self, req, resp, session_id: uuid.UUID):
        status = req.context.body.status
        session = self.sessions.change_status(req.context.user, session_id, status)
        resp.media = ok(
            self.sessions.present_one(session, req.context.user), message=f"Session is now {status}"
        )


class SessionStream:
    """/start-stream (suffix `start`) and /end-stream (suffix `end`)."""

    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @endpoint(
        "Go live; a publisher token (owner)",
        auth=REQUIRED,
        answer=answers.Ok[answers.StreamToken],
        errors=(403, 409),
    )
    def on_post_start(self, req, resp, session_id: uuid.UUID):
        resp.media = ok(self.sessions.start_stream(req.context.user, session_id), message="Stream started")

    @endpoint(
        "End the stream, persist live counters (owner)", auth=REQUIRED, answer=answers.Done, errors=(403, 409)
    )
    def on_post_end(self, req, resp, session_id: uuid.UUID):
        self.sessions.end_stream(req.context.user, session_id)
        resp.media = ok(message="Stream ended successfully")


class StreamTokens:
    """/stream-token (a subscriber token) and /refresh-token (suffix `refresh`, either role)."""

    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @endpoint(
        "A subscriber token (uid 0 when anonymous)",
        auth=OPTIONAL,
        answer=answers.Ok[answers.StreamToken],
        errors=(409,),
    )
    def on_get(self, req, resp, session_id: uuid.UUID):
        resp.media = ok(self.sessions.stream_token(req.context.user, session_id))

    @endpoint(
        "A fresh publisher or subscriber token (a publisher token needs sign-in)",
        auth=OPTIONAL,
        body=schemas.StreamTokenRequest,
        answer=answers.Ok[answers.StreamToken],
        errors=(401, 403, 409),
    )
    def on_post_refresh(self, req, resp, session_id: uuid.UUID):
        role = req.context.body.role
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

    @endpoint("Reaction counts, live while on air", answer=answers.Ok[answers.Reactions])
    def on_get(self, req, resp, session_id: uuid.UUID):
        resp.media = ok(reactions_view(*self.sessions.reaction_counts(session_id)))


class ConversionStats:
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @endpoint("Product clicks and click-through rates", auth=OPTIONAL, answer=answers.ConversionStats)
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

    @endpoint(
        "Showcase a session product or clear it (owner)",
        auth=REQUIRED,
        body=schemas.ShowcaseRequest,
        answer=answers.Ok[answers.Showcased],
        errors=(403, 409),
    )
    def on_post(self, req, resp, session_id: uuid.UUID):
        product_id = req.context.body.product_id
        shown = self.sessions.showcase(req.context.user, session_id, product_id)
        resp.media = ok(shown, message="Product showcased" if product_id else "Showcase cleared")


class SessionProducts:
    def __init__(self, links: SessionProductService):
        self.links = links

    @endpoint(
        "The session's products (?featured=)",
        query=schemas.SessionProductsQuery,
        answer=answers.OkList[answers.SessionProduct],
    )
    def on_get(self, req, resp, session_id: uuid.UUID):
        featured = req.context.query.featured
        resp.media = ok(
            [session_product_view(link) for link in self.links.list(session_id, featured=featured)],
            count=True,
        )

    @endpoint(
        "Add an own product to the session (owner)",
        auth=REQUIRED,
        body=schemas.ProductLink,
        status=201,
        answer=answers.Ok[answers.SessionProduct],
        errors=(403, 409),
    )
    def on_post(self, req, resp, session_id: uuid.UUID):
        fields = req.context.body.model_dump(exclude_unset=True)
        link = self.links.add(req.context.user, session_id, fields.pop("product_id"), **fields)
        resp.status = falcon.HTTP_201
        resp.media = ok(session_product_view(link), message="Product added to the session")

    @endpoint(
        "Set exactly these products as featured (owner)",
        auth=REQUIRED,
        body=schemas.FeaturedProducts,
        answer=answers.OkList[answers.SessionProduct],
        errors=(403,),
    )
    def on_patch(self, req, resp, session_id: uuid.UUID):
        product_ids = req.context.body.product_ids
        links = self.links.set_featured(req.context.user, session_id, product_ids)
        resp.media = ok(
            [session_product_view(link) for link in links], count=True, message="Featured products updated"
        )


class SessionProductItem:
    """/products/{product_id} (remove), /feature (suffix `feature`), /order (suffix `order`)."""

    def __init__(self, links: SessionProductService):
        self.links = links

    @endpoint("Remove a product from the session (owner)", auth=REQUIRED, answer=answers.Done, errors=(403,))
    def on_delete(self, req, resp, session_id: uuid.UUID, product_id: uuid.UUID):
        self.links.remove(req.context.user, session_id, product_id)
        resp.media = ok(message="Product removed from the session")

    @endpoint(
        "Toggle featured (owner)", auth=REQUIRED, answer=answers.Ok[answers.SessionProduct], errors=(403,)
    )
    def on_patch_feature(self, req, resp, session_id: uuid.UUID, product_id: uuid.UUID):
        link = self.links.toggle_featured(req.context.user, session_id, product_id)
        resp.media = ok(
            session_product_view(link),
            message="Product featured" if link.featured else "Product no longer featured",
        )

    @endpoint(
        "Set the display order (owner)",
        auth=REQUIRED,
        body=schemas.DisplayOrderChange,
        answer=answers.Ok[answers.SessionProduct],
        errors=(403,),
    )
    def on_patch_order(self, req, resp, session_id: uuid.UUID, product_id: uuid.UUID):
        display_order = req.context.body.display_order
        link = self.links.reorder(req.context.user, session_id, product_id, display_order)
        resp.media = ok(session_product_view(link), message="Display order updated")


class LiveCreators:
    """/api/users/live: creators on air now, each with their live session."""

    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @endpoint(
        "Creators live now, with their session",
        auth=OPTIONAL,
        query=Page,
        answer=answers.OkList[answers.LiveCreator],
    )
    def on_get(self, req, resp):
        page = req.context.query
        resp.media = ok(
            self.sessions.live_creators(req.context.user, limit=page.limit, offset=page.offset),
            count=True,
        )
