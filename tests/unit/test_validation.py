"""The typed boundary's field types (bazaar/domain/inputs.py): what each accepts and refuses, and every
problem reported per (camelCase) field in the words the API has always used, nothing half-parsed."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import pytest

from bazaar.domain.errors import Invalid
from bazaar.domain.inputs import (
    BlankIsNone,
    Body,
    Email,
    HttpUrl,
    Integer,
    Lenient,
    Money,
    Page,
    Password,
    Query,
    QueryBool,
    QueryMoney,
    Tags,
    Timestamp,
    Username,
    Uuid,
    choice,
    id_list,
    query_int,
    text,
    validated,
)
from bazaar.services.commands import ProductUpdate


def value_of(kind, value, *, model=Body):
    """`value` through a one-field model of `kind`."""
    one = type("One", (model,), {"__annotations__": {"v": kind}})
    return validated(one, {"v": value}).v


def problem_of(kind, value, *, model=Body) -> str:
    with pytest.raises(Invalid) as error:
        value_of(kind, value, model=model)
    return error.value.details["v"]


class Product(Body):
    name: text(min_len=1)
    price: Money
    image_url: BlankIsNone[HttpUrl] = None


def test_fields_come_back_under_their_python_names():
    assert validated(Product, {"name": "Lamp", "price": 5, "imageUrl": "https://x.test/a.png"}).image_url == (
        "https://x.test/a.png"
    )


def test_every_problem_is_reported_at_once_and_the_message_names_the_first():
    with pytest.raises(Invalid) as error:
        validated(Product, {"price": -1, "extra": 1})
    assert error.value.details == {
        "name": "is required",
        "price": "must be at least 0",
        "extra": "is not a known field",
    }
    assert error.value.message == "Invalid body: name is required"


def test_unknown_fields_are_ignored_where_senders_add_their_own():
    class Chat(Lenient):
        message: str

    assert validated(Chat, {"message": "hi", "userId": 3}).message == "hi"
    assert validated(Page, {"limit": "5", "_": "cache-buster"}, what="query").limit == 5


def test_a_partial_update_writes_only_what_was_sent():
    assert ProductUpdate.model_validate({"price": 3, "category": " "}).written() == {
        "price": Decimal("3.00"),
        "category": None,
    }


def test_defaults_fill_absent_fields():
    page = validated(Page, {}, what="query")
    assert (page.limit, page.offset) == (20, 0)


@pytest.mark.parametrize("data", [[1], "text", 5, None])
def test_a_body_must_be_an_object(data):
    with pytest.raises(Invalid, match="JSON object"):
        validated(Product, data)


def test_null_is_refused_unless_optional():
    assert problem_of(text(), None) == "must not be null"
    assert value_of(text() | None, None) is None


def test_blank_optional_text_means_not_set_but_required_text_refuses_it():
    for blank in ("", "   "):
        assert value_of(BlankIsNone[text(min_len=1)], blank) is None
        assert problem_of(text(min_len=1), blank) == "must not be empty"


def test_a_problem_inside_an_object_names_its_path():
    class Data(Lenient):
        order_id: Uuid

    class Event(Lenient):
        data: Data

    with pytest.raises(Invalid) as error:
        validated(Event, {"data": {}}, what="event")
    assert error.value.details == {"data.orderId": "is required"}


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
    assert problem_of(text(min_len=1, max_len=10), value) == error


def test_strings_are_trimmed_and_keep_newlines():
    assert value_of(text(), "  a\nb  ") == "a\nb"


def test_free_text_keeps_tabs_and_line_breaks_but_no_other_control_characters():
    assert value_of(text(free=True), "a\tb\r\nc") == "a\tb\r\nc"
    for value in ("a\x00b", "a\x1b[31mred", "a\x7f"):
        assert problem_of(text(free=True), value)


def test_a_password_with_an_unpaired_surrogate_is_refused_cleanly():
    assert (
        problem_of(Password, "\ud800-long-enough") == "must not contain NUL characters or unpaired surrogates"
    )


def test_email_is_lower_cased():
    assert value_of(Email, "Ann@Example.TEST") == "ann@example.test"


@pytest.mark.parametrize("value", ["ann", "ann@", "@x.test", "a b@x.test", "ann@x"])
def test_bad_emails(value):
    assert problem_of(Email, value)


@pytest.mark.parametrize("value", ["ab", "x" * 51, "with space", "semi;colon", "émile"])
def test_bad_usernames(value):
    assert problem_of(Username, value)


def test_a_username_pattern_problem_says_what_is_allowed():
    assert problem_of(Username, "semi;colon") == "may contain only letters, digits, '.', '_' and '-'"


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
        assert value_of(Password, value) == value
    else:
        assert problem_of(Password, value)


def test_passwords_are_not_trimmed():
    assert value_of(Password, "  spaced out  ") == "  spaced out  "


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
    assert value_of(Money, value) == expected


@pytest.mark.parametrize(
    "value", [-0.01, 100_000_000, 1e20, 0.001, 1.005, float("nan"), float("inf"), True, "5", [5]]
)
def test_bad_money(value):
    assert problem_of(Money, value)


def test_money_from_a_query_string():
    assert value_of(QueryMoney, "19.99", model=Query) == Decimal("19.99")
    assert problem_of(QueryMoney, "abc", model=Query) == "must be a number"


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
    assert problem_of(HttpUrl, value) == "must be an http(s) URL"


def test_integers_from_json_and_from_query_strings():
    assert value_of(Integer, 5) == 5
    assert value_of(Integer, 5.0) == 5  # JSON Schema's integer
    for not_an_int in ("5", True, 5.5, float("nan")):
        assert problem_of(Integer, not_an_int) == "must be an integer"
    assert value_of(query_int(), "5", model=Query) == 5
    assert value_of(query_int(), "-3", model=Query) == -3


@pytest.mark.parametrize("value", ["5.5", "1e3", "", "9" * 40, "0x10", ["1", "2"]])
def test_non_integer_query_values_are_refused(value):
    assert problem_of(query_int(), value, model=Query) == "must be an integer"


def test_page_bounds():
    page = validated(Page, {"limit": "100", "offset": "0"}, what="query")
    assert (page.limit, page.offset) == (100, 0)
    for bad, error in (
        ({"limit": "0"}, "must be at least 1"),
        ({"limit": "101"}, "must be at most 100"),
        ({"offset": "-1"}, "must be at least 0"),
    ):
        with pytest.raises(Invalid) as refused:
            validated(Page, bad, what="query")
        assert list(refused.value.details.values()) == [error]


def test_booleans():
    assert value_of(bool, False) is False
    assert value_of(QueryBool, "true", model=Query) is True
    assert value_of(QueryBool, "0", model=Query) is False
    assert problem_of(bool, "true") == "must be true or false"
    assert problem_of(bool, 0) == "must be true or false"
    assert problem_of(QueryBool, "yes", model=Query) == "must be true or false"


def test_choices():
    assert value_of(choice(("a", "b")), "a") == "a"
    assert problem_of(choice(("a", "b")), "z") == "must be one of a, b"
    assert problem_of(choice(("a", "b")), ["a"]) == "must be one of a, b"


def test_ids():
    value = uuid.uuid4()
    assert value_of(Uuid, str(value)) == value
    assert problem_of(Uuid, "nope") == "must be a UUID"
    assert problem_of(Uuid, 5) == "must be a UUID string"


def test_id_lists_are_deduplicated_in_order():
    a, b = uuid.uuid4(), uuid.uuid4()
    assert value_of(id_list(), [str(a), str(b), str(a)]) == [a, b]
    assert problem_of(id_list(), [str(a), "nope"]) == "must be a UUID"
    assert problem_of(id_list(max_items=1), [str(a), str(b)]) == "must have at most 1 items"


def test_tags():
    assert value_of(Tags, [" a ", "b", "a"]) == ["a", "b"]
    assert problem_of(Tags, "a") == "must be a list"
    assert problem_of(Tags, [""]) == "must not be empty"


def test_timestamps_are_naive_utc():
    assert value_of(Timestamp, "2026-11-23T22:44:21.639Z") == datetime(2026, 11, 23, 22, 44, 21, 639000)
    assert value_of(Timestamp, "2026-11-23T23:44:21+01:00") == datetime(2026, 11, 23, 22, 44, 21)
    assert problem_of(Timestamp, "yesterday") == "must be an ISO-8601 date-time string"
