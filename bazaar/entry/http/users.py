"""/api/users: public listing and profiles, admin creation, self-or-admin update and delete."""

from __future__ import annotations

import falcon

from bazaar.domain.models import Role
from bazaar.domain.validation import Choice, Email, Password, Str, Username, page_schema
from bazaar.domain.views import user_view_for
from bazaar.entry.http.common import (
    body,
    current_user,
    ok,
    optional_user,
    query,
    require_role,
    require_user,
)
from bazaar.services.users import UserService

CREATE = {
    "username": Username(required=True),
    "email": Email(required=True),
    "password": Password(required=True),
    "role": Choice(Role.ALL, default=Role.VIEWER),
}
UPDATE = {
    "username": Username(),
    "email": Email(),
    "password": Password(),
    "role": Choice(Role.ALL),
    "currentPassword": Str(min_len=1, max_len=1024, strip=False, attr="current_password"),
}


class Users:
    def __init__(self, users: UserService):
        self.users = users

    @falcon.before(optional_user)
    def on_get(self, req, resp):
        page = query(req, page_schema())
        viewer = req.context.user
        resp.media = ok(
            [user_view_for(u, viewer) for u in self.users.list(page["limit"], page["offset"])], count=True
        )

    @falcon.before(require_role(Role.ADMIN))
    def on_post(self, req, resp):
        user = self.users.create(req.context.user, **body(req, CREATE))
        resp.status = falcon.HTTP_201
        resp.media = ok(user_view_for(user, req.context.user), message="User created")


class UserItem:
    def __init__(self, users: UserService):
        self.users = users

    @falcon.before(optional_user)
    def on_get(self, req, resp, user_id: int):
        resp.media = ok(user_view_for(self.users.get(user_id), req.context.user))

    @falcon.before(require_user)
    def on_put(self, req, resp, user_id: int):
        actor = current_user(req, required=True)
        user = self.users.update(actor, user_id, body(req, UPDATE, partial=True))
        resp.media = ok(user_view_for(user, actor), message="User updated")

    @falcon.before(require_user)
    def on_delete(self, req, resp, user_id: int):
        self.users.delete(req.context.user, user_id)
        resp.status = falcon.HTTP_204
