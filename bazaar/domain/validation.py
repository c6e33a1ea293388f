"""The one validation helper: declarative fields for JSON bodies, query strings and WebSocket payloads.

`parse(data, schema)` returns a dict keyed by each field's attribute name
(snake_case) or raises `Invalid` with per-field `details`. Nothing is written
unless everything parsed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from bazaar.domain.clock import parse_iso
from bazaar.domain.errors import Invalid

MISSING = object()
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # control characters except newline
_FREE_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # control characters except tab, CR, LF
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")  # NUL and unpaired surrogates: no database stores them
PASSWORD_MAX_BYTES = 72  # bcrypt reads no further
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class Field:
    """One input field. `attr` is the name the service receives (defaults to the key)."""

    def __init__(
        self,
        *,
        attr: str | None = None,
        required: bool = False,
        nullable: bool = False,
        default: Any = MISSING,
    ):
        self.attr = attr
        self.required = required
        self.nullable = nullable
        self.default = default

    def convert(self, value: Any, textual: bool) -> Any:
        raise NotImplementedError

    def means_null(self, value: Any) -> bool:
        """Whether `value` stands for null; for most fields only null does (`parse` checks `nullable`)."""
        return value is None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


class Str(Field):
    """Text; `allow_control` lets free text (descriptions) keep tabs and line breaks. A nullable (optional)
    text field takes an empty or all-space string as null: forms send "" for a field left empty (SPEC §1)."""

    def __init__(
        self,
        *,
        min_len: int = 0,
        max_len: int = 255,
        strip: bool = True,
        pattern: re.Pattern | None = None,
        pattern_hint: str = "",
        allow_control: bool = False,
        **kw,
    ):
        super().__init__(**kw)
        self.min_len, self.max_len, self.strip = min_len, max_len, strip
        self.pattern, self.pattern_hint, self.allow_control = pattern, pattern_hint, allow_control

    def means_null(self, value):
        return value is None or (self.nullable and isinstance(value, str) and not value.strip())

    def convert(self, value, textual):
        value = _text(value)
        if self.strip:
            value = value.strip()
        if (_FREE_TEXT_CONTROL if self.allow_control else _CONTROL).search(value):
            raise ValueError("must not contain control characters")
        if len(value) < self.min_len:
            raise ValueError(
                "must not be empty" if self.min_len == 1 else f"must be at least {self.min_len} characters"
            )
        if len(value) > self.max_len:
            raise ValueError(f"must be at most {self.max_len} characters")
        if self.pattern and not self.pattern.match(value):
            raise ValueError(self.pattern_hint or "has an invalid format")
        return value


class Email(Str):
    def __init__(self, **kw):
        super().__init__(
            min_len=3, max_len=255, pattern=_EMAIL, pattern_hint="must be a valid email address", **kw
        )

    def convert(self, value, textual):
        return super().convert(value, textual).lower()


class Username(Str):
    def __init__(self, **kw):
        super().__init__(
            min_len=3,
            max_len=50,
            pattern=_USERNAME,
            pattern_hint="may contain only letters, digits, '.', '_' and '-'",
            **kw,
        )


class Password(Field):
    """8+ characters; bcrypt reads at most 72 bytes, so longer ones are refused rather than truncated."""

    def convert(self, value, textual):
        value = _text(value)
        if len(value) < 8:
            raise ValueError("must be at least 8 characters")
        if len(value.encode("utf-8")) > PASSWORD_MAX_BYTES:
            raise ValueError(f"must be at most {PASSWORD_MAX_BYTES} bytes")
        return value


class Int(Field):
    def __init__(self, *, minimum: int | None = None, maximum: int | None = None, **kw):
        super().__init__(**kw)
        self.minimum, self.maximum = minimum, maximum

    def convert(self, value, textual):
        if textual and isinstance(value, str) and re.fullmatch(r"-?\d{1,12}", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"must be at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"must be at most {self.maximum}")
        return value


class Bool(Field):
    def convert(self, value, textual):
        if textual and isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value


class Money(Field):
    """A non-negative amount below 10^8 with at most two decimals."""

    def convert(self, value, textual):
        if textual and isinstance(value, str):
            try:
                value = Decimal(value.strip())
            except InvalidOperation:
                raise ValueError("must be a number") from None
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


class HttpUrl(Str):
    def __init__(self, **kw):
        super().__init__(min_len=1, max_len=2048, **kw)

    def convert(self, value, textual):
        value = super().convert(value, textual)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
            raise ValueError("must be an http(s) URL")
        return value


class Choice(Field):
    def __init__(self, choices, **kw):
        super().__init__(**kw)
        self.choices = tuple(choices)

    def convert(self, value, textual):
        if value not in self.choices:
            raise ValueError("must be one of " + ", ".join(self.choices))
        return value


class Id(Field):
    """A UUID (as a string)."""

    def convert(self, value, textual):
        if not isinstance(value, str):
            raise ValueError("must be a UUID string")
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            raise ValueError("must be a UUID") from None


class IdList(Field):
    def __init__(self, *, max_items: int = 500, **kw):
        super().__init__(**kw)
        self.max_items = max_items

    def convert(self, value, textual):
        if not isinstance(value, list):
            raise ValueError("must be a list of UUIDs")
        if len(value) > self.max_items:
            raise ValueError(f"must have at most {self.max_items} items")
        ids = [Id().convert(item, textual) for item in value]
        return list(dict.fromkeys(ids))  # de-duplicated, order kept


class StrList(Field):
    def __init__(self, *, max_items: int = 20, item_max_len: int = 50, **kw):
        super().__init__(**kw)
        self.max_items, self.item = max_items, Str(min_len=1, max_len=item_max_len)

    def convert(self, value, textual):
        if not isinstance(value, list):
            raise ValueError("must be a list of strings")
        if len(value) > self.max_items:
            raise ValueError(f"must have at most {self.max_items} items")
        return list(dict.fromkeys(self.item.convert(item, textual) for item in value))


class Timestamp(Field):
    def convert(self, value, textual):
        if not isinstance(value, str):
            raise ValueError("must be an ISO-8601 date-time string")
        try:
            return parse_iso(value)
        except ValueError:
            raise ValueError("must be an ISO-8601 date-time string") from None


def parse(
    data: Any,
    schema: Mapping[str, Field],
    *,
    partial: bool = False,
    unknown: str = "reject",
    textual: bool = False,
    what: str = "body",
) -> dict:
    """Validate `data` against `schema`. `partial` skips required checks (updates);
    `unknown` is "reject" (400 naming the fields) or "ignore"; `textual` accepts
    strings for numbers and booleans (query strings)."""
    if not isinstance(data, Mapping):
        raise Invalid(f"The request {what} must be a JSON object")
    details: dict[str, str] = {}
    out: dict[str, Any] = {}
    if unknown == "reject":
        for key in data:
            if key not in schema:
                details[key] = "is not a known field"
    for key, field in schema.items():
        value = data.get(key, MISSING)
        name = field.attr or key
        if value is MISSING:
            if field.required and not partial:
                details[key] = "is required"
            elif field.default is not MISSING and not partial:
                out[name] = field.default
            continue
        if field.means_null(value):
            if field.nullable:
                out[name] = None
            else:
                details[key] = "must not be null"
            continue
        try:
            out[name] = field.convert(value, textual)
        except ValueError as problem:
            details[key] = str(problem)
    if details:
        first = next(iter(details.items()))
        raise Invalid(f"Invalid {what}: {first[0]} {first[1]}", details=details)
    return out


def parse_query(params: Mapping[str, Any], schema: Mapping[str, Field]) -> dict:
    """Query-string flavour of `parse`: strings convert, unknown parameters are ignored."""
    return parse(params, schema, unknown="ignore", textual=True, what="query")


def page_schema(default_limit: int | None = 20, max_limit: int = 100) -> dict[str, Field]:
    """`limit`/`offset`; with `default_limit=None` an absent limit means the whole list."""
    limit = Int(minimum=1, maximum=max_limit, default=MISSING if default_limit is None else default_limit)
    return {"limit": limit, "offset": Int(minimum=0, default=0)}
