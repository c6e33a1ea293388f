"""Every server → client event, defined once: its name and its payload builder.

Services call these builders and hand the result to `Publisher.publish`; nothing
else spells an event payload. `encode` turns an event into the one text frame
that every member of a room receives.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from bazaar.domain.clock import iso, now

REACTION_TYPES = ("like", "love", "fire", "clap", "heart", "wow")


def encode(event: str, data: dict) -> str:
    return json.dumps({"event": event, "data": data}, separators=(",", ":"), ensure_ascii=False)


def _sid(session_id) -> str:
    return str(session_id)


def new_message(message: dict) -> tuple[str, dict]:
    return "new-message", message


def message_deleted(session_id, message_id) -> tuple[str, dict]:
    return "message-deleted", {"sessionId": _sid(session_id), "messageId": str(message_id)}


def new_reaction(session_id, reaction_type: str, user_id: int | None) -> tuple[str, dict]:
    data = {"sessionId": _sid(session_id), "type": reaction_type, "timestamp": iso(now())}
    if user_id is not None:
        data["userId"] = user_id
    return "new-reaction", data


def reaction_summary(counts: dict[str, int]) -> dict:
    """counts, percentages (two decimals) and total — shared by the event and GET …/reactions."""
    total = sum(counts.values())
    percentages = {t: round(n * 100.0 / total, 2) if total else 0.0 for t, n in counts.items()}
    return {"counts": dict(counts), "percentages": percentages, "total": total}


def reaction_stats(session_id, counts: dict[str, int]) -> tuple[str, dict]:
    return "reaction-stats", {"sessionId": _sid(session_id), **reaction_summary(counts)}


def viewer_count(session_id, count: int) -> tuple[str, dict]:
    return "viewer-count", {"sessionId": _sid(session_id), "count": count}


def stream_started(session) -> tuple[str, dict]:
    return "stream-started", {
        "sessionId": _sid(session.id),
        "channelName": session.agora_channel_name,
        "status": "live",
        "startedAt": iso(session.started_at),
    }


def stream_ended(session) -> tuple[str, dict]:
    return "stream-ended", {
        "sessionId": _sid(session.id),
        "status": "ended",
        "endedAt": iso(session.ended_at),
    }


def session_status(session) -> tuple[str, dict]:
    return "session-status", {"sessionId": _sid(session.id), "status": session.status}


def product_showcased(session_id, product: dict) -> tuple[str, dict]:
    return "product-showcased", {
        "sessionId": _sid(session_id),
        "productId": product["id"],
        "product": product,
    }


def showcase_cleared(session_id) -> tuple[str, dict]:
    return "showcase-cleared", {"sessionId": _sid(session_id)}


def product_click_stats(session_id, total_viewers: int, product_stats: list[dict]) -> tuple[str, dict]:
    """`product_stats`: [{productId, productName, uniqueClicks, totalClicks, clickThroughRate}]."""
    return "product-click-stats", {
        "sessionId": _sid(session_id),
        "totalViewers": total_viewers,
        "productStats": product_stats,
        "timestamp": iso(now()),
    }


def trending_products(
    session_id, total_viewers: int, product_stats: Iterable[dict], top: int = 5
) -> tuple[str, dict]:
    ranked = sorted(product_stats, key=lambda s: (-s["totalClicks"], s["productName"]))[:top]
    products = [
        {
            "productId": s["productId"],
            "productName": s["productName"],
            "clickCount": s["totalClicks"],
            "rank": rank,
        }
        for rank, s in enumerate(ranked, start=1)
    ]
    return "trending-products", {
        "sessionId": _sid(session_id),
        "products": products,
        "totalViewers": total_viewers,
        "timestamp": iso(now()),
    }


def pong() -> tuple[str, dict]:
    return "pong", {"timestamp": iso(now())}


def error(message: str, code: str) -> tuple[str, dict]:
    return "error", {"message": message, "code": code}


# selling during the show (SPEC §11) --------------------------------------------------------------
def drop_updated(session_id, product_id, drop: dict) -> tuple[str, dict]:
    """`drop`: the drop view (`bazaar.domain.views.drop_view`)."""
    return "drop-updated", {
        "sessionId": _sid(session_id),
        "productId": str(product_id),
        "remaining": drop["remaining"],
        "dropQuantity": drop["dropQuantity"],
        "dropPrice": drop["dropPrice"],
    }


def stock_update(session_id, product_id, remaining: int) -> tuple[str, dict]:
    return "stock-update", {
        "sessionId": _sid(session_id),
        "productId": str(product_id),
        "remaining": remaining,
    }


def sold_out(session_id, product_id) -> tuple[str, dict]:
    return "sold-out", {"sessionId": _sid(session_id), "productId": str(product_id)}


def masked_name(username: str) -> str:
    """Social proof without an identity: the first letter, then one asterisk per other character."""
    return username[:1] + "*" * (len(username) - 1)


def order_placed(session_id, product_id, quantity: int, buyer_username: str) -> tuple[str, dict]:
    return "order-placed", {
        "sessionId": _sid(session_id),
        "productId": str(product_id),
        "quantity": quantity,
        "buyerName": masked_name(buyer_username),
    }


def sales_stats(session_id, orders: int, units_sold: int, revenue: float) -> tuple[str, dict]:
    """To the show's owner only."""
    return "sales-stats", {
        "sessionId": _sid(session_id),
        "orders": orders,
        "unitsSold": units_sold,
        "revenue": revenue,
    }


OWNER_ROOM_SUFFIX = ":owner"


def owner_room(session_id) -> str:
    """The room of a show's owner alone: their connections join it beside the show's room (`sales-stats`)."""
    return f"{_sid(session_id)}{OWNER_ROOM_SUFFIX}"


def is_owner_room(room: str) -> bool:
    return room.endswith(OWNER_ROOM_SUFFIX)
