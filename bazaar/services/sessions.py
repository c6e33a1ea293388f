"""Sessions (live shows): CRUD, the status machine and its effects, stream tokens, showcase, live counters.

Every status move — start-stream, end-stream, PATCH …/status, cancel — goes through
`SessionService._move`, so the same move always has the same effects.
"""

from __future__ import annotations

import uuid

import peewee as pw

from bazaar.domain.clock import now
from bazaar.domain.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from bazaar.domain.models import (
    IllegalTransition,
    Order,
    Product,
    ProductClickStat,
    Session,
    SessionProduct,
    SessionStatus,
    SessionView,
    User,
)
from bazaar.domain.views import live_creator_view, product_view, session_view, session_webhook_view
from bazaar.infra import search_outbox as outbox
from bazaar.infra.db import database, whole_seconds_between
from bazaar.infra.rows import select_all
from bazaar.infra.session_reads import (
    SESSION_BY_ID,
    session_products_of,
    with_relations,
)
from bazaar.infra.webhook_outbox import WebhookRecorder
from bazaar.live import events
from bazaar.live.publisher import Publisher
from bazaar.live.state import LiveState, LiveTotals
from bazaar.services.agora import PUBLISHER, SUBSCRIBER, AgoraTokens
from bazaar.services.commands import SessionCreate, SessionUpdate
from bazaar.services.drops import close_session_drops
from bazaar.services.users import admit_seller


def require_own_products(seller_id: int, product_ids: list[uuid.UUID], field: str) -> None:
    """400 unless every id is a product of `seller_id` (unknown ids included: nothing to tell apart)."""
    if not product_ids:
        return
    owned = {
        pid
        for (pid,) in Product.select(Product.id)
        .where(Product.id.in_(product_ids) & (Product.seller == seller_id))
        .tuples()
    }
    foreign = [str(pid) for pid in product_ids if pid not in owned]
    if foreign:
        raise Invalid(
            f"Invalid body: {field} must be products of the session's creator",
            details={field: "not a product of the session's creator: " + ", ".join(foreign)},
        )


def _illegal_move(current: str, wanted: str) -> Conflict:
    return Conflict(
        f"Cannot move a {current} session to {wanted}",
        code="invalid_status_transition",
        currentStatus=current,
    )


