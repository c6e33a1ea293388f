"""/api/users: public listing and profiles, admin creation, self-or-admin update and delete."""

from __future__ import annotations

import falcon

from bazaar.domain.inputs import Page
from bazaar.domain.models import Role
from bazaar.domain.views import user_view_for
from bazaar.entry.http import answers, schemas
from bazaar.entry.http.common import ok
from bazaar.entry.http.endpoint import OPTIONAL, REQUIRED, endpoint
from bazaar.services.users import UserService


class Users:
    def __init__(self, users: UserService):
        self.users = users

    @endpoint("List users", auth=OPTIONAL, query=Page, answer=answers.OkList[answers.User])
    def on_get(self, req, resp):
        page, viewer = req.context.query, req.context.user
        resp.media = ok(
            [user_view_for(u, viewer) for u in self.users.list(page.limit, page.offset)], count=True
        )

    @endpoint(
        "Create a user with any role (admin)",
        auth=REQUIRED,
        roles=(Role.ADMIN,),
        body=schemas.UserCreate,
        status=201,
        answer=answers.Ok[answers.User],
        errors=(409,),
    )
    def on_post(self, req, resp):
        user = self.users.create(req.context.user, **req.context.body.model_dump())
        resp.status = falcon.HTTP_201
        resp.media = ok(user_view_for(user, req.context.user), message="User created")


class UserItem:
    def __init__(self, users: UserService):
        self.users = users

    @endpoint("A user", auth=OPTIONAL, answer=answers.Ok[answers.User])
    def on_get(self, req, resp, user_id: int):
        resp.media = ok(user_view_for(self.users.get(user_id), req.context.user))

    @endpoint(
        "Update a user (self or admin)",
        auth=REQUIRED,
        body=schemas.UserUpdate,
        answer=answers.Ok[answers.User],
        errors=(403, 409),
    )
    def on_put(self, req, resp, user_id: int):
        actor = req.context.user
        user = self.users.update(actor, user_id, req.context.body)
        resp.media = ok(user_view_for(user, actor), message="User updated")

    @endpoint("Delete a user (self or admin)", auth=REQUIRED, status=204, errors=(403,))
    def on_delete(self, req, resp, user_id: int):
        self.users.delete(req.context.user, user_id)
        resp.status = falcon.HTTP_204
