"""Public shapes of rows (camelCase), shared by REST responses and real-time events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bazaar.domain.clock import iso
from bazaar.domain.models import (
    ChatMessage,
    Order,
    Product,
    Session,
    SessionProduct,
    User,
    money,
)

if TYPE_CHECKING:
    from bazaar.live.state import OnAirCounts


def user_view(user: User, *, with_email: bool = False) -> dict:
    data = {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at),
    }
    if with_email:
        data["email"] = user.email
    return data


def user_view_for(user: User, viewer: User | None) -> dict:
    """`email` only for the user themself and admins."""
    return user_view(user, with_email=viewer is not None and (viewer.id == user.id or viewer.is_admin))


def product_view(product: Product) -> dict:
    return {
        "id": str(product.id),
        "name": product.name,
        "description": product.description,
        "price": money(product.price),
        "originalPrice": money(product.original_price),
        "category": product.category,
        "inStock": product.in_stock,
        "stockQuantity": product.stock_quantity,
        "imageUrl": product.image_url,
        "sellerId": product.seller_id,
        "createdAt": iso(product.created_at),
        "updatedAt": iso(product.updated_at),
    }


def message_view(message: ChatMessage, username: str) -> dict:
    return {
        "id": str(message.id),
        "sessionId": str(message.session_id),
        "userId": message.user_id,
        "username": username,
        "userName": username,
        "message": message.message,
        "createdAt": iso(message.created_at),
    }


def session_product_view(link: SessionProduct) -> dict:
    """`link.product` must come joined."""
    return {
        "id": str(link.id),
        "sessionId": str(link.session_id),
        "productId": str(link.product_id),
        "product": product_view(link.product),
        "featured": link.featured,
        "displayOrder": link.display_order,
        "createdAt": iso(link.created_at),
    }


def listed_product_view(link: SessionProduct) -> dict:
    """A session's product as the watch page reads it: the product itself (`id` is the product's) with
    its place in the session. `link.product` must come joined."""
    return {**product_view(link.product), "featured": link.featured, "displayOrder": link.display_order}


def _session_summary(session: Session) -> dict:
    return {
        "id": str(session.id),
        "title": session.title,
        "description": session.description,
        "category": session.category,
        "tags": session.tags or [],
        "status": session.status,
        "startedAt": iso(session.started_at),
        "agoraChannelName": session.agora_channel_name,
    }


def session_view(
    session: Session,
    *,
    products: list[SessionProduct] | None = None,
    live: OnAirCounts | None = None,
    with_stream_key: bool = False,
) -> dict:
    """`session.creator` and `session.active_product` must come joined. While the session is on air the
    caller passes its `live` counts (or shows them later, `with_live_counts`); otherwise the persisted
    reaction counts show."""
    data = {
        **_session_summary(session),
        "streamUrl": session.stream_url,
        "scheduledAt": iso(session.scheduled_at),
        "endedAt": iso(session.ended_at),
        "creatorId": session.creator_id,
        "creator": {"id": session.creator.id, "username": session.creator.username},
        "activeProductId": str(session.active_product_id) if session.active_product_id else None,
        "activeProduct": product_view(session.active_product) if session.active_product_id else None,
        "reactionCounts": session.reaction_counts or {},
        "createdAt": iso(session.created_at),
        "updatedAt": iso(session.updated_at),
    }
    if session.on_air:
        data["viewerCount"] = 0
    if live is not None:
        _show_live_counts(data, live)
    if with_stream_key:
        data["streamKey"] = session.stream_key
    if products is not None:
        data["products"] = [listed_product_view(link) for link in products]
    return data


def with_live_counts(view: dict, live: OnAirCounts) -> dict:
    """A copy of a session's view (`session_view` without `live`) showing its `live` counts."""
    return _show_live_counts(dict(view), live)


def _show_live_counts(data: dict, live: OnAirCounts) -> dict:
    data["reactionCounts"] = live.reactions
    if "viewerCount" in data:  # on air
        data["viewerCount"] = live.viewers
    return data


def live_creator_view(session: Session, viewer: User | None) -> dict:
    """A creator on air (`session.creator` joined) with the session they are live in."""
    return {**user_view_for(session.creator, viewer), "liveSession": _session_summary(session)}


def drop_view(link: SessionProduct) -> dict:
    """The drop of a session product (a closed or never-opened drop shows 0 units)."""
    return {
        "productId": str(link.product_id),
        "dropQuantity": link.drop_quantity or 0,
        "remaining": link.drop_remaining or 0,
        "dropPrice": money(link.drop_price),
        "limitPerBuyer": link.limit_per_buyer,
        "startsAt": iso(link.drop_starts_at),
        "endsAt": iso(link.drop_ends_at),
    }


def order_view(order: Order) -> dict:
    """`order.product` must come joined."""
    return {
        "id": str(order.id),
        "sessionId": str(order.session_id),
        "productId": str(order.product_id),
        "product": {
            "id": str(order.product.id),
            "name": order.product.name,
            "imageUrl": order.product.image_url,
        },
        "buyerId": order.buyer_id,
        "sellerId": order.seller_id,
        "quantity": order.quantity,
        "unitPrice": money(order.unit_price),
        "total": money(order.total),
        "currency": order.currency,
        "status": order.status,
        "reservedUntil": iso(order.reserved_until),
        "paidAt": iso(order.paid_at),
        "fulfilledAt": iso(order.fulfilled_at),
        "cancelledAt": iso(order.cancelled_at),
        "expiredAt": iso(order.expired_at),
        "refundedAt": iso(order.refunded_at),
        "paymentProvider": order.payment_provider,
        "paymentReference": order.payment_reference,
        "trackingNumber": order.tracking_number,
        "createdAt": iso(order.created_at),
        "updatedAt": iso(order.updated_at),
    }


def session_webhook_view(session: Session) -> dict:
    """The data of the session.started / session.ended outgoing webhooks."""
    return {
        "sessionId": str(session.id),
        "title": session.title,
        "status": session.status,
        "creatorId": session.creator_id,
        "startedAt": iso(session.started_at),
        "endedAt": iso(session.ended_at),
    }
