"""The one validation helper: declarative fields, per-field details, nothing half-parsed."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import pytest

from bazaar.domain.errors import Invalid
from bazaar.domain.validation import (
    Bool,
    Choice,
    Email,
    HttpUrl,
    Id,
    IdList,
    Int,
    Money,
    Password,
    Str,
    StrList,
    Timestamp,
    Username,
    page_schema,
    parse,
    parse_query,
)


def problem(schema, data, **kw) -> dict:
    with pytest.raises(Invalid) as error:
        parse(data, schema, **kw)
    return error.value.details


def test_fields_come_back_under_their_attribute_names():
    assert parse({"imageUrl": "https://x.test/a.png"}, {"imageUrl": HttpUrl(attr="image_url")}) == {
        "image_url": "https://x.test/a.png"
    }


def test_every_problem_is_reported_at_once():
    details = problem({"name": Str(required=True), "price": Money(required=True)}, {"price": -1, "extra": 1})
    assert details == {"extra": "is not a known field", "name": "is required", "price": "must be at least 0"}


def test_the_message_names_the_first_problem():
    with pytest.raises(Invalid, match="name is required"):
        parse({}, {"name": Str(required=True)})


def test_unknown_fields_can_be_ignored():
    assert parse({"a": "x", "b": 1}, {"a": Str()}, unknown="ignore") == {"a": "x"}


def test_partial_skips_required_and_defaults():
    schema = {"name": Str(required=True), "limit": Int(default=20)}
    assert parse({}, schema, partial=True) == {}


def test_defaults_fill_absent_fields():
    assert parse({}, page_schema()) == {"limit": 20, "offset": 0}


@pytest.mark.parametrize("data", [[1], "text", 5, None])
def test_a_body_must_be_an_object(data):
    with pytest.raises(Invalid, match="JSON object"):
        parse(data, {})


def test_null_is_refused_unless_nullable():
    assert problem({"a": Str()}, {"a": None}) == {"a": "must not be null"}
    assert parse({"a": None}, {"a": Str(nullable=True)}) == {"a": None}


@pytest.mark.parametrize(
    "value, error",
    [
        ("", "must not be empty"),
        ("  ", "must not be empty"),
        ("x" * 11, "must be at most 10 characters"),
        ("a\x01b", "must not contain control characters"),
        ("a\tb", "must not contain control characters"),
        ("a\x00b", "must not contain NUL characters or unpaired surrogates"),
        ("a\ud800b", "must not contain NUL characters or unpaired surrogates"),
        (3, "must be a string"),
    ],
)
def test_strings(value, error):
    assert problem({"s": Str(min_len=1, max_len=10)}, {"s": value}) == {"s": error}


def test_strings_are_trimmed_and_keep_newlines():
    assert parse({"s": "  a\nb  "}, {"s": Str()}) == {"s": "a\nb"}


def test_free_text_keeps_tabs_and_line_breaks_but_no_other_control_characters():
    assert parse({"s": "a\tb\r\n"}, {"s": Str(allow_control=True, strip=False)}) == {"s": "a\tb\r\n"}
    for value in ("a\x00b", "a\x1b[31mred", "a\x7f"):
        assert "s" in problem({"s": Str(allow_control=True)}, {"s": value})


def test_a_password_with_an_unpaired_surrogate_is_refused_cleanly():
    assert problem({"p": Password()}, {"p": "\ud800-long-enough"}) == {
        "p": "must not contain NUL characters or unpaired surrogates"
    }


def test_email_is_lower_cased():
    assert parse({"e": "Ann@Example.TEST"}, {"e": Email()}) == {"e": "ann@example.test"}


@pytest.mark.parametrize("value", ["ann", "ann@", "@x.test", "a b@x.test", "ann@x"])
def test_bad_emails(value):
    assert "e" in problem({"e": Email()}, {"e": value})


@pytest.mark.parametrize("value", ["ab", "x" * 51, "with space", "semi;colon", "émile"])
def test_bad_usernames(value):
    assert "u" in problem({"u": Username()}, {"u": value})


@pytest.mark.parametrize(
    "value, ok",
    [
        ("1234567", False),
        ("12345678", True),
        ("p" * 72, True),
        ("p" * 73, False),
        ("ü" * 36, True),
        ("ü" * 37, False),
        (12345678, False),
    ],
)
def test_passwords_are_8_characters_to_72_bytes(value, ok):
    if ok:
        assert parse({"p": value}, {"p": Password()}) == {"p": value}
    else:
        assert "p" in problem({"p": Password()}, {"p": value})


def test_passwords_are_not_trimmed():
    assert parse({"p": "  spaced out  "}, {"p": Password()}) == {"p": "  spaced out  "}


@pytest.mark.parametrize(
    "value, expected",
    [
        (0, Decimal("0.00")),
        (12.5, Decimal("12.50")),
        (0.1, Decimal("0.10")),
        (99_999_999.99, Decimal("99999999.99")),
        (7, Decimal("7.00")),
    ],
)
def test_money_is_exact(value, expected):
    assert parse({"m": value}, {"m": Money()}) == {"m": expected}


@pytest.mark.parametrize(
    "value", [-0.01, 100_000_000, 1e20, 0.001, 1.005, float("nan"), float("inf"), True, "5", [5]]
)
def test_bad_money(value):
    assert "m" in problem({"m": Money()}, {"m": value})


def test_money_from_a_query_string():
    assert parse_query({"m": "19.99"}, {"m": Money()}) == {"m": Decimal("19.99")}
    assert parse_query({"m": "abc"}, {}) == {}


@pytest.mark.parametrize(
    "value",
    [
        "javascript:alert(1)",
        "ftp://x.test/a",
        "//x.test/a",
        "https://",
        "data:x",
        "https://x.test/a b",
        "https://:80/a",
    ],
)
def test_urls_must_be_http(value):
    assert problem({"u": HttpUrl()}, {"u": value}) == {"u": "must be an http(s) URL"}


def test_integers_from_json_and_from_query_strings():
    assert parse({"n": 5}, {"n": Int()}) == {"n": 5}
    assert "n" in problem({"n": Int()}, {"n": "5"})
    assert "n" in problem({"n": Int()}, {"n": True})
    assert "n" in problem({"n": Int()}, {"n": 5.0})
    assert parse_query({"n": "5"}, {"n": Int()}) == {"n": 5}
    assert parse_query({"n": "-3"}, {"n": Int()}) == {"n": -3}


@pytest.mark.parametrize("value", ["5.5", "1e3", "", "9" * 40, "0x10"])
def test_non_integer_query_values_are_refused(value):
    with pytest.raises(Invalid):
        parse_query({"n": value}, {"n": Int()})


def test_page_bounds():
    assert parse_query({"limit": "100", "offset": "0"}, page_schema()) == {"limit": 100, "offset": 0}
    for bad in ({"limit": "0"}, {"limit": "101"}, {"offset": "-1"}):
        with pytest.raises(Invalid):
            parse_query(bad, page_schema())


def test_booleans():
    assert parse({"b": False}, {"b": Bool()}) == {"b": False}
    assert parse_query({"b": "true"}, {"b": Bool()}) == {"b": True}
    assert "b" in problem({"b": Bool()}, {"b": "true"})
    assert "b" in problem({"b": Bool()}, {"b": 0})


def test_choices():
    assert parse({"c": "a"}, {"c": Choice(("a", "b"))}) == {"c": "a"}
    assert problem({"c": Choice(("a", "b"))}, {"c": "z"}) == {"c": "must be one of a, b"}
    assert "c" in problem({"c": Choice(("a", "b"))}, {"c": ["a"]})


def test_ids():
    value = uuid.uuid4()
    assert parse({"i": str(value)}, {"i": Id()}) == {"i": value}
    assert "i" in problem({"i": Id()}, {"i": "nope"})
    assert "i" in problem({"i": Id()}, {"i": 5})


def test_id_lists_are_deduplicated_in_order():
    a, b = uuid.uuid4(), uuid.uuid4()
    assert parse({"l": [str(a), str(b), str(a)]}, {"l": IdList()}) == {"l": [a, b]}
    assert "l" in problem({"l": IdList()}, {"l": [str(a), "nope"]})
    assert "l" in problem({"l": IdList(max_items=1)}, {"l": [str(a), str(b)]})


def test_string_lists():
    assert parse({"t": [" a ", "b", "a"]}, {"t": StrList()}) == {"t": ["a", "b"]}
    assert "t" in problem({"t": StrList()}, {"t": "a"})
    assert "t" in problem({"t": StrList()}, {"t": [""]})


def test_timestamps_are_naive_utc():
    assert parse({"t": "2026-11-23T22:44:21.639Z"}, {"t": Timestamp()}) == {
        "t": datetime(2026, 11, 23, 22, 44, 21, 639000)
    }
    assert parse({"t": "2026-11-23T23:44:21+01:00"}, {"t": Timestamp()}) == {
        "t": datetime(2026, 11, 23, 22, 44, 21)
    }
    assert "t" in problem({"t": Timestamp()}, {"t": "yesterday"})
