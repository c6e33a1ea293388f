"""Users: listing, reading, admin creation, updates with the role rules, deletion."""

from __future__ import annotations

from bazaar.domain.clock import now
from bazaar.domain.errors import Conflict, Forbidden, NotFound
from bazaar.domain.models import Product, Role, Session, User
from bazaar.infra import search_outbox as outbox
from bazaar.infra.db import database
from bazaar.services.auth import AuthService
from bazaar.services.commands import SelfUpdate


def admit_seller(actor: User, *, open_selling: bool, what: str) -> None:
    """Let `actor` create `what` (products, sessions), inside the creating transaction. With SELLERS=open
    any account may sell and a viewer becomes a creator (the front end registers without a role, then opens
    the creator pages); with SELLERS=approved only creators and admins may."""
    if actor.can_sell:
        return
    if not open_selling:
        raise Forbidden(f"Only creators can create {what}")
    if actor.role == Role.VIEWER:
        User.update(role=Role.CREATOR, updated_at=now()).where(
            (User.id == actor.id) & (User.role == Role.VIEWER)
        ).execute()
        actor.role = Role.CREATOR


class UserService:
    def __init__(self, auth: AuthService):
        self.auth = auth

    @staticmethod
    def get(user_id: int) -> User:
        user = User.get_or_none(User.id == user_id)
        if user is None:
            raise NotFound("User not found")
        return user

    @staticmethod
    def list(limit: int, offset: int) -> list[User]:
        return list(User.select().order_by(User.id).limit(limit).offset(offset))

    def create(
        self, actor: User, *, username: str, email: str, password: str, role: str = Role.VIEWER
    ) -> User:
        if not actor.is_admin:
            raise Forbidden("Only an admin can create users")
        return self.auth.create_user(username=username, email=email, password=password, role=role)

    def update(self, actor: User, user_id: int, update: SelfUpdate) -> User:
        """Self or admin; only an admin changes a role; a password change needs currentPassword
        (except an admin resetting someone else's) and revokes that user's refresh tokens."""
        changes = update.written()
        user = self.get(user_id)
        if actor.id != user.id and not actor.is_admin:
            raise Forbidden("You can only update your own account")
        if "role" in changes and changes["role"] != user.role and not actor.is_admin:
            raise Forbidden("Only an admin can change a role")
        taken = self.auth.taken_fields(
            username=changes.get("username"), email=changes.get("email"), exclude_id=user.id
        )
        if taken:
            raise Conflict(
                f"{taken[0].capitalize()} is already taken",
                code="already_exists",
                details={name: "is already taken" for name in taken},
            )
        with database.atomic():
            if "password" in changes:
                if actor.id == user.id:
                    self.auth.change_password(
                        user, password=changes["password"], current_password=changes.get("current_password")
                    )
                else:
                    user.password_hash = self.auth.hash_password(changes["password"])
                    self.auth.revoke_all(user.id)
            for name in ("username", "email", "role"):
                if name in changes:
                    setattr(user, name, changes[name])
            user.updated_at = now()
            user.save()
            if "username" in changes:
                self._record_creator_rename(user)
        return user

    @staticmethod
    def _record_creator_rename(user: User) -> None:
        # Session search documents carry the creator's name.
        outbox.record_session(*[s.id for s in Session.select(Session.id).where(Session.creator == user.id)])

    def delete(self, actor: User, user_id: int) -> None:
        user = self.get(user_id)
        if actor.id != user.id and not actor.is_admin:
            raise Forbidden("You can only delete your own account")
        with database.atomic():
            outbox.record_session(
                *[s.id for s in Session.select(Session.id).where(Session.creator == user.id)]
            )
            outbox.record_product(
                *[p.id for p in Product.select(Product.id).where(Product.seller == user.id)]
            )
            user.delete_instance()
