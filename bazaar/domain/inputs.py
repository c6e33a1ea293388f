"""The typed boundary's field types (pydantic v2) and the one translation of their errors into `Invalid`.

REST bodies and query strings (`bazaar/entry/http/schemas.py`) and the services' commands are built from
these types, so a limit is declared once and shows in `/api/openapi.json` as it is enforced. Every problem
reads as it always has: "Invalid body: price must be at least 0", with `details` per (camelCase) field.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from bazaar.domain.clock import parse_iso
from bazaar.domain.errors import Invalid

PASSWORD_MAX_BYTES = 72  # bcrypt reads no further
MAX_INT32 = 2**31 - 1  # INTEGER columns and offsets: no overflow reaches the database
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # control characters except newline
_FREE_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # control characters except tab, CR, LF
_NUL = "\x00"  # no database stores it (unpaired surrogates never get past pydantic's str)
# The patterns are ECMA regexes too (the document publishes them): no inline flags, \x escapes.
# Surrounding spaces are trimmed before these match, so the published patterns allow them.
_EMAIL = r"^\s*[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+\s*$"
_USERNAME = r"^[A-Za-z0-9_.-]+$"
_HTTP = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[^\s\x00-\x1f\x7f]+\s*$"
# What the control-character checks let through, for the document (the checks name the problem better).
_TEXT_CHAR = r"[^\x00-\x09\x0b-\x1f\x7f]"
_FREE_TEXT_CHAR = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_VISIBLE_CHAR = r"[^\s\x00-\x1f\x7f]"  # text is trimmed before its length is checked: one of these
_PATTERN_HINTS = {
    _EMAIL: "must be a valid email address",
    _USERNAME: "may contain only letters, digits, '.', '_' and '-'",
    _HTTP: "must be an http(s) URL",
}
_STORABLE_HINT = "must not contain NUL characters or unpaired surrogates"


class Body(BaseModel):
    """A JSON body: strict types (no "5" for 5), camelCase keys, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel, frozen=True)


class Lenient(BaseModel):
    """JSON whose sender adds fields we do not read (a provider's event, the chat form): strict types,
    camelCase keys, unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", strict=True, alias_generator=to_camel, frozen=True)


class Query(BaseModel):
    """A query string: every value arrives as text (the field types convert), unknown parameters ignored."""

    model_config = ConfigDict(extra="ignore", strict=True, alias_generator=to_camel, frozen=True)


class _Documented:
    """Adds `extra` to a type's JSON schema: what a validator enforces that pydantic cannot publish."""

    def __init__(self, **extra):
        self.extra = extra

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        schema.update(self.extra)
        return schema


# text ------------------------------------------------------------------------------------------------
def _no_control(pattern: re.Pattern):
    def check(value: str) -> str:
        if _NUL in value:
            raise ValueError(_STORABLE_HINT)
        if pattern.search(value):
            raise ValueError("must not contain control characters")
        return value

    return AfterValidator(check)


def text(*, min_len: int = 0, max_len: int | None = 255, free: bool = False):
    """Trimmed text; `free` text (descriptions) keeps tabs and line breaks, other text only newlines."""
    char = _FREE_TEXT_CHAR if free else _TEXT_CHAR
    pattern = f"^{char}*{_VISIBLE_CHAR}{char}*$" if min_len else f"^{char}*$"  # no lookahead: generators
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_len, max_length=max_len),
        _no_control(_FREE_TEXT_CONTROL if free else _CONTROL),
        _Documented(pattern=pattern),
    ]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("must be an http(s) URL")
    return value


def _password_bytes(value: str) -> str:
    if _NUL in value:
        raise ValueError(_STORABLE_HINT)
    if len(value.encode("utf-8")) > PASSWORD_MAX_BYTES:
        raise ValueError(f"must be at most {PASSWORD_MAX_BYTES} bytes")
    return value


Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=50, pattern=_USERNAME),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=255, pattern=_EMAIL),
    AfterValidator(str.lower),
]
# 8+ characters, never trimmed; bcrypt reads 72 bytes, so longer ones are refused rather than truncated.
Password = Annotated[
    str,
    StringConstraints(min_length=8, max_length=PASSWORD_MAX_BYTES),
    AfterValidator(_password_bytes),
    _Documented(pattern=r"^[^\x00]*$", description=f"8 characters to {PASSWORD_MAX_BYTES} bytes (UTF-8)"),
]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=1024)]  # a password to check: as typed
# No `format: uri` in the document: an IRI (a non-ASCII host) is taken too; the pattern says what is.
HttpUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2048, pattern=_HTTP),
    AfterValidator(_http_url),
]

T = TypeVar("T")


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class _BlankAllowed:
    """Publishes that a blank string is taken (as null) besides the type itself and null."""

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        if "anyOf" not in schema:
            schema = {"anyOf": [schema]}
        schema["anyOf"].append({"type": "string", "pattern": r"^\s*$"})
        return schema


# An optional field: "" or spaces mean "not set" (forms send "" for a field left empty, SPEC §1).
BlankIsNone = Annotated[T | None, BeforeValidator(_blank_is_none), _BlankAllowed()]