class SessionService:
    def __init__(
        self,
        publisher: Publisher,
        live_state: LiveState,
        agora: AgoraTokens,
        open_selling: bool,
        webhooks: WebhookRecorder,
    ):
        self.publisher = publisher
        self.live_state = live_state
        self.agora = agora
        self.open_selling = open_selling  # SELLERS=open: see admit_seller
        self.webhooks = webhooks  # session.started / session.ended, in the move's transaction

    # reading -----------------------------------------------------------------
    @staticmethod
    def get(session_id: uuid.UUID) -> Session:
        session = SESSION_BY_ID.first(session_id)
        if session is None:
            raise NotFound("Session not found")
        return session

    def owned(self, session_id: uuid.UUID, actor: User) -> Session:
        """The session, if `actor` may manage it: its creator, or an admin."""
        session = self.get(session_id)
        if session.creator_id != actor.id and not actor.is_admin:
            raise Forbidden("Only the session's creator can do this")
        return session

    @staticmethod
    def list_own(actor: User, *, status: str | None, limit: int, offset: int) -> list[Session]:
        query = with_relations().where(Session.creator == actor.id)
        if status is not None:
            query = query.where(Session.status == status)
        return select_all(
            query.order_by(Session.created_at.desc(), Session.id.desc()).limit(limit).offset(offset)
        )

    def present(self, sessions: list[Session], viewer: User | None) -> list[dict]:
        """Public shapes with ordered products and, while on air, live viewer and reaction counts."""
        products = session_products_of(s.id for s in sessions)
        on_air = [str(s.id) for s in sessions if s.on_air]
        live = self.live_state.on_air_counts(on_air) if on_air else {}
        return [
            session_view(
                s,
                products=products.get(s.id, []),
                live=live.get(str(s.id)),
                with_stream_key=viewer is not None and viewer.id == s.creator_id,
            )
            for s in sessions
        ]

    def present_one(self, session: Session, viewer: User | None) -> dict:
        return self.present([session], viewer)[0]

    def live_creators(self, viewer: User | None, *, limit: int, offset: int) -> list[dict]:
        """Creators on air now, each with their most recently started session, newest first."""
        later = Session.alias()
        newer_on_air = later.select(later.id).where(
            (later.creator == Session.creator)
            & later.status.in_(SessionStatus.ON_AIR)
            & (
                (later.started_at > Session.started_at)
                | ((later.started_at == Session.started_at) & (later.id > Session.id))
            )
        )
        query = (
            Session.select(Session, User)
            .join(User, on=Session.creator)
            .where(Session.status.in_(SessionStatus.ON_AIR) & ~pw.fn.EXISTS(newer_on_air))
            .order_by(Session.started_at.desc(), Session.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [live_creator_view(session, viewer) for session in query]

    # writing -----------------------------------------------------------------
    def create(self, actor: User, new: SessionCreate) -> Session:
        product_ids = new.product_ids
        with database.atomic():  # a refused product list undoes a viewer's promotion too
            admit_seller(actor, open_selling=self.open_selling, what="sessions")
            require_own_products(actor.id, product_ids, "productIds")
            session = Session.create(creator=actor.id, **new.written())
            if product_ids:
                SessionProduct.insert_many(
                    [
                        {"session": session.id, "product": pid, "display_order": order}
                        for order, pid in enumerate(product_ids)
                    ]
                ).execute()
            outbox.record_session(session.id)
        return self.get(session.id)

    def update(self, actor: User, session_id: uuid.UUID, update: SessionUpdate) -> Session:
        session = self.owned(session_id, actor)
        changes = update.written()
        if not changes:
            return session
        with database.atomic():
            # Only the changed columns: a whole-row save could undo a concurrent status move.
            Session.update(**changes, updated_at=now()).where(Session.id == session.id).execute()
            outbox.record_session(session.id)
        return self.get(session.id)

    def delete(self, actor: User, session_id: uuid.UUID) -> None:
        session = self.owned(session_id, actor)
        with database.atomic():
            if Order.select().where(Order.session == session.id).exists():
                raise Conflict("A show with orders cannot be deleted", code="session_has_orders")
            close_session_drops(session.id)  # a drop's units go back to stock before its rows go
            deleted = (
                Session.delete()
                .where((Session.id == session.id) & Session.status.not_in(SessionStatus.ON_AIR))
                .execute()
            )
            if not deleted:
                current = Session.select(Session.status).where(Session.id == session.id).scalar()
                raise Conflict(
                    "A live session must be ended before it is deleted",
                    code="session_on_air",
                    currentStatus=current,
                )
            outbox.record_session(session.id)

    # the status machine ------------------------------------------------------
    def change_status(self, actor: User, session_id: uuid.UUID, status: str) -> Session:
        session = self.owned(session_id, actor)
        self._move(session, status)
        return session

    def start_stream(self, actor: User, session_id: uuid.UUID) -> dict:
        """Go live and hand the owner a publisher token."""
        session = self.owned(session_id, actor)
        if SessionStatus.LIVE not in SessionStatus.TRANSITIONS[session.status]:
            raise _illegal_move(session.status, SessionStatus.LIVE)
        self.agora.ensure_configured()  # before the move: a 503 changes nothing
        self._move(session, SessionStatus.LIVE)
        return self._token(session, actor.id, PUBLISHER)

    def end_stream(self, actor: User, session_id: uuid.UUID) -> Session:
        session = self.owned(session_id, actor)
        if not session.on_air:
            raise Conflict(
                "The stream is not live", code="invalid_status_transition", currentStatus=session.status
            )
        self._move(session, SessionStatus.ENDED)
        return session

    def _move(self, session: Session, target: str) -> None:
        """The one path of every status move: timestamps, live counters, view records, outbox, event."""
        previous = session.status
        at = now()
        try:
            session.move_to(target, at)
        except IllegalTransition:
            raise _illegal_move(previous, target) from None
        sid = str(session.id)
        drained: LiveTotals | None = None
        try:
            with database.atomic():
                # Compare-and-set on the old status: of two concurrent moves, one wins and the other is a 409.
                moved = (
                    Session.update({f: getattr(session, f.name) for f in session.dirty_fields})
                    .where((Session.id == session.id) & (Session.status == previous))
                    .execute()
                )
                if not moved:
                    current = Session.select(Session.status).where(Session.id == session.id).scalar()
                    raise _illegal_move(current or previous, target)
                if target == SessionStatus.ENDED:
                    drained = self.live_state.drain(sid)
                    self._persist_totals(session.id, drained)
                    self._close_open_views(session.id, at)
                    close_session_drops(session.id)  # unsold drop units back to stock
                    session.reaction_counts = drained.reactions
                    session.peak_viewers = drained.peak_viewers
                    session.unique_clickers = drained.unique_clickers
                elif target == SessionStatus.LIVE:
                    # Seeding merges (max per counter): resuming restores counters a Redis restart lost.
                    self.live_state.seed(sid, self._persisted_totals(session))
                outbox.record_session(session.id)
                if target == SessionStatus.ENDED or previous == SessionStatus.SCHEDULED:
                    self.webhooks.record(
                        "session.ended" if target == SessionStatus.ENDED else "session.started",
                        session.id,
                        session_webhook_view(session),
                    )
                self.publisher.publish(session.id, self._status_event(session, previous))
        except Exception:
            if drained is not None:
                self.live_state.seed(sid, drained)  # a failed end keeps its live counters
            raise

    @staticmethod
    def _status_event(session: Session, previous: str) -> tuple[str, dict]:
        if session.status == SessionStatus.ENDED:
            return events.stream_ended(session)
        if previous == SessionStatus.SCHEDULED:
            return events.stream_started(session)
        return events.session_status(session)  # pause or resume

    # live counters -----------------------------------------------------------
    def checkpoint(self, session_id) -> None:
        """Persist the live counters as they stand; they stay live (the periodic job calls this). Seeding
        first puts back what the live state lost since the last checkpoint (a Redis restart): otherwise
        the counts made since would overwrite everything persisted before."""
        session = Session.get_or_none(Session.id == uuid.UUID(str(session_id)))
        if session is None or not session.on_air:
            return  # an ended show already holds its final totals
        self.live_state.seed(str(session_id), self._persisted_totals(session))
        totals = self.live_state.totals(str(session_id))
        with database.atomic():
            self._persist_totals(session.id, totals, only_on_air=True)

    @staticmethod
    def _persist_totals(session_id: uuid.UUID, totals: LiveTotals, *, only_on_air: bool = False) -> None:
        query = Session.update(
            reaction_counts=totals.reactions,
            peak_viewers=totals.peak_viewers,
            unique_clickers=totals.unique_clickers,
        ).where(Session.id == session_id)
        if only_on_air:
            # A session ended meanwhile already holds its final totals.
            query = query.where(Session.status.in_(SessionStatus.ON_AIR))
        if not query.execute() or not totals.clicks:
            return
        clicked = [uuid.UUID(pid) for pid in totals.clicks]
        existing = {pid for (pid,) in Product.select(Product.id).where(Product.id.in_(clicked)).tuples()}
        at = now()
        rows = [
            {
                "session": session_id,
                "product": pid,
                "total_clicks": totals.clicks[str(pid)][0],
                "unique_clicks": totals.clicks[str(pid)][1],
                "updated_at": at,
            }
            for pid in clicked
            if pid in existing
        ]
        if rows:
            (
                ProductClickStat.insert_many(rows)
                .on_conflict(
                    conflict_target=[ProductClickStat.session, ProductClickStat.product],
                    preserve=[
                        ProductClickStat.total_clicks,
                        ProductClickStat.unique_clicks,
                        ProductClickStat.updated_at,
                    ],
                )
                .execute()
            )

    @staticmethod
    def _close_open_views(session_id: uuid.UUID, at) -> None:
        watched = whole_seconds_between(SessionView.joined_at, pw.Value(at))
        (
            SessionView.update(left_at=at, watch_seconds=watched)
            .where((SessionView.session == session_id) & SessionView.left_at.is_null())
            .execute()
        )

    @staticmethod
    def _persisted_totals(session: Session) -> LiveTotals:
        clicks = {
            str(pid): (total, unique)
            for pid, total, unique in ProductClickStat.select(
                ProductClickStat.product, ProductClickStat.total_clicks, ProductClickStat.unique_clicks
            )
            .where(ProductClickStat.session == session.id)
            .tuples()
        }
        # Distinct signed-in viewers other than the creator, plus distinct anonymous connections.
        unique_viewers = (
            SessionView.select(pw.fn.COUNT(SessionView.viewer_key.distinct()))
            .where(
                (SessionView.session == session.id)
                & (SessionView.user.is_null() | (SessionView.user != session.creator_id))
            )
            .scalar()
        )
        return LiveTotals(
            reactions=dict(session.reaction_counts or {}),
            clicks=clicks,
            unique_clickers=session.unique_clickers,
            unique_viewers=unique_viewers or 0,
            peak_viewers=session.peak_viewers,
        )

    def reaction_counts(self, session_id: uuid.UUID) -> tuple[Session, dict[str, int]]:
        """Live counts while on air, the persisted ones otherwise."""
        session = self.get(session_id)
        if session.on_air:
            return session, self.live_state.reaction_counts(str(session.id))
        return session, dict(session.reaction_counts or {})

    def conversion_stats(self, session_id: uuid.UUID) -> tuple[Session, dict]:
        """`{totalViewers, products[{productId, productName, uniqueClicks, totalClicks, clickThroughRate}]}`:
        the session's products in display order, then any other clicked product; live while on air."""
        session = self.get(session_id)
        totals = (
            self.live_state.totals(str(session.id)) if session.on_air else self._persisted_totals(session)
        )
        names = {
            str(link.product_id): link.product.name
            for link in session_products_of([session.id]).get(session.id, [])
        }
        others = [uuid.UUID(pid) for pid in totals.clicks if pid not in names]
        if others:
            names.update(
                (str(pid), name)
                for pid, name in Product.select(Product.id, Product.name)
                .where(Product.id.in_(others))
                .order_by(Product.name)
                .tuples()
            )
        viewers = totals.unique_viewers
        products = []
        for pid, name in names.items():
            total_clicks, unique_clicks = totals.clicks.get(pid, (0, 0))
            products.append(
                {
                    "productId": pid,
                    "productName": name,
                    "uniqueClicks": unique_clicks,
                    "totalClicks": total_clicks,
                    "clickThroughRate": round(unique_clicks * 100.0 / viewers, 2) if viewers else 0.0,
                }
            )
        return session, {"totalViewers": viewers, "products": products}

    # showcase ----------------------------------------------------------------
    def showcase(self, actor: User, session_id: uuid.UUID, product_id: uuid.UUID | None) -> dict:
        """Put one of the session's products on screen (or clear it); broadcast to the room."""
        session = self.owned(session_id, actor)
        if not session.on_air:
            raise Conflict(
                "Products can be showcased only while the session is live or paused",
                code="session_not_live",
                currentStatus=session.status,
            )
        product = None
        if product_id is not None:
            product = (
                Product.select()
                .join(SessionProduct)
                .where((SessionProduct.session == session.id) & (Product.id == product_id))
                .get_or_none()
            )
            if product is None:
                raise Invalid(
                    "Invalid body: productId is not a product of this session",
                    details={"productId": "is not a product of this session"},
                )
        with database.atomic():
            shown = (
                Session.update(active_product=product_id, updated_at=now())
                .where((Session.id == session.id) & Session.status.in_(SessionStatus.ON_AIR))
                .execute()
            )
            if not shown:
                raise Conflict(
                    "The session is no longer live",
                    code="session_not_live",
                    currentStatus=Session.select(Session.status).where(Session.id == session.id).scalar(),
                )
            shape = product_view(product) if product is not None else None
            event = (
                events.product_showcased(session.id, shape)
                if product is not None
                else events.showcase_cleared(session.id)
            )
            self.publisher.publish(session.id, event)
        return {
            "sessionId": str(session.id),
            "activeProductId": shape["id"] if shape else None,
            "product": shape,
        }

    # stream tokens -----------------------------------------------------------
    def stream_token(self, actor: User | None, session_id: uuid.UUID) -> dict:
        """A subscriber token for anyone (uid 0 when anonymous) while the session is on air."""
        return self.refresh_token(actor, session_id, SUBSCRIBER)

    def refresh_token(self, actor: User | None, session_id: uuid.UUID, role: str) -> dict:
        session = self.get(session_id)
        if role == PUBLISHER:
            if actor is None:
                raise Unauthorized("Authentication required for a publisher token")
            if session.creator_id != actor.id and not actor.is_admin:
                raise Forbidden("Only the session's creator gets a publisher token")
        if not session.on_air:
            raise Conflict("The session is not live", code="session_not_live", currentStatus=session.status)
        return self._token(session, actor.id if actor is not None else 0, role)

    def _token(self, session: Session, uid: int, role: str) -> dict:
        return {"sessionId": str(session.id), **self.agora.issue(str(session.id), uid, role)}
