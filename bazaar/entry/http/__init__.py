"""The whole REST API on one screen: every route, its resource, its responder suffix."""

from __future__ import annotations

from typing import NamedTuple

from bazaar.entry.http import (
    analytics,
    auth,
    chat,
    ops,
    orders,
    payments,
    products,
    search,
    sessions,
    users,
)
from bazaar.infra.search.query import SessionSearch


class Route(NamedTuple):
    uri: str
    resource: object
    suffix: str | None = None


def route_table(s) -> list[Route]:
    """`s` is the `bazaar.app.Services` bundle."""
    user_item = users.UserItem(s.users)
    session_stream = sessions.SessionStream(s.sessions)
    stream_tokens = sessions.StreamTokens(s.sessions)
    session_product = sessions.SessionProductItem(s.session_products)
    order_item = orders.OrderItem(s.orders)
    routes: list[Route] = []
    routes += [
        Route("/health", ops.Health()),
        Route("/ready", ops.Ready(s.readiness_checks)),
        Route("/api/openapi.json", ops.OpenApi(routes)),  # read on its first request: the whole table
        # auth
        Route("/api/auth/register", auth.Register(s.auth)),
        Route("/api/auth/login", auth.Login(s.auth)),
        Route("/api/auth/refresh-token", auth.RefreshTokenResource(s.auth)),
        Route("/api/auth/logout", auth.Logout(s.auth)),
        Route("/api/auth/me", auth.Me()),
        Route("/api/auth/currentUser", auth.Me()),
        Route("/api/auth/update", auth.UpdateSelf(s.users)),
        # users
        Route("/api/users", users.Users(s.users)),
        Route("/api/users/{user_id:int(min=1, max=2147483647)}", user_item),  # INTEGER keys: no overflow
        # products
        Route("/api/products", products.Products(s.products)),
        Route("/api/products/categories", products.ProductCategories(s.products)),
        Route("/api/products/in-stock", products.ProductsInStock(s.products)),
        Route("/api/products/category/{category}", products.ProductsInCategory(s.products)),
        Route("/api/products/{product_id:uuid}", products.ProductItem(s.products)),
        # sessions, session products, showcase, stream tokens (issue 3)
        Route("/api/users/live", sessions.LiveCreators(s.sessions)),
        Route("/api/sessions", sessions.Sessions(s.sessions)),
        Route("/api/sessions/{session_id:uuid}", sessions.SessionItem(s.sessions)),
        Route("/api/sessions/{session_id:uuid}/status", sessions.SessionStatusResource(s.sessions)),
        Route("/api/sessions/{session_id:uuid}/start-stream", session_stream, suffix="start"),
        Route("/api/sessions/{session_id:uuid}/end-stream", session_stream, suffix="end"),
        Route("/api/sessions/{session_id:uuid}/stream-token", stream_tokens),
        Route("/api/sessions/{session_id:uuid}/refresh-token", stream_tokens, suffix="refresh"),
        Route("/api/sessions/{session_id:uuid}/reactions", sessions.Reactions(s.sessions)),
        Route("/api/sessions/{session_id:uuid}/conversion-stats", sessions.ConversionStats(s.sessions)),
        Route("/api/sessions/{session_id:uuid}/showcase", sessions.Showcase(s.sessions)),
        Route("/api/sessions/{session_id:uuid}/products", sessions.SessionProducts(s.session_products)),
        Route("/api/sessions/{session_id:uuid}/products/{product_id:uuid}", session_product),
        Route(
            "/api/sessions/{session_id:uuid}/products/{product_id:uuid}/feature",
            session_product,
            suffix="feature",
        ),
        Route(
            "/api/sessions/{session_id:uuid}/products/{product_id:uuid}/order",
            session_product,
            suffix="order",
        ),
        # selling: drops, orders, payments (issue 13)
        Route("/api/sessions/{session_id:uuid}/products/{product_id:uuid}/drop", orders.Drop(s.drops)),
        Route("/api/sessions/{session_id:uuid}/orders", orders.SessionOrders(s.orders)),
        Route("/api/orders", orders.Orders(s.orders)),
        Route("/api/orders/{order_id:uuid}", order_item),
        Route("/api/orders/{order_id:uuid}/cancel", order_item, suffix="cancel"),
        Route("/api/orders/{order_id:uuid}/mark-paid", order_item, suffix="paid"),
        Route("/api/orders/{order_id:uuid}/fulfil", order_item, suffix="fulfil"),
        Route("/api/orders/{order_id:uuid}/refund", order_item, suffix="refund"),
        Route("/api/payments/webhook/{provider}", payments.PaymentWebhook(s.payments)),
        # chat (issue 3)
        Route("/api/sessions/{session_id:uuid}/chat", chat.ChatMessages(s.chat)),
        Route("/api/sessions/{session_id:uuid}/chat/count", chat.ChatCount(s.chat)),
        Route("/api/sessions/{session_id:uuid}/chat/{message_id:uuid}", chat.ChatMessageItem(s.chat)),
        # analytics (issue 3)
        Route("/api/sessions/{session_id:uuid}/analytics", analytics.SessionAnalytics(s.analytics)),
        Route(
            "/api/sessions/{session_id:uuid}/analytics/live",
            analytics.SessionAnalytics(s.analytics),
            suffix="live",
        ),
        Route(
            "/api/sessions/{session_id:uuid}/analytics/viewers",
            analytics.SessionAnalytics(s.analytics),
            suffix="viewers",
        ),
        Route(
            "/api/analytics/creator/{creator_id:int(min=1, max=2147483647)}",
            analytics.CreatorAnalytics(s.analytics),
        ),
        # search (issue 3)
        Route("/api/search", search.SearchEverything(s.search)),
        Route("/api/search/sessions", search.SearchSessions(s.search)),
        Route("/api/search/sessions/live", search.SessionList(s.search, SessionSearch.live)),
        Route("/api/search/sessions/upcoming", search.SessionList(s.search, SessionSearch.upcoming)),
        Route("/api/search/sessions/trending", search.SessionList(s.search, SessionSearch.trending)),
        Route(
            "/api/search/sessions/creator/{creator_id:int(min=1, max=2147483647)}",
            search.SessionList(s.search, SessionSearch.by_creator),
        ),
        Route("/api/search/products", search.SearchProducts(s.search)),
    ]
    return routes