# numbers, ids, times, choices -------------------------------------------------------------------------
def _integral(value: Any) -> Any:
    """JSON Schema's integer: 5.0 is 5 (still no "5", no true)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def integer(*, minimum: int | None = None, maximum: int | None = None):
    return Annotated[int, Field(ge=minimum, le=maximum), BeforeValidator(_integral)]


Integer = integer()


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError("must be a number")
    amount = Decimal(str(value))
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount < 0:
        raise ValueError("must be at least 0")
    if amount >= Decimal(10) ** 8:
        raise ValueError("must be less than 100000000")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError("must have at most 2 decimals")
    return amount.quantize(Decimal("0.01"))


_MONEY_SCHEMA = {"type": "number", "minimum": 0, "exclusiveMaximum": 100000000, "multipleOf": 0.01}
# A non-negative amount below 10^8 with at most two decimals (NUMERIC(10,2)).
Money = Annotated[Decimal, PlainValidator(_money), WithJsonSchema(_MONEY_SCHEMA)]


def to_uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise ValueError("must be a UUID string")
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise ValueError("must be a UUID") from None


Uuid = Annotated[uuid.UUID, PlainValidator(to_uuid), WithJsonSchema({"type": "string", "format": "uuid"})]


def to_timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 date-time string")
    try:
        return parse_iso(value)
    except ValueError:
        raise ValueError("must be an ISO-8601 date-time string") from None


# Naive UTC, from any ISO-8601 offset.
Timestamp = Annotated[
    datetime, PlainValidator(to_timestamp), WithJsonSchema({"type": "string", "format": "date-time"})
]


def choice(values):
    """One of `values` (strings)."""
    values = tuple(values)

    def check(value: Any) -> str:
        if value not in values:
            raise ValueError("must be one of " + ", ".join(values))
        return value

    return Annotated[str, PlainValidator(check), WithJsonSchema({"type": "string", "enum": list(values)})]


def _unique(items: list) -> list:
    return list(dict.fromkeys(items))  # order kept


def id_list(max_items: int = 500):
    """UUIDs, de-duplicated in order."""
    return Annotated[list[Uuid], Field(max_length=max_items), AfterValidator(_unique)]


Tags = Annotated[list[text(min_len=1, max_len=50)], Field(max_length=20), AfterValidator(_unique)]


# query-string values (text that converts) --------------------------------------------------------------
def _query_int(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,12}", value.strip()):
        return int(value)
    raise ValueError("must be an integer")


def _query_bool(value: Any) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise ValueError("must be true or false")


def _query_money(value: Any) -> Decimal:
    if isinstance(value, str):
        try:
            return _money(Decimal(value.strip()))
        except InvalidOperation:
            pass
    raise ValueError("must be a number")


def query_int(*, minimum: int | None = None, maximum: int | None = None):
    return Annotated[int, Field(ge=minimum, le=maximum), BeforeValidator(_query_int)]


QueryBool = Annotated[bool, PlainValidator(_query_bool), WithJsonSchema({"type": "boolean"})]
QueryMoney = Annotated[Decimal, PlainValidator(_query_money), WithJsonSchema(_MONEY_SCHEMA)]


class Page(Query):
    """`limit` (1..100, default 20) and `offset`."""

    limit: query_int(minimum=1, maximum=100) = 20
    offset: query_int(minimum=0, maximum=MAX_INT32) = 0


# validating -----------------------------------------------------------------------------------------------
M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any, *, what: str = "body") -> M:
    """`data` as `model`, or `Invalid` naming the first problem, with every problem in `details`."""
    if not isinstance(data, Mapping):
        raise Invalid(f"The request {what} must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details: dict[str, str] = {}
        for error in exc.errors():
            details.setdefault(_field(error["loc"]) or what, problem(error))
        field, first = next(iter(details.items()))
        raise Invalid(f"Invalid {what}: {field} {first}", details=details) from None


def _field(loc: tuple) -> str:
    """The (camelCase) field a problem is about: `data.orderId` inside an object, `tags` for an item."""
    names = [str(loc[0])] if loc else []
    names += [part for part in loc[1:] if isinstance(part, str)]
    return ".".join(names)


def problem(error: dict) -> str:
    """One pydantic error in the words this API has always used."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if error.get("input", "") is None and (kind.endswith("_type") or kind == "value_error"):
        return "must not be null"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"])).removeprefix("Value error, ")
    simple = {
        "string_type": "must be a string",
        "string_unicode": _STORABLE_HINT,
        "int_type": "must be an integer",
        "int_parsing": "must be an integer",
        "int_from_float": "must be an integer",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "list_type": "must be a list",
        "dict_type": "must be an object",
        "model_type": "must be an object",
    }
    if kind in simple:
        return simple[kind]
    if kind == "string_too_short":
        n = ctx["min_length"]
        return "must not be empty" if n == 1 else f"must be at least {n} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "string_pattern_mismatch":
        return _PATTERN_HINTS.get(ctx["pattern"], "has an invalid format")
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} items"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} items"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    return error["msg"]
