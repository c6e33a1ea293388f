"""The data of each client → server event, validated with pydantic (strict types).

Fields a client adds are ignored: the front end sends `userId` / `userName`, which never count (identity
is the token's). Problems are reported as today's `Invalid` — "Invalid data: sessionId must be a UUID" with
per-field `details` — so both dialects answer with the same error as every other bad input.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bazaar.domain.errors import Invalid
from bazaar.domain.inputs import to_uuid
from bazaar.live.events import REACTION_TYPES


def _uuid(value: Any) -> uuid.UUID:
    if value is None:
        raise ValueError("must not be null")
    return to_uuid(value)


def _uuid_or_null(value: Any) -> uuid.UUID | None:
    return None if value is None else _uuid(value)


def _reaction_type(value: Any) -> str:
    if value not in REACTION_TYPES:
        raise ValueError("must be one of " + ", ".join(REACTION_TYPES))
    return value


Uuid = Annotated[uuid.UUID, BeforeValidator(_uuid)]
UuidOrNull = Annotated[uuid.UUID | None, BeforeValidator(_uuid_or_null)]
ReactionType = Annotated[str, BeforeValidator(_reaction_type)]


class Payload(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class RoomRef(Payload):
    """`{sessionId}`; a bare session id string is accepted too (see `parse`'s `bare_id`)."""

    session_id: Uuid = Field(alias="sessionId")


class Join(RoomRef):
    since_message_id: Uuid | None = Field(None, alias="sinceMessageId")


class ChatMessage(RoomRef):
    message: Any = None  # the chat service checks the text, as it does for POST …/chat


class Reaction(RoomRef):
    type: ReactionType


class Click(RoomRef):
    product_id: Uuid = Field(alias="productId")


class Showcase(RoomRef):
    product_id: UuidOrNull = Field(alias="productId")  # null clears the showcase


P = TypeVar("P", bound=Payload)


def parse(model: type[P], data: Any, *, bare_id: bool = False) -> P:
    """`data` as `model`, or Invalid. With `bare_id`, a string is read as `{sessionId: <it>}`."""
    if bare_id and isinstance(data, str):
        data = {"sessionId": data}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise Invalid("The request data must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details: dict[str, str] = {}
        for error in exc.errors():
            details.setdefault(str(error["loc"][0]) if error["loc"] else "data", _problem(error))
        field, problem = next(iter(details.items()))
        raise Invalid(f"Invalid data: {field} {problem}", details=details) from None


def _problem(error: dict) -> str:
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    return error["msg"]
