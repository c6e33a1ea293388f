"""Accounts and tokens: registration, login, access JWTs, rotating refresh tokens.

Refresh tokens are random strings stored only as SHA-256 hashes. Each login
starts a token family; every refresh revokes the presented token and issues
the next one in the family. Presenting a token that was already rotated means
it leaked: the whole family is revoked.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import timedelta
from functools import cached_property

import bcrypt
import jwt
import peewee as pw

from bazaar.domain.clock import now
from bazaar.domain.errors import Conflict, Invalid, RateLimited, Unauthorized
from bazaar.domain.inputs import PASSWORD_MAX_BYTES
from bazaar.domain.models import RefreshToken, Role, User
from bazaar.infra.db import database
from bazaar.infra.rows import PreparedSelect
from bazaar.live.state import LiveState
from config import Settings

_ALGORITHM = "HS256"
_USER_ID = re.compile(r"[1-9][0-9]{0,9}")  # ASCII digits ("١".isdigit() too), within an integer column
_MAX_USER_ID = 2**31 - 1


# Every authenticated request reads its user by id.
_USER_BY_ID = PreparedSelect(lambda uid: User.select().where(User.id == uid), User.id)


def user_gone() -> Unauthorized:
    """The answer to a valid access token whose user was deleted."""
    return Unauthorized("User no longer exists", code="invalid_token")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthService:
    def __init__(self, settings: Settings, live_state: LiveState):
        self.settings = settings
        self.live_state = live_state

    # passwords -------------------------------------------------------------
    def hash_password(self, password: str) -> str:
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.settings.bcrypt_rounds)).decode()

    @cached_property
    def _stand_in_hash(self) -> str:
        """Checked against when the login names no account, at the cost of real hashes: a cheaper one
        would let response times tell which accounts exist."""
        return self.hash_password(secrets.token_urlsafe(16))

    @staticmethod
    def password_matches(password: str, password_hash: str) -> bool:
        secret = password.encode()
        # bcrypt refuses inputs over 72 bytes; no stored password is that long (validation refuses them).
        if len(secret) > PASSWORD_MAX_BYTES:
            return False
        return bcrypt.checkpw(secret, password_hash.encode())

    # accounts --------------------------------------------------------------
    def create_user(self, *, username: str, email: str, password: str, role: str = Role.VIEWER) -> User:
        taken = self.taken_fields(username=username, email=email)
        if taken:
            raise Conflict(
                f"{taken[0].capitalize()} is already taken",
                code="already_exists",
                details={name: "is already taken" for name in taken},
            )
        try:
            with database.atomic():
                return User.create(
                    username=username,
                    email=email.lower(),
                    password_hash=self.hash_password(password),
                    role=role,
                )
        except pw.IntegrityError:  # lost a race with a concurrent registration
            raise Conflict("Username or email is already taken", code="already_exists") from None

    @staticmethod
    def taken_fields(
        *, username: str | None = None, email: str | None = None, exclude_id: int | None = None
    ) -> list:
        clauses = []
        if username is not None:
            clauses.append(pw.fn.lower(User.username) == username.lower())
        if email is not None:
            clauses.append(pw.fn.lower(User.email) == email.lower())
        if not clauses:
            return []
        query = User.select(User.username, User.email).where(pw.reduce(lambda a, b: a | b, clauses))
        if exclude_id is not None:
            query = query.where(User.id != exclude_id)
        taken = []
        for other in query:
            if username is not None and other.username.lower() == username.lower():
                taken.append("username")
            if email is not None and other.email.lower() == email.lower():
                taken.append("email")
        return sorted(set(taken), key=["username", "email"].index)

    def register(
        self, *, username: str, email: str, password: str, role: str = Role.VIEWER
    ) -> tuple[User, dict]:
        if role not in Role.SELF_REGISTRABLE:
            raise Invalid("role must be viewer or creator", details={"role": "must be viewer or creator"})
        user = self.create_user(username=username, email=email, password=password, role=role)
        return user, self.issue_tokens(user)

    def login(self, *, login: str, password: str, client: str = "") -> tuple[User, dict]:
        """`client` (the caller's address) scopes the attempt limit that slows password guessing."""
        ident = login.strip().lower()
        user = User.get_or_none((pw.fn.lower(User.username) == ident) | (pw.fn.lower(User.email) == ident))
        # An account's username and email share one bucket.
        bucket = f"login:{client}:" + (f"user:{user.id}" if user else ident)
        wait_s = self.live_state.hit(
            bucket, self.settings.login_rate_count, self.settings.login_rate_window_s
        )
        if wait_s:
            raise RateLimited("Too many login attempts, try again later", retry_after_s=wait_s)
        if (
            not self.password_matches(password, user.password_hash if user else self._stand_in_hash)
            or user is None
        ):
            raise Unauthorized("Invalid username or password", code="invalid_credentials")
        return user, self.issue_tokens(user)

    def change_password(self, user: User, *, password: str, current_password: str | None) -> None:
        if not current_password:
            raise Invalid(
                "currentPassword is required to change the password",
                details={"currentPassword": "is required to change the password"},
            )
        if not self.password_matches(current_password, user.password_hash):
            # A 400, not a 401: the caller is signed in, and a 401 would make a front end log them out.
            raise Invalid("currentPassword is incorrect", details={"currentPassword": "is incorrect"})
        user.password_hash = self.hash_password(password)
        self.revoke_all(user.id)

    # tokens ----------------------------------------------------------------
    def access_token(self, user: User) -> str:
        moment = now()
        claims = {
            "sub": str(user.id),
            "role": user.role,
            "type": "access",
            "iat": moment,
            "exp": moment + timedelta(seconds=self.settings.jwt_expires_in_s),
        }
        return jwt.encode(claims, self.settings.jwt_secret, algorithm=_ALGORITHM)

    def issue_tokens(self, user: User, family_id: uuid.UUID | None = None) -> dict:
        refresh = secrets.token_urlsafe(48)
        RefreshToken.create(
            user=user,
            token_hash=_token_hash(refresh),
            family_id=family_id or uuid.uuid4(),
            expires_at=now() + timedelta(seconds=self.settings.refresh_expires_in_s),
        )
        access = self.access_token(user)
        return {"accessToken": access, "token": access, "refreshToken": refresh}

    def refresh(self, refresh_token: str) -> tuple[User, dict]:
        """The token's user and the next pair of its family."""
        row = (
            RefreshToken.select(RefreshToken, User)
            .join(User)
            .where(RefreshToken.token_hash == _token_hash(refresh_token))
            .first()
        )
        if row is None:
            raise Unauthorized("Invalid refresh token", code="invalid_token")
        if row.revoked_at is None and row.expires_at <= now():
            raise Unauthorized("Refresh token expired", code="token_expired")
        if row.revoked_at is None:
            with database.atomic():
                # Conditional update: of two concurrent refreshes with the same token, one wins.
                claimed = (
                    RefreshToken.update(revoked_at=now())
                    .where((RefreshToken.id == row.id) & RefreshToken.revoked_at.is_null())
                    .execute()
                )
                if claimed:
                    return row.user, self.issue_tokens(row.user, family_id=row.family_id)
        # A revoked token came back: it leaked, or the login ended. Revoke the family outside any
        # transaction that the error below would roll back.
        self.revoke_family(row.family_id)
        raise Unauthorized(
            "Refresh token is no longer valid (already used or revoked); sign in again", code="token_revoked"
        )

    @staticmethod
    def revoke_family(family_id) -> None:
        RefreshToken.update(revoked_at=now()).where(
            (RefreshToken.family_id == family_id) & RefreshToken.revoked_at.is_null()
        ).execute()

    @staticmethod
    def revoke_all(user_id: int) -> None:
        RefreshToken.update(revoked_at=now()).where(
            (RefreshToken.user == user_id) & RefreshToken.revoked_at.is_null()
        ).execute()

    def logout(self, user: User, refresh_token: str | None) -> None:
        """Revoke the family of the given refresh token, or every refresh token of the user."""
        if refresh_token:
            row = RefreshToken.get_or_none(
                (RefreshToken.token_hash == _token_hash(refresh_token)) & (RefreshToken.user == user.id)
            )
            if row is not None:
                self.revoke_family(row.family_id)
                return
        self.revoke_all(user.id)

    def authenticate(self, token: str) -> User:
        """The user an access token names; Unauthorized when invalid, expired or the user is gone."""
        user = _USER_BY_ID.first(self.subject(token))
        if user is None:
            raise user_gone()
        return user

    def subject(self, token: str) -> int:
        """The id of the user an access token names, without reading their row (whoever reads it next
        answers `user_gone` when there is none); Unauthorized when invalid or expired."""
        try:
            claims = jwt.decode(
                token, self.settings.jwt_secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Access token expired", code="token_expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("Invalid access token", code="invalid_token") from None
        subject = claims["sub"]
        if (
            claims.get("type") != "access"
            or not isinstance(subject, str)
            or not _USER_ID.fullmatch(subject)
            or int(subject) > _MAX_USER_ID
        ):
            raise Unauthorized("Invalid access token", code="invalid_token")
        return int(subject)
