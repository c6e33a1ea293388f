"""Public shapes of rows (camelCase), shared by REST responses and real-time events."""
from __future__ import annotations

from bazaar.clock import iso
from bazaar.models import ChatMessage, Product, User, money


def user_view(user: User, *, with_email: bool = False) -> dict:
    data = {"id": user.id, "username": user.username, "role": user.role,
            "createdAt": iso(user.created_at), "updatedAt": iso(user.updated_at)}
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
