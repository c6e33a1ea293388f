"""An in-process emulator of Meilisearch's HTTP API (v1.x) for tests.

Meilisearch cannot run on the project's machines, so tests drive the official
``meilisearch`` python client against this server instead.  It follows the
documented HTTP API (https://www.meilisearch.com/docs/reference/api): routes,
status codes, error objects ``{message, code, type, link}``, asynchronous
tasks processed in order by a background worker, settings with their
documented defaults, documents, search (prefix, typo tolerance, synonyms,
filters, sort, facets, distinct, pagination) and ``/swap-indexes``.

It is an emulator, not a reimplementation: relevancy follows the documented
default ranking rules approximately, data lives in memory only, and vector /
geo / tenant-token features are not implemented.

Usage::

    with MeiliEmulator() as emu:              # port=0 picks a free port
        client = meilisearch.Client(emu.url, emu.master_key)
        ...
        emu.pause(); emu.resume()             # hold / release task processing
        emu.stop(); emu.start()               # "down" (refuses connections), same port
        emu.set_unavailable(True)             # answer 503 to everything

Standalone::

    python -m tests.support.meili_emulator --port 7700 --master-key K
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime as _dt
import io
import json
import re
import signal
import socket
import sys
import threading
import time
import unicodedata
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["MeiliEmulator", "EMULATED_VERSION"]

EMULATED_VERSION = "1.12.0"
ERROR_LINK = "https://docs.meilisearch.com/errors#"


# --------------------------------------------------------------------------- errors


class MeiliError(Exception):
    """An error answered (or stored in a failed task) as Meilisearch's error object."""

    def __init__(self, status: int, code: str, message: str, type_: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        if type_ is None:
            type_ = "auth" if status in (401, 403) else ("internal" if status >= 500 else "invalid_request")
        self.type = type_

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code, "type": self.type, "link": ERROR_LINK + self.code}


def _bad(code: str, message: str) -> MeiliError:
    return MeiliError(400, code, message)


def _index_not_found(uid: str) -> MeiliError:
    return MeiliError(404, "index_not_found", f"Index `{uid}` not found.")


# --------------------------------------------------------------------------- time


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _fmt_time(t: _dt.datetime | None) -> str | None:
    if t is None:
        return None
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fmt_duration(seconds: float) -> str:
    return f"PT{max(seconds, 0.0):.6f}S"


def _parse_time(value: str, code: str) -> _dt.datetime:
    try:
        t = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(code, f"`{value}` is an invalid date-time. It should follow the RFC 3339 format.")
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    return t


# --------------------------------------------------------------------------- text


_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)


def normalize_text(text: str) -> str:
    """Lower-case, compatibility-decompose and strip accents (like Meilisearch's tokenizer)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold()


def tokenize(text: str) -> list[str]:
    return _WORD_RE.findall(normalize_text(text))


def _word_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, normalized word) for every word of ``text`` (original offsets)."""
    spans = []
    for m in _WORD_RE.finditer(text):
        norm = normalize_text(m.group(0))
        for _w in _WORD_RE.findall(norm):
            spans.append((m.start(), m.end(), _w))
            break
    return spans


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _osa_distance(a: str, b: str, prefix: bool) -> int:
    """Optimal-string-alignment distance (transposition costs 1).

    With ``prefix`` the distance is between ``a`` and the closest prefix of ``b``.
    """
    la, lb = len(a), len(b)
    prev2: list[int] | None = None
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        for j in range(1, lb + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if prev2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
        prev2, prev = prev, cur
    return min(prev) if prefix else prev[lb]


# --------------------------------------------------------------------------- documents


class FlatDoc:
    """A document flattened the way Meilisearch flattens nested objects (dot notation)."""

    __slots__ = ("scalars", "raws")

    def __init__(self, doc: dict[str, Any]):
        self.scalars: dict[str, list[Any]] = {}
        self.raws: dict[str, list[Any]] = {}
        self._walk("", doc, True)

    def _walk(self, path: str, value: Any, record: bool) -> None:
        if record and path:
            self.raws.setdefault(path, []).append(value)
        if isinstance(value, dict):
            for k, v in value.items():
                self._walk(f"{path}.{k}" if path else str(k), v, True)
        elif isinstance(value, list):
            for v in value:
                self._walk(path, v, False)
        elif value is not None and path:
            self.scalars.setdefault(path, []).append(value)

    def values_under(self, attr: str) -> list[tuple[str, Any]]:
        """Scalar values of ``attr`` and of its nested fields, in document order."""
        out = []
        dotted = attr + "."
        for path, vals in self.scalars.items():
            if path == attr or path.startswith(dotted):
                out.extend((path, v) for v in vals)
        return out


_DOC_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _document_id(doc: dict[str, Any], pk: str) -> str:
    if pk not in doc:
        raise MeiliError(
            400,
            "missing_document_id",
            f"Document doesn't have a `{pk}` attribute: `{json.dumps(doc, separators=(',', ':'))}`.",
        )
    value = doc[pk]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and _DOC_ID_RE.match(value) and len(value.encode()) <= 511:
        return value
    raise MeiliError(
        400,
        "invalid_document_id",
        f"Document identifier `{json.dumps(value)}` is invalid. A document identifier can be of type "
        "integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and "
        "underscores (_), and can not be more than 511 bytes.",
    )


def _id_key(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _select_fields(doc: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    if fields is None or "*" in fields:
        return copy.deepcopy(doc)
    out: dict[str, Any] = {}
    for f in fields:
        if f in doc:
            out[f] = copy.deepcopy(doc[f])
            continue
        # nested selection "a.b"
        parts = f.split(".")
        for i in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:i])
            if head in doc and isinstance(doc[head], dict):
                sub = _select_fields(doc[head], [".".join(parts[i:])])
                if sub:
                    existing = out.setdefault(head, {})
                    if isinstance(existing, dict):
                        existing.update(sub)
                break
    return out


# --------------------------------------------------------------------------- settings

DEFAULT_RANKING_RULES = ["words", "typo", "proximity", "attribute", "sort", "exactness"]
_BUILTIN_RULES = {
    "words",
    "typo",
    "proximity",
    "attribute",
    "sort",
    "exactness",
    "attributeRank",
    "wordPosition",
}


def default_settings() -> dict[str, Any]:
    return {
        "displayedAttributes": ["*"],
        "searchableAttributes": ["*"],
        "filterableAttributes": [],
        "sortableAttributes": [],
        "rankingRules": list(DEFAULT_RANKING_RULES),
        "stopWords": [],
        "nonSeparatorTokens": [],
        "separatorTokens": [],
        "dictionary": [],
        "synonyms": {},
        "distinctAttribute": None,
        "proximityPrecision": "byWord",
        "typoTolerance": {
            "enabled": True,
            "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
            "disableOnWords": [],
            "disableOnAttributes": [],
            "disableOnNumbers": False,
        },
        "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
        "pagination": {"maxTotalHits": 1000},
        "embedders": {},
        "searchCutoffMs": None,
        "localizedAttributes": None,
        "facetSearch": True,
        "prefixSearch": "indexingTime",
    }


# route segment -> (setting name, update method)
SETTINGS_ROUTES = {
    "displayed-attributes": ("displayedAttributes", "PUT"),
    "searchable-attributes": ("searchableAttributes", "PUT"),
    "filterable-attributes": ("filterableAttributes", "PUT"),
    "sortable-attributes": ("sortableAttributes", "PUT"),
    "ranking-rules": ("rankingRules", "PUT"),
    "stop-words": ("stopWords", "PUT"),
    "non-separator-tokens": ("nonSeparatorTokens", "PUT"),
    "separator-tokens": ("separatorTokens", "PUT"),
    "dictionary": ("dictionary", "PUT"),
    "synonyms": ("synonyms", "PUT"),
    "distinct-attribute": ("distinctAttribute", "PUT"),
    "proximity-precision": ("proximityPrecision", "PUT"),
    "typo-tolerance": ("typoTolerance", "PATCH"),
    "faceting": ("faceting", "PATCH"),
    "pagination": ("pagination", "PATCH"),
    "embedders": ("embedders", "PATCH"),
    "search-cutoff-ms": ("searchCutoffMs", "PUT"),
    "localized-attributes": ("localizedAttributes", "PUT"),
    "facet-search": ("facetSearch", "PUT"),
    "prefix-search": ("prefixSearch", "PUT"),
}


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _setting_error(name: str, message: str) -> MeiliError:
    return _bad(f"invalid_settings_{_snake(name)}", f"Invalid value at `.{name}`: {message}")


def _str_list(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _setting_error(name, "expected an array of strings.")
    return list(value)


def _merge_object(name: str, current: dict[str, Any], patch: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """PATCH semantics for object settings: given keys replace, null resets a key."""
    if not isinstance(patch, dict):
        raise _setting_error(name, "expected an object.")
    out = copy.deepcopy(current)
    defaults = spec
    for k, v in patch.items():
        if k not in defaults:
            raise _bad(
                f"invalid_settings_{_snake(name)}",
                f"Unknown field `{k}` inside `.{name}`: expected one of "
                f"{', '.join(f'`{d}`' for d in defaults)}",
            )
        if v is None:
            out[k] = copy.deepcopy(defaults[k])
        elif isinstance(defaults[k], dict) and isinstance(v, dict) and k != "sortFacetValuesBy":
            out[k] = _merge_object(name, out[k], v, defaults[k])
        else:
            out[k] = v
    return out


def validate_setting(name: str, value: Any, current: Any) -> Any:
    """Validate one setting value (already known not to be null) and return the value to store."""
    d = default_settings()
    if name in ("displayedAttributes", "searchableAttributes"):
        vals = _str_list(name, value)
        if "*" in vals:
            return ["*"]
        return vals
    if name in ("sortableAttributes", "stopWords", "nonSeparatorTokens", "separatorTokens", "dictionary"):
        return sorted(set(_str_list(name, value)))
    if name == "filterableAttributes":
        if not isinstance(value, list):
            raise _setting_error(name, "expected an array.")
        for v in value:
            if isinstance(v, str):
                continue
            if isinstance(v, dict) and isinstance(v.get("attributePatterns"), list):
                continue
            raise _setting_error(
                name, "expected an array of strings or of `{attributePatterns, features}` objects."
            )
        if all(isinstance(v, str) for v in value):
            return sorted(set(value))
        return copy.deepcopy(value)
    if name == "rankingRules":
        vals = _str_list(name, value)
        for rule in vals:
            if rule in _BUILTIN_RULES:
                continue
            m = re.match(r"^(.+):(asc|desc)$", rule)
            if not m:
                raise _setting_error(
                    name,
                    f"`{rule}` ranking rule is invalid. Valid ranking rules are words, typo, sort, "
                    "proximity, attribute, exactness and custom ranking rules.",
                )
        return vals
    if name == "synonyms":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v)
            for k, v in value.items()
        ):
            raise _setting_error(name, "expected an object whose values are arrays of strings.")
        return {k: list(v) for k, v in sorted(value.items())}
    if name == "distinctAttribute":
        if not isinstance(value, str):
            raise _setting_error(name, "expected a string.")
        return value
    if name == "proximityPrecision":
        if value not in ("byWord", "byAttribute"):
            raise _setting_error(name, "expected one of `byWord`, `byAttribute`.")
        return value
    if name == "prefixSearch":
        if value not in ("indexingTime", "disabled"):
            raise _setting_error(name, "expected one of `indexingTime`, `disabled`.")
        return value
    if name == "facetSearch":
        if not isinstance(value, bool):
            raise _setting_error(name, "expected a boolean.")
        return value
    if name == "searchCutoffMs":
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _setting_error(name, "expected a positive integer.")
        return value
    if name == "localizedAttributes":
        if not isinstance(value, list):
            raise _setting_error(name, "expected an array.")
        return copy.deepcopy(value)
    if name == "typoTolerance":
        merged = _merge_object(name, current, value, d["typoTolerance"])
        if not isinstance(merged["enabled"], bool):
            raise _setting_error(name, "`enabled` must be a boolean.")
        mws = merged["minWordSizeForTypos"]
        one, two = mws.get("oneTypo"), mws.get("twoTypos")
        if not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 255 for x in (one, two)):
            raise _setting_error(name, "`minWordSizeForTypos` values must be integers.")
        if one > two:
            raise _bad(
                "invalid_settings_typo_tolerance",
                "`minWordSizeForTypos` setting is invalid. `oneTypo` and `twoTypos` fields should be between "
                "`0` and `255`, and `twoTypos` should be greater or equals to `oneTypo` but found "
                f"`oneTypo: {one}` and twoTypos: {two}`.",
            )
        for k in ("disableOnWords", "disableOnAttributes"):
            merged[k] = sorted(set(_str_list(name, merged[k])))
        return merged
    if name == "faceting":
        merged = _merge_object(name, current, value, d["faceting"])
        mv = merged["maxValuesPerFacet"]
        if not isinstance(mv, int) or isinstance(mv, bool) or mv < 0:
            raise _setting_error(name, "`maxValuesPerFacet` must be a positive integer.")
        sort_by = merged["sortFacetValuesBy"]
        if not isinstance(sort_by, dict) or not all(v in ("alpha", "count") for v in sort_by.values()):
            raise _setting_error(name, "`sortFacetValuesBy` values must be `alpha` or `count`.")
        sort_by.setdefault("*", "alpha")
        return merged
    if name == "pagination":
        merged = _merge_object(name, current, value, d["pagination"])
        mth = merged["maxTotalHits"]
        if not isinstance(mth, int) or isinstance(mth, bool) or mth < 1:
            raise _setting_error(name, "`maxTotalHits` must be a positive integer.")
        return merged
    if name == "embedders":
        if not isinstance(value, dict):
            raise _setting_error(name, "expected an object.")
        out = copy.deepcopy(current)
        for k, v in value.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = copy.deepcopy(v)
        return out
    raise _bad("bad_request", f"Unknown setting `{name}`.")


# --------------------------------------------------------------------------- filters


class _Tok:
    __slots__ = ("kind", "value", "pos")

    def __init__(self, kind: str, value: str, pos: int):
        self.kind, self.value, self.pos = kind, value, pos

    def kw(self, *words: str) -> bool:
        return self.kind == "word" and self.value.upper() in words


_FILTER_OPS_MSG = (
    "Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, `EXISTS`, "
    "`NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, `CONTAINS`, `NOT CONTAINS`, "
    "`STARTS WITH`, `NOT STARTS WITH`, `_geoRadius`, or `_geoBoundingBox`"
)


class FilterSyntaxError(Exception):
    pass


def _lex_filter(s: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(s)
    stop = set("()[],=<>'\"")
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
        elif c in "()[],":
            toks.append(
                _Tok({"(": "lparen", ")": "rparen", "[": "lbrack", "]": "rbrack", ",": "comma"}[c], c, i)
            )
            i += 1
        elif s.startswith(("!=", ">=", "<="), i):
            toks.append(_Tok("op", s[i : i + 2], i))
            i += 2
        elif c in "=<>":
            toks.append(_Tok("op", c, i))
            i += 1
        elif c in "'\"":
            j, buf = i + 1, []
            while j < n and s[j] != c:
                if s[j] == "\\" and j + 1 < n:
                    buf.append(s[j + 1])
                    j += 2
                    continue
                buf.append(s[j])
                j += 1
            if j >= n:
                raise FilterSyntaxError(
                    f"Expression `{s[i:]}` is missing the following closing delimiter: `{c}`."
                )
            toks.append(_Tok("str", "".join(buf), i))
            i = j + 1
        else:
            j = i
            while j < n and not s[j].isspace() and s[j] not in stop and not s.startswith("!=", j):
                j += 1
            if j == i:  # a lone "!"
                j = i + 1
            toks.append(_Tok("word", s[i:j], i))
            i = j
    toks.append(_Tok("eof", "", n))
    return toks


class _FilterParser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _lex_filter(text)
        self.i = 0

    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> _Tok:
        t = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def fail(self, tok: _Tok, what: str | None = None) -> FilterSyntaxError:
        rest = self.text[tok.pos :]
        msg = f"{what or _FILTER_OPS_MSG} at `{rest}`." if rest else f"{what or _FILTER_OPS_MSG}."
        return FilterSyntaxError(f"{msg}\n{tok.pos + 1}:{len(self.text) + 1} {self.text}")

    def parse(self):
        node = self.expr()
        if self.peek().kind != "eof":
            raise self.fail(self.peek(), "Found unexpected characters")
        return node

    def expr(self):
        return self.or_()

    def or_(self):
        parts = [self.and_()]
        while self.peek().kw("OR"):
            self.next()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def and_(self):
        parts = [self.not_()]
        while self.peek().kw("AND"):
            self.next()
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def not_(self):
        if (
            self.peek().kw("NOT")
            and self.peek(1).kind != "op"
            and not self.peek(1).kw("IN", "EXISTS", "IS", "CONTAINS", "STARTS", "TO")
        ):
            self.next()
            return ("not", self.not_())
        return self.primary()

    def value(self) -> str:
        t = self.next()
        if t.kind in ("word", "str"):
            return t.value
        raise self.fail(t, "Was expecting a value")

    def primary(self):
        t = self.peek()
        if t.kind == "lparen":
            self.next()
            node = self.expr()
            if self.peek().kind != "rparen":
                raise self.fail(self.peek(), "Expression is missing the following closing delimiter: `)`")
            self.next()
            return node
        if t.kind not in ("word", "str") or (t.kind == "word" and t.kw("AND", "OR")):
            raise self.fail(t, "Was expecting a value")
        if t.kind == "word" and t.value.startswith(("_geo",)):
            raise self.fail(t, "The emulator does not support geo filters")
        attr = self.next().value
        op = self.peek()
        if op.kind == "op":
            self.next()
            return ("cmp", attr, op.value, self.value())
        if op.kw("IN"):
            self.next()
            return ("in", attr, self.value_list())
        if op.kw("EXISTS"):
            self.next()
            return ("exists", attr)
        if op.kw("CONTAINS"):
            self.next()
            return ("contains", attr, self.value())
        if op.kw("STARTS") and self.peek(1).kw("WITH"):
            self.next()
            self.next()
            return ("starts", attr, self.value())
        if op.kw("IS"):
            self.next()
            negate = False
            if self.peek().kw("NOT"):
                self.next()
                negate = True
            what = self.next()
            if what.kw("NULL"):
                node = ("null", attr)
            elif what.kw("EMPTY"):
                node = ("empty", attr)
            else:
                raise self.fail(what)
            return ("not", node) if negate else node
        if op.kw("NOT"):
            self.next()
            nxt = self.next()
            if nxt.kw("IN"):
                return ("not", ("in", attr, self.value_list()))
            if nxt.kw("EXISTS"):
                return ("not", ("exists", attr))
            if nxt.kw("CONTAINS"):
                return ("not", ("contains", attr, self.value()))
            if nxt.kw("STARTS") and self.peek().kw("WITH"):
                self.next()
                return ("not", ("starts", attr, self.value()))
            raise self.fail(nxt)
        if op.kind in ("word", "str") and self.peek(1).kw("TO"):
            low = self.next().value
            self.next()
            return ("range", attr, low, self.value())
        raise self.fail(op)

    def value_list(self) -> list[str]:
        t = self.next()
        if t.kind != "lbrack":
            raise self.fail(t, "Expected `[` after `IN` keyword")
        values: list[str] = []
        while True:
            if self.peek().kind == "rbrack":
                self.next()
                return values
            values.append(self.value())
            sep = self.next()
            if sep.kind == "rbrack":
                return values
            if sep.kind != "comma":
                raise self.fail(sep, "Expected matching `]` after the list")


def parse_filter(value: Any, code: str):
    """Parse a filter (string, or array of strings / arrays of strings) into an AST; None = no filter."""
    try:
        if value is None:
            return None
        if isinstance(value, str):
            if not value.strip():
                return None
            return _FilterParser(value).parse()
        if isinstance(value, list):
            parts = []
            for item in value:
                if isinstance(item, str):
                    node = parse_filter(item, code)
                    if node is not None:
                        parts.append(node)
                elif isinstance(item, list):
                    ors = []
                    for sub in item:
                        if not isinstance(sub, str):
                            raise _bad(
                                code,
                                "Invalid value type at `.filter`: expected a string or an array of "
                                "strings, nested arrays can only contain strings.",
                            )
                        node = parse_filter(sub, code)
                        if node is not None:
                            ors.append(node)
                    if ors:
                        parts.append(("or", ors))
                else:
                    raise _bad(
                        code,
                        "Invalid value type at `.filter`: expected a string or an array, "
                        f"but found: `{json.dumps(item)}`",
                    )
            if not parts:
                return None
            return parts[0] if len(parts) == 1 else ("and", parts)
    except FilterSyntaxError as exc:
        raise _bad(code, str(exc))
    raise _bad(
        code,
        f"Invalid value type at `.filter`: expected a string or an array, but found: `{json.dumps(value)}`",
    )


def _filter_attributes(node, out: list[str]) -> list[str]:
    kind = node[0]
    if kind in ("and", "or"):
        for child in node[1]:
            _filter_attributes(child, out)
    elif kind == "not":
        _filter_attributes(node[1], out)
    else:
        out.append(node[1])
    return out


def _facet_norm(value: Any) -> str:
    return _scalar_text(value).strip().lower()


def _as_number(token: str) -> float | None:
    try:
        f = float(token)
    except (TypeError, ValueError):
        return None
    if f != f or f in (float("inf"), float("-inf")):
        return None
    return f


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _eq(v: Any, token: str) -> bool:
    if _is_number(v):
        n = _as_number(token)
        return n is not None and float(v) == n
    return _facet_norm(v) == token.strip().lower()


def _cmp(v: Any, op: str, token: str) -> bool:
    n = _as_number(token)
    if n is not None:
        if not _is_number(v):
            return False
        a, b = float(v), n
    else:
        if _is_number(v):
            return False
        a, b = _facet_norm(v), token.strip().lower()
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def eval_filter(node, fd: FlatDoc) -> bool:
    kind = node[0]
    if kind == "and":
        return all(eval_filter(c, fd) for c in node[1])
    if kind == "or":
        return any(eval_filter(c, fd) for c in node[1])
    if kind == "not":
        return not eval_filter(node[1], fd)
    attr = node[1]
    vals = fd.scalars.get(attr, [])
    if kind == "cmp":
        op, token = node[2], node[3]
        if op == "=":
            return any(_eq(v, token) for v in vals)
        if op == "!=":
            return not any(_eq(v, token) for v in vals)
        return any(_cmp(v, op, token) for v in vals)
    if kind == "range":
        return any(_cmp(v, ">=", node[2]) and _cmp(v, "<=", node[3]) for v in vals)
    if kind == "in":
        return any(_eq(v, t) for v in vals for t in node[2])
    if kind == "exists":
        return attr in fd.raws
    if kind == "null":
        return any(r is None for r in fd.raws.get(attr, []))
    if kind == "empty":
        return any(r == "" or r == [] or r == {} for r in fd.raws.get(attr, []))
    if kind == "contains":
        needle = node[2].strip().lower()
        return any(isinstance(v, str) and needle in _facet_norm(v) for v in vals)
    if kind == "starts":
        needle = node[2].strip().lower()
        return any(isinstance(v, str) and _facet_norm(v).startswith(needle) for v in vals)
    raise AssertionError(kind)


def _pattern_match(pattern: str, attr: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*") and pattern.endswith("*") and len(pattern) > 1:
        return pattern[1:-1] in attr
    if pattern.endswith("*"):
        return attr.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return attr.endswith(pattern[1:])
    return attr == pattern or attr.startswith(pattern + ".")


# --------------------------------------------------------------------------- index


class Index:
    def __init__(self, uid: str, primary_key: str | None):
        self.uid = uid
        self.primary_key = primary_key
        self.created_at = _now()
        self.updated_at = self.created_at
        self.documents: dict[str, dict[str, Any]] = {}  # insertion order = internal id order
        self.settings = default_settings()
        self._flat: dict[str, FlatDoc] = {}
        self._words: dict[str, dict[str, list[tuple[int, int]]]] = {}
        self._seq: dict[str, dict[tuple[int, int], str]] = {}
        self._fields: list[str] = []

    # ---- info
    def info(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "primaryKey": self.primary_key,
            "createdAt": _fmt_time(self.created_at),
            "updatedAt": _fmt_time(self.updated_at),
        }

    def touch(self) -> None:
        self.updated_at = _now()

    def field_distribution(self) -> dict[str, int]:
        dist: dict[str, int] = {}
        for key in self.documents:
            fd = self.flat(key)
            for path in fd.raws:
                dist[path] = dist.get(path, 0) + 1
        return dict(sorted(dist.items()))

    # ---- documents
    def invalidate(self, key: str | None = None) -> None:
        if key is None:
            self._flat.clear()
            self._words.clear()
            self._seq.clear()
            self._fields = []
            for doc in self.documents.values():
                self._note_fields(doc)
        else:
            self._flat.pop(key, None)
            self._words.pop(key, None)
            self._seq.pop(key, None)

    def _note_fields(self, doc: dict[str, Any]) -> None:
        for k in doc:
            if k not in self._fields:
                self._fields.append(k)

    def put(self, key: str, doc: dict[str, Any]) -> None:
        self.documents[key] = doc
        self._note_fields(doc)
        self.invalidate(key)

    def remove(self, key: str) -> bool:
        if key in self.documents:
            del self.documents[key]
            self.invalidate(key)
            return True
        return False

    def clear(self) -> int:
        n = len(self.documents)
        self.documents.clear()
        self.invalidate()
        return n

    def flat(self, key: str) -> FlatDoc:
        fd = self._flat.get(key)
        if fd is None:
            fd = self._flat[key] = FlatDoc(self.documents[key])
        return fd

    # ---- settings helpers
    def searchable_attributes(self) -> list[str]:
        sa = self.settings["searchableAttributes"]
        return list(self._fields) if sa == ["*"] else list(sa)

    def displayed(self, doc: dict[str, Any]) -> dict[str, Any]:
        da = self.settings["displayedAttributes"]
        return doc if da == ["*"] else _select_fields(doc, da)

    def filterable_patterns(self) -> list[str]:
        out = []
        for rule in self.settings["filterableAttributes"]:
            if isinstance(rule, str):
                out.append(rule)
            else:
                out.extend(rule.get("attributePatterns", []))
        return out

    def is_filterable(self, attr: str) -> bool:
        return any(_pattern_match(p, attr) for p in self.filterable_patterns())

    def is_sortable(self, attr: str) -> bool:
        return any(attr == s or attr.startswith(s + ".") for s in self.settings["sortableAttributes"])

    def check_filter(self, ast, code: str) -> None:
        if ast is None:
            return
        for attr in _filter_attributes(ast, []):
            if not self.is_filterable(attr):
                patterns = self.filterable_patterns()
                if patterns:
                    avail = f"Available filterable attribute patterns are: `{', '.join(sorted(patterns))}`."
                else:
                    avail = "This index does not have configured filterable attributes."
                raise _bad(code, f"Index `{self.uid}`: Attribute `{attr}` is not filterable. {avail}")

    def filtered_keys(self, ast) -> list[str]:
        if ast is None:
            return list(self.documents)
        return [k for k in self.documents if eval_filter(ast, self.flat(k))]

    # ---- word index (attribute rank, position) per normalized word
    def words(self, key: str) -> dict[str, list[tuple[int, int]]]:
        w = self._words.get(key)
        if w is None:
            w, seq = {}, {}
            fd = self.flat(key)
            for rank, attr in enumerate(self.searchable_attributes()):
                pos = 0
                for _path, value in fd.values_under(attr):
                    for word in tokenize(_scalar_text(value)):
                        w.setdefault(word, []).append((rank, pos))
                        seq[(rank, pos)] = word
                        pos += 1
                    pos += 8  # values of an array are far apart
            self._words[key] = w
            self._seq[key] = seq
        return w

    def seq(self, key: str) -> dict[tuple[int, int], str]:
        self.words(key)
        return self._seq[key]


# --------------------------------------------------------------------------- search


SEARCH_PARAMS = {
    "q",
    "offset",
    "limit",
    "page",
    "hitsPerPage",
    "filter",
    "facets",
    "attributesToRetrieve",
    "attributesToCrop",
    "cropLength",
    "cropMarker",
    "attributesToHighlight",
    "highlightPreTag",
    "highlightPostTag",
    "showMatchesPosition",
    "showRankingScore",
    "showRankingScoreDetails",
    "showPerformanceDetails",
    "sort",
    "matchingStrategy",
    "attributesToSearchOn",
    "rankingScoreThreshold",
    "distinct",
    "hybrid",
    "vector",
    "retrieveVectors",
    "locales",
    "media",
    "useNetwork",
}


class _Term:
    """One query term: a word (typo/prefix tolerant), a quoted phrase, or a synonym group."""

    def __init__(self, words: list[str], phrase: bool = False):
        self.words = words  # normalized words; phrase/synonym groups have several
        self.phrase = phrase
        self.prefix = False
        self.alternatives: list[list[str]] = []  # synonyms: each must match exactly (all words)

    @property
    def text(self) -> str:
        return " ".join(self.words)


def _parse_query(q: str, stop_words: set[str], synonyms: dict[str, list[list[str]]], prefix_enabled: bool):
    terms: list[_Term] = []
    negatives: list[_Term] = []
    i, n = 0, len(q)
    plain_words: list[tuple[str, bool]] = []  # (word, negative) for unquoted segment

    def flush_plain():
        for word, neg in plain_words:
            (negatives if neg else terms).append(_Term([word]))
        plain_words.clear()

    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
            continue
        negative = c == "-" and i + 1 < n and not q[i + 1].isspace() and (i == 0 or q[i - 1].isspace())
        start = i + 1 if negative else i
        if start < n and q[start] == '"':
            end = q.find('"', start + 1)
            end = n if end < 0 else end
            words = tokenize(q[start + 1 : end])
            flush_plain()
            if words:
                (negatives if negative else terms).append(_Term(words, phrase=True))
            i = end + 1
            continue
        j = start
        while j < n and not q[j].isspace() and q[j] != '"':
            j += 1
        for k, word in enumerate(tokenize(q[start:j])):
            plain_words.append((word, negative and k == 0))
        i = j
    flush_plain()

    if stop_words:
        kept = [t for t in terms if t.phrase or t.words[0] not in stop_words]
        terms = kept if kept else terms
    # multi-word synonyms: merge consecutive plain words whose joined text is a synonym key
    merged: list[_Term] = []
    idx = 0
    while idx < len(terms):
        done = False
        for size in (3, 2):
            group = terms[idx : idx + size]
            if len(group) == size and not any(t.phrase for t in group):
                key = " ".join(t.words[0] for t in group)
                if key in synonyms:
                    term = _Term([t.words[0] for t in group])
                    term.alternatives = synonyms[key]
                    merged.append(term)
                    idx += size
                    done = True
                    break
        if not done:
            term = terms[idx]
            if not term.phrase and term.words[0] in synonyms:
                term.alternatives = synonyms[term.words[0]]
            merged.append(term)
            idx += 1
    terms = merged
    if terms and prefix_enabled and not terms[-1].phrase and len(terms[-1].words) == 1:
        if q and not q[-1].isspace() and q.rstrip()[-1:] != '"':
            terms[-1].prefix = True
    return terms, negatives


class _Searcher:
    def __init__(self, index: Index, terms: list[_Term], allowed_ranks: set[int] | None):
        self.index = index
        self.terms = terms
        self.allowed = allowed_ranks
        tt = index.settings["typoTolerance"]
        self.typo_enabled = tt["enabled"]
        self.one = tt["minWordSizeForTypos"]["oneTypo"]
        self.two = tt["minWordSizeForTypos"]["twoTypos"]
        self.no_typo_words = {normalize_text(w) for w in tt["disableOnWords"]}
        self.no_typo_numbers = tt["disableOnNumbers"]
        attrs = index.searchable_attributes()
        self.no_typo_ranks = {
            r
            for r, a in enumerate(attrs)
            if any(a == d or a.startswith(d + ".") for d in tt["disableOnAttributes"])
        }
        self._memo: dict[tuple[int, str], tuple[int, bool] | None] = {}

    def max_typos(self, word: str) -> int:
        if not self.typo_enabled or word in self.no_typo_words:
            return 0
        if self.no_typo_numbers and word.isdigit():
            return 0
        if len(word) >= self.two:
            return 2
        if len(word) >= self.one:
            return 1
        return 0

    def _word_match(self, ti: int, word: str) -> tuple[int, bool] | None:
        key = (ti, word)
        if key in self._memo:
            return self._memo[key]
        term = self.terms[ti]
        t = term.words[0]
        res: tuple[int, bool] | None = None
        if word == t:
            res = (0, True)
        elif term.prefix and word.startswith(t):
            res = (0, False)
        else:
            mt = self.max_typos(t)
            if mt and (term.prefix or abs(len(word) - len(t)) <= mt):
                d = _osa_distance(t, word, term.prefix)
                if t[0] != word[0]:
                    d += 1  # a typo on the first letter counts as two
                if d <= mt:
                    res = (d, False)
        self._memo[key] = res
        return res

    def _ok_rank(self, rank: int) -> bool:
        return self.allowed is None or rank in self.allowed

    def _phrase_occurrences(self, key: str, words: list[str]) -> list[tuple[int, int]]:
        index_words = self.index.words(key)
        seq = self.index.seq(key)
        out = []
        for rank, pos in index_words.get(words[0], []):
            if all(seq.get((rank, pos + k)) == w for k, w in enumerate(words[1:], 1)):
                out.append((rank, pos))
        return out

    def term_match(self, key: str, ti: int):
        """Best match of term ``ti`` in document ``key``: (typos, exact, occurrences) or None."""
        term = self.terms[ti]
        words = self.index.words(key)
        occ: list[tuple[int, int, int]] = []  # (rank, pos, typos)
        exact = False
        best = None
        if term.phrase or len(term.words) > 1:
            hits = [o for o in self._phrase_occurrences(key, term.words) if self._ok_rank(o[0])]
            if hits:
                occ.extend((r, p, 0) for r, p in hits)
                best, exact = 0, True
        else:
            for word, positions in words.items():
                m = self._word_match(ti, word)
                if m is None:
                    continue
                typos, is_exact = m
                for rank, pos in positions:
                    if not self._ok_rank(rank):
                        continue
                    if typos and rank in self.no_typo_ranks:
                        continue
                    occ.append((rank, pos, typos))
                    if best is None or typos < best:
                        best = typos
                    exact = exact or is_exact
        for alt in term.alternatives:
            hits = [o for o in self._phrase_occurrences(key, alt) if self._ok_rank(o[0])]
            if hits:
                occ.extend((r, p, 0) for r, p in hits)
                best = 0 if best is None else min(best, 0)
        if best is None:
            return None
        return best, exact, occ

    def excluded(self, key: str, negatives: list[_Term]) -> bool:
        words = self.index.words(key)
        for neg in negatives:
            if neg.phrase:
                if self._phrase_occurrences(key, neg.words):
                    return True
            elif neg.words[0] in words:
                return True
        return False


def _proximity(a: list[tuple[int, int, int]], b: list[tuple[int, int, int]]) -> int:
    best = 8
    for ra, pa, _ in a:
        for rb, pb, _ in b:
            if ra != rb:
                continue
            d = pb - pa if pb > pa else pa - pb + 1
            best = min(best, d)
    return min(best, 8)


def _sort_value(fd: FlatDoc, attr: str, descending: bool):
    vals = fd.scalars.get(attr, [])
    if not vals:
        for path, vs in fd.scalars.items():
            if path.startswith(attr + "."):
                vals = vals + vs
    keyed = []
    for v in vals:
        if _is_number(v):
            keyed.append((0, float(v), ""))
        else:
            keyed.append((1, 0.0, _facet_norm(v)))
    if not keyed:
        return None
    return max(keyed) if descending else min(keyed)


def _rank_map(index: Index, keys: list[str], attr: str, descending: bool) -> dict[str, tuple]:
    """Map doc -> sortable key for one ``attr:asc|desc`` criterion (missing values last)."""
    values = {k: _sort_value(index.flat(k), attr, descending) for k in keys}
    present = sorted({v for v in values.values() if v is not None})
    # numbers before strings in both directions, like Meilisearch's facet iteration
    nums = [v for v in present if v[0] == 0]
    strs = [v for v in present if v[0] == 1]
    if descending:
        nums.reverse()
        strs.reverse()
    order = {v: i for i, v in enumerate(nums + strs)}
    return {k: ((0, order[v]) if v is not None else (1, 0)) for k, v in values.items()}


def _parse_sort(index: Index, sort: Any) -> list[tuple[str, bool]]:
    if sort is None:
        return []
    if not isinstance(sort, list) or not all(isinstance(s, str) for s in sort):
        raise _bad("invalid_search_sort", "Invalid value type at `.sort`: expected an array of strings.")
    out = []
    for s in sort:
        m = re.match(r"^\s*(.+?):(asc|desc)\s*$", s)
        if not m:
            raise _bad(
                "invalid_search_sort",
                f"Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, "
                f"found `{s}`.",
            )
        attr, direction = m.group(1), m.group(2)
        if attr.startswith("_geoPoint"):
            raise _bad("invalid_search_sort", "The emulator does not support `_geoPoint` sorting.")
        if not index.is_sortable(attr):
            avail = ", ".join(index.settings["sortableAttributes"])
            if avail:
                msg = f"Attribute `{attr}` is not sortable. Available sortable attributes are: `{avail}`."
            else:
                msg = (
                    f"Attribute `{attr}` is not sortable. This index does not have configured sortable "
                    "attributes."
                )
            raise _bad("invalid_search_sort", f"Index `{index.uid}`: {msg}")
        out.append((attr, direction == "desc"))
    if out and "sort" not in index.settings["rankingRules"]:
        raise _bad(
            "invalid_search_sort",
            "You must specify where `sort` is listed in the rankingRules setting to use the sort parameter "
            "at search time.",
        )
    return out


def _str_list_param(params: dict[str, Any], name: str, code: str) -> list[str] | None:
    v = params.get(name)
    if v is None:
        return None
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _bad(code, f"Invalid value type at `.{name}`: expected an array of strings.")
    return v


def _int_param(
    params: dict[str, Any], name: str, code: str, default: int | None, minimum: int = 0
) -> int | None:
    v = params.get(name, default)
    if v is None:
        return default
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise _bad(
            code, f"Invalid value at `.{name}`: expected a positive integer, but found `{json.dumps(v)}`."
        )
    return v


def _stringify(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    if value is None or isinstance(value, str):
        return value
    return _scalar_text(value)


def search_index(index: Index, params: dict[str, Any], keys_out: list[str] | None = None) -> dict[str, Any]:
    """Run one search; ``keys_out`` (if given) receives every ranked document key."""
    started = time.perf_counter()
    unknown = [k for k in params if k not in SEARCH_PARAMS]
    if unknown:
        raise _bad(
            "bad_request",
            f"Unknown field `{unknown[0]}`: expected one of "
            f"{', '.join(f'`{p}`' for p in sorted(SEARCH_PARAMS))}",
        )
    q = params.get("q")
    if q is not None and not isinstance(q, str):
        raise _bad(
            "invalid_search_q", f"Invalid value type at `.q`: expected a string, but found `{json.dumps(q)}`"
        )
    q = q or ""
    offset = _int_param(params, "offset", "invalid_search_offset", 0)
    limit = _int_param(params, "limit", "invalid_search_limit", 20)
    page = _int_param(params, "page", "invalid_search_page", None)
    hits_per_page = _int_param(params, "hitsPerPage", "invalid_search_hits_per_page", None)
    page_mode = params.get("page") is not None or params.get("hitsPerPage") is not None
    strategy = params.get("matchingStrategy", "last")
    if strategy not in ("last", "all", "frequency"):
        raise _bad(
            "invalid_search_matching_strategy",
            f"Unknown value `{strategy}` at `.matchingStrategy`: expected one of `last`, `all`, `frequency`",
        )
    to_retrieve = _str_list_param(params, "attributesToRetrieve", "invalid_search_attributes_to_retrieve")
    to_highlight = _str_list_param(params, "attributesToHighlight", "invalid_search_attributes_to_highlight")
    facets = _str_list_param(params, "facets", "invalid_search_facets")
    search_on = _str_list_param(params, "attributesToSearchOn", "invalid_search_attributes_to_search_on")
    show_score = params.get("showRankingScore", False)
    if not isinstance(show_score, bool):
        raise _bad(
            "invalid_search_show_ranking_score",
            "Invalid value type at `.showRankingScore`: expected a boolean",
        )
    threshold = params.get("rankingScoreThreshold")
    if threshold is not None and (not _is_number(threshold) or not 0 <= threshold <= 1):
        raise _bad(
            "invalid_search_ranking_score_threshold",
            "Invalid value at `.rankingScoreThreshold`: the value of `rankingScoreThreshold` is "
            "invalid, expected a float between `0.0` and `1.0`.",
        )

    ast = parse_filter(params.get("filter"), "invalid_search_filter")
    index.check_filter(ast, "invalid_search_filter")
    sort = _parse_sort(index, params.get("sort"))

    distinct = params.get("distinct")
    if distinct is not None:
        if not isinstance(distinct, str):
            raise _bad("invalid_search_distinct", "Invalid value type at `.distinct`: expected a string")
        if not index.is_filterable(distinct):
            raise _bad(
                "invalid_search_distinct",
                f"Index `{index.uid}`: Attribute `{distinct}` is not filterable and thus, cannot be "
                "used as distinct attribute.",
            )
    else:
        distinct = index.settings["distinctAttribute"]

    searchable = index.searchable_attributes()
    allowed: set[int] | None = None
    if search_on is not None and "*" not in search_on:
        allowed = set()
        for attr in search_on:
            if attr not in searchable and index.settings["searchableAttributes"] != ["*"]:
                raise _bad(
                    "invalid_search_attributes_to_search_on",
                    f"Index `{index.uid}`: Attribute `{attr}` is not searchable. Available searchable "
                    f"attributes are: `{', '.join(searchable)}`.",
                )
            if attr in searchable:
                allowed.add(searchable.index(attr))

    synonyms = {}
    for k, alts in index.settings["synonyms"].items():
        nk = " ".join(tokenize(k))
        if nk:
            synonyms.setdefault(nk, []).extend(tokenize(a) for a in alts if tokenize(a))
    stop_words = {normalize_text(w) for w in index.settings["stopWords"]}
    terms, negatives = _parse_query(q, stop_words, synonyms, index.settings["prefixSearch"] != "disabled")
    searcher = _Searcher(index, terms, allowed)

    candidates = index.filtered_keys(ast)
    if negatives:
        candidates = [k for k in candidates if not searcher.excluded(k, negatives)]

    n_terms = len(terms)
    metrics: dict[str, dict[str, Any]] = {}
    if n_terms:
        # term removal order for the matching strategy
        if strategy == "frequency":
            freq = []
            for ti in range(n_terms):
                freq.append(sum(1 for k in candidates if searcher.term_match(k, ti) is not None))
            removal = sorted(range(n_terms), key=lambda ti: (-freq[ti], -ti))
        else:
            removal = list(range(n_terms - 1, -1, -1))
        for key in candidates:
            matches = [searcher.term_match(key, ti) for ti in range(n_terms)]
            kept = set(range(n_terms))
            ok = all(m is not None for m in matches)
            if not ok and strategy != "all":
                for ti in removal[:-1]:
                    kept.discard(ti)
                    if all(matches[t] is not None for t in kept):
                        ok = True
                        break
            if not ok:
                continue
            used = sorted(kept)
            typos = sum(matches[t][0] for t in used)
            exact = sum(1 for t in used if matches[t][1])
            prox = sum(_proximity(matches[a][2], matches[b][2]) for a, b in zip(used, used[1:]))
            attr_rank = sum(min(o[0] for o in matches[t][2]) for t in used)
            word_pos = 0
            for t in used:
                best_rank = min(o[0] for o in matches[t][2])
                word_pos += min(o[1] for o in matches[t][2] if o[0] == best_rank)
            full = 0
            doc_words = index.words(key)
            qtext = [w for t in terms for w in t.words]
            for rank in range(len(searchable)):
                attr_words = [
                    w
                    for w, _pos in sorted(
                        ((w, p) for w, occ in doc_words.items() for r, p in occ if r == rank),
                        key=lambda x: x[1],
                    )
                ]
                if attr_words and attr_words == qtext:
                    full = 2
                    break
                if attr_words[: len(qtext)] == qtext:
                    full = max(full, 1)
            metrics[key] = {
                "words": len(used),
                "typo": typos,
                "proximity": prox,
                "attributeRank": attr_rank,
                "wordPosition": word_pos,
                "exactness": (full, exact),
            }
        candidates = [k for k in candidates if k in metrics]

    # ranking
    rank_maps: dict[tuple[str, bool], dict[str, tuple]] = {}

    def rank_map(attr: str, desc: bool) -> dict[str, tuple]:
        if (attr, desc) not in rank_maps:
            rank_maps[(attr, desc)] = _rank_map(index, candidates, attr, desc)
        return rank_maps[(attr, desc)]

    order = {k: i for i, k in enumerate(index.documents)}

    def sort_key(key: str):
        m = metrics.get(key)
        parts: list[Any] = []
        for rule in index.settings["rankingRules"]:
            if rule == "sort":
                for attr, desc in sort:
                    parts.append(rank_map(attr, desc)[key])
            elif rule in (
                "words",
                "typo",
                "proximity",
                "attribute",
                "attributeRank",
                "wordPosition",
                "exactness",
            ):
                if m is None:
                    continue
                if rule == "words":
                    parts.append(-m["words"])
                elif rule == "typo":
                    parts.append(m["typo"])
                elif rule == "proximity":
                    parts.append(m["proximity"])
                elif rule == "attribute":
                    parts.append((m["attributeRank"], m["wordPosition"]))
                elif rule in ("attributeRank", "wordPosition"):
                    parts.append(m[rule])
                else:
                    parts.append((-m["exactness"][0], -m["exactness"][1]))
            else:
                mm = re.match(r"^(.+):(asc|desc)$", rule)
                if mm:
                    parts.append(rank_map(mm.group(1), mm.group(2) == "desc")[key])
        parts.append(order[key])
        return tuple(parts)

    ranked = sorted(candidates, key=sort_key)

    def score(key: str) -> float:
        m = metrics.get(key)
        if m is None or not n_terms:
            return 1.0
        k = m["words"]
        s = k / n_terms
        s *= 1 - m["typo"] / (2 * k + 1)
        s *= 1 - m["proximity"] / (8 * max(k - 1, 0) + 1) * 0.5
        s *= 1 - min(m["attributeRank"] / (k * max(len(searchable), 1) + 1), 1) * 0.5
        s *= 0.9 + 0.1 * (m["exactness"][1] / k)
        return round(s, 6)

    if threshold is not None:
        ranked = [k for k in ranked if score(k) >= threshold]

    if distinct:
        seen: set[str] = set()
        deduped = []
        for key in ranked:
            vals = index.flat(key).scalars.get(distinct, [])
            if not vals:
                deduped.append(key)
                continue
            dv = _facet_norm(vals[0])
            if dv in seen:
                continue
            seen.add(dv)
            deduped.append(key)
        ranked = deduped

    if keys_out is not None:
        keys_out.extend(ranked)
    max_total = index.settings["pagination"]["maxTotalHits"]
    total = len(ranked)
    accessible = ranked[:max_total]
    if page_mode:
        hpp = 20 if hits_per_page is None else hits_per_page
        pg = 1 if page is None else page
        start = (pg - 1) * hpp if pg > 0 else 0
        page_keys = accessible[start : start + hpp] if pg > 0 and hpp > 0 else []
    else:
        offset = min(offset, max_total)  # like Meilisearch: no document beyond maxTotalHits
        page_keys = accessible[offset : offset + limit]

    pre = params.get("highlightPreTag", "<em>")
    post = params.get("highlightPostTag", "</em>")
    hits = []
    for key in page_keys:
        doc = index.displayed(index.documents[key])
        hit = _select_fields(doc, to_retrieve)
        if to_highlight is not None or params.get("attributesToCrop"):
            formatted = _stringify(
                copy.deepcopy(doc if to_retrieve is None else _select_fields(doc, to_retrieve))
            )
            targets = set(formatted) if (to_highlight is None or "*" in to_highlight) else set(to_highlight)
            if to_highlight is not None:
                for attr in targets:
                    if attr in formatted:
                        formatted[attr] = _highlight(formatted[attr], searcher, pre, post)
            hit["_formatted"] = formatted
        if show_score:
            hit["_rankingScore"] = score(key)
        hits.append(hit)

    result: dict[str, Any] = {"hits": hits, "query": q, "processingTimeMs": 0}
    if page_mode:
        hpp = 20 if hits_per_page is None else hits_per_page
        total_hits = total
        result.update(
            {
                "hitsPerPage": hpp,
                "page": 1 if page is None else page,
                "totalPages": (-(-total_hits // hpp)) if hpp else 0,
                "totalHits": total_hits,
            }
        )
    else:
        result.update({"limit": limit, "offset": offset, "estimatedTotalHits": total})
    if facets is not None:
        dist, stats = facet_distribution(index, ranked, facets)
        result["facetDistribution"] = dist
        result["facetStats"] = stats
    result["processingTimeMs"] = int((time.perf_counter() - started) * 1000)
    return result


def _highlight(value: Any, searcher: _Searcher, pre: str, post: str) -> Any:
    if isinstance(value, list):
        return [_highlight(v, searcher, pre, post) for v in value]
    if isinstance(value, dict):
        return {k: _highlight(v, searcher, pre, post) for k, v in value.items()}
    if not isinstance(value, str) or not searcher.terms:
        return value
    out, last = [], 0
    for start, end, word in _word_spans(value):
        hit_end = None
        for ti, term in enumerate(searcher.terms):
            if term.phrase or len(term.words) > 1:
                if word in term.words:
                    hit_end = end
            else:
                m = searcher._word_match(ti, word)
                if m is not None:
                    # a pure prefix match highlights the matched prefix only
                    is_prefix = m == (0, False) and word.startswith(term.words[0])
                    hit_end = min(end, start + len(term.words[0])) if is_prefix else end
            if hit_end is not None:
                break
        if hit_end is not None:
            out.append(value[last:start])
            out.append(pre + value[start:hit_end] + post)
            last = hit_end
    out.append(value[last:])
    return "".join(out)


def facet_distribution(index: Index, keys: list[str], facets: list[str]):
    patterns = index.filterable_patterns()
    if "*" in facets:
        names = sorted({p for p in patterns if "*" not in p})
    else:
        names = facets
        for f in names:
            if not index.is_filterable(f):
                avail = ", ".join(sorted(patterns))
                raise _bad(
                    "invalid_search_facets",
                    f"Index `{index.uid}`: Invalid facet distribution, attribute `{f}` is not filterable. "
                    f"The available filterable attributes are `{avail}`.",
                )
    max_values = index.settings["faceting"]["maxValuesPerFacet"]
    sort_by = index.settings["faceting"]["sortFacetValuesBy"]
    dist: dict[str, dict[str, int]] = {}
    stats: dict[str, dict[str, float]] = {}
    for name in names:
        counts: dict[str, int] = {}
        labels: dict[str, str] = {}
        nums: list[float] = []
        for key in keys:
            seen = set()
            for v in index.flat(key).scalars.get(name, []):
                label = _scalar_text(v)
                norm = label if _is_number(v) else _facet_norm(v)
                if _is_number(v):
                    nums.append(float(v))
                if norm in seen:
                    continue
                seen.add(norm)
                labels.setdefault(norm, label)
                counts[norm] = counts.get(norm, 0) + 1
        how = sort_by.get(name, sort_by.get("*", "alpha"))
        if how == "count":
            items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        else:
            items = sorted(counts.items())
        dist[name] = {labels[k]: c for k, c in items[:max_values]}
        if nums:
            lo, hi = min(nums), max(nums)
            stats[name] = {
                "min": int(lo) if lo.is_integer() else lo,
                "max": int(hi) if hi.is_integer() else hi,
            }
    return dist, stats


# --------------------------------------------------------------------------- tasks

TASK_TYPES = {
    "documentAdditionOrUpdate",
    "documentEdition",
    "documentDeletion",
    "settingsUpdate",
    "indexCreation",
    "indexDeletion",
    "indexUpdate",
    "indexSwap",
    "taskCancelation",
    "taskDeletion",
    "dumpCreation",
    "snapshotCreation",
    "export",
    "upgradeDatabase",
    "indexCompaction",
}
TASK_STATUSES = {"enqueued", "processing", "succeeded", "failed", "canceled"}
_UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,400}$")


def _check_index_uid(uid: Any, code: str = "invalid_index_uid") -> str:
    if not isinstance(uid, str) or not _UID_RE.match(uid):
        raise _bad(
            code,
            f"`{uid}` is not a valid index uid. Index uid can be an integer or a string containing only "
            "alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes.",
        )
    return uid


class Task:
    def __init__(
        self,
        uid: int,
        index_uid: str | None,
        type_: str,
        details: dict[str, Any] | None,
        payload: dict[str, Any],
    ):
        self.uid = uid
        self.index_uid = index_uid
        self.type = type_
        self.status = "enqueued"
        self.details = details
        self.payload = payload
        self.error: dict[str, Any] | None = None
        self.canceled_by: int | None = None
        self.enqueued_at = _now()
        self.started_at: _dt.datetime | None = None
        self.finished_at: _dt.datetime | None = None
        self.custom_metadata: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "taskUid": self.uid,
            "indexUid": self.index_uid,
            "status": self.status,
            "type": self.type,
            "enqueuedAt": _fmt_time(self.enqueued_at),
        }

    def view(self) -> dict[str, Any]:
        duration = None
        if self.started_at and self.finished_at:
            duration = _fmt_duration((self.finished_at - self.started_at).total_seconds())
        out = {
            "uid": self.uid,
            "batchUid": self.uid if self.started_at else None,
            "indexUid": self.index_uid,
            "status": self.status,
            "type": self.type,
            "canceledBy": self.canceled_by,
            "details": copy.deepcopy(self.details),
            "error": copy.deepcopy(self.error),
            "duration": duration,
            "enqueuedAt": _fmt_time(self.enqueued_at),
            "startedAt": _fmt_time(self.started_at),
            "finishedAt": _fmt_time(self.finished_at),
        }
        if self.custom_metadata is not None:
            out["customMetadata"] = self.custom_metadata
        return out

    def batch_view(self) -> dict[str, Any]:
        view = self.view()
        return {
            "uid": self.uid,
            "details": view["details"] or {},
            "stats": {
                "totalNbTasks": 1,
                "status": {self.status: 1},
                "types": {self.type: 1},
                "indexUids": {self.index_uid: 1} if self.index_uid else {},
            },
            "duration": view["duration"],
            "startedAt": view["startedAt"],
            "finishedAt": view["finishedAt"],
            "progress": None,
        }


# --------------------------------------------------------------------------- api keys

_KEY_ACTIONS_ALL = "*"


class ApiKey:
    def __init__(
        self,
        uid: str,
        key: str,
        name: str | None,
        description: str | None,
        actions: list[str],
        indexes: list[str],
        expires_at: str | None,
    ):
        self.uid, self.key, self.name, self.description = uid, key, name, description
        self.actions, self.indexes, self.expires_at = actions, indexes, expires_at
        self.created_at = self.updated_at = _now()

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "key": self.key,
            "uid": self.uid,
            "actions": self.actions,
            "indexes": self.indexes,
            "expiresAt": self.expires_at,
            "createdAt": _fmt_time(self.created_at),
            "updatedAt": _fmt_time(self.updated_at),
        }

    def allows(self, action: str, index_uid: str | None) -> bool:
        if self.expires_at and _parse_time(self.expires_at, "invalid_api_key_expires_at") < _now():
            return False
        ok = False
        for a in self.actions:
            if action.startswith("keys."):
                ok = ok or a in (action, "keys.*")
            elif a == "*" or a == action or (a.endswith(".*") and action.startswith(a[:-1])):
                ok = True
        if not ok:
            return False
        if index_uid is None:
            return True
        return any(_pattern_match(p, index_uid) if p.endswith("*") else p == index_uid for p in self.indexes)


def _derive_key(master_key: str, uid: str) -> str:
    import hashlib
    import hmac

    return hmac.new(master_key.encode(), uid.encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- engine


class Engine:
    """All state, and the task queue.  Thread-safe; one worker applies tasks in order."""

    def __init__(self, master_key: str | None):
        self.master_key = master_key or None
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.paused = False
        self.processing_delay = 0.0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.indexes: dict[str, Index] = {}
            self.tasks: dict[int, Task] = {}
            self.next_uid = 0
            self.experimental: dict[str, Any] = {
                "metrics": False,
                "logsRoute": False,
                "editDocumentsByFunction": False,
                "containsFilter": False,
            }
            self.keys: dict[str, ApiKey] = {}
            if self.master_key:
                for uid, name, desc, actions in (
                    (
                        "d0552b41-536b-4e3e-8c4a-3ef2a5f8f0e1",
                        "Default Search API Key",
                        "Use it to search from the frontend",
                        ["search"],
                    ),
                    (
                        "c77e0b1a-9f61-4d4d-8a0b-2d3c3b1e9f7a",
                        "Default Admin API Key",
                        "Use it for anything that is not a search operation. Caution! Do not expose it on a "
                        "public frontend",
                        ["*"],
                    ),
                ):
                    key = ApiKey(uid, _derive_key(self.master_key, uid), name, desc, actions, ["*"], None)
                    self.keys[key.key] = key
            self.last_update: _dt.datetime | None = None

    # ---- queue
    def enqueue(
        self,
        index_uid: str | None,
        type_: str,
        details: dict[str, Any] | None,
        payload: dict[str, Any] | None = None,
        metadata: str | None = None,
    ) -> Task:
        with self.cond:
            task = Task(self.next_uid, index_uid, type_, details, payload or {})
            task.custom_metadata = metadata
            self.tasks[task.uid] = task
            self.next_uid += 1
            self.cond.notify_all()
            return task

    def _next_task(self) -> Task | None:
        enqueued = [t for t in self.tasks.values() if t.status == "enqueued"]
        if not enqueued:
            return None
        for prio in ("taskCancelation", "taskDeletion"):
            firsts = [t for t in enqueued if t.type == prio]
            if firsts:
                return min(firsts, key=lambda t: t.uid)
        return min(enqueued, key=lambda t: t.uid)

    def has_pending(self) -> bool:
        with self.lock:
            return any(t.status in ("enqueued", "processing") for t in self.tasks.values())

    def work_once(self, stop: threading.Event, timeout: float = 0.2) -> bool:
        with self.cond:
            task = None if self.paused else self._next_task()
            if task is None:
                self.cond.wait(timeout)
                return False
            task.status = "processing"
            task.started_at = _now()
        if self.processing_delay:
            stop.wait(self.processing_delay)
        with self.cond:
            try:
                self._apply(task)
                task.status = "succeeded"
            except MeiliError as exc:
                task.status = "failed"
                task.error = exc.to_json()
                self._fail_details(task)
            except Exception as exc:  # pragma: no cover - emulator bug surfaces as an internal error
                task.status = "failed"
                task.error = MeiliError(500, "internal", f"emulator error: {exc!r}").to_json()
            task.finished_at = _now()
            task.payload = {}
            self.last_update = task.finished_at
            self.cond.notify_all()
        return True

    def _fail_details(self, task: Task) -> None:
        d = task.details
        if d is None:
            return
        for k in ("indexedDocuments", "deletedDocuments", "editedDocuments"):
            if k in d:
                d[k] = 0
        if "canceledTasks" in d:
            d["canceledTasks"] = 0
        if "deletedTasks" in d:
            d["deletedTasks"] = 0

    # ---- task application
    def _index(self, uid: str) -> Index:
        idx = self.indexes.get(uid)
        if idx is None:
            raise _index_not_found(uid)
        return idx

    def _apply(self, task: Task) -> None:
        p = task.payload
        d = task.details if task.details is not None else {}
        t = task.type
        if t == "indexCreation":
            if task.index_uid in self.indexes:
                raise MeiliError(400, "index_already_exists", f"Index `{task.index_uid}` already exists.")
            self.indexes[task.index_uid] = Index(task.index_uid, p.get("primaryKey"))
        elif t == "indexUpdate":
            idx = self._index(task.index_uid)
            new_pk = p.get("primaryKey")
            new_uid = p.get("uid")
            if new_uid is not None and new_uid != idx.uid:
                if new_uid in self.indexes:
                    raise MeiliError(400, "index_already_exists", f"Index `{new_uid}` already exists.")
            if new_pk is not None and new_pk != idx.primary_key:
                if idx.documents:
                    raise MeiliError(
                        400,
                        "index_primary_key_already_exists",
                        f"Index `{idx.uid}`: Index already has a primary key: `{idx.primary_key}`.",
                    )
                idx.primary_key = new_pk
            if new_uid is not None and new_uid != idx.uid:
                del self.indexes[idx.uid]
                idx.uid = new_uid
                self.indexes[new_uid] = idx
            idx.touch()
        elif t == "indexDeletion":
            idx = self._index(task.index_uid)
            d["deletedDocuments"] = len(idx.documents)
            del self.indexes[task.index_uid]
        elif t == "documentAdditionOrUpdate":
            self._apply_documents(task)
        elif t == "documentDeletion":
            idx = self._index(task.index_uid)
            mode = p["mode"]
            if mode == "ids":
                deleted = sum(1 for i in p["ids"] if idx.remove(i))
            elif mode == "all":
                deleted = idx.clear()
            else:
                ast = parse_filter(p["filter"], "invalid_document_filter")
                idx.check_filter(ast, "invalid_document_filter")
                keys = idx.filtered_keys(ast)
                for k in keys:
                    idx.remove(k)
                deleted = len(keys)
            d["deletedDocuments"] = deleted
            idx.touch()
        elif t == "settingsUpdate":
            idx = self.indexes.get(task.index_uid)
            if idx is None:
                idx = self.indexes[task.index_uid] = Index(task.index_uid, None)
            for name, value in p["settings"].items():
                idx.settings[name] = copy.deepcopy(value)
            idx.invalidate()
            idx.touch()
        elif t == "indexSwap":
            self._apply_swap(task)
        elif t == "taskCancelation":
            matched = self._match_tasks(p["query"], exclude=task.uid)
            canceled = 0
            for other in matched:
                if other.status == "enqueued":
                    other.status = "canceled"
                    other.canceled_by = task.uid
                    other.finished_at = _now()
                    other.payload = {}
                    canceled += 1
            d["canceledTasks"] = canceled
        elif t == "taskDeletion":
            matched = self._match_tasks(p["query"], exclude=task.uid)
            deleted = 0
            for other in matched:
                if other.status in ("succeeded", "failed", "canceled"):
                    del self.tasks[other.uid]
                    deleted += 1
            d["deletedTasks"] = deleted
        elif t in ("dumpCreation", "snapshotCreation", "indexCompaction", "export"):
            if t == "indexCompaction":
                self._index(task.index_uid)
        else:  # pragma: no cover
            raise MeiliError(501, "internal", f"task type {t} not supported by the emulator")

    def _apply_documents(self, task: Task) -> None:
        p, d = task.payload, task.details
        docs: list[dict[str, Any]] = p["documents"]
        idx = self.indexes.get(task.index_uid)
        if idx is None:
            idx = self.indexes[task.index_uid] = Index(task.index_uid, None)
        pk = idx.primary_key
        requested = p.get("primaryKey")
        if requested:
            if pk is not None and pk != requested:
                raise MeiliError(
                    400,
                    "index_primary_key_already_exists",
                    f"Index `{idx.uid}`: Index already has a primary key: `{pk}`.",
                )
            pk = requested
        if pk is None and docs:
            candidates = [k for k in docs[0] if k.lower().endswith("id")]
            if not candidates:
                raise MeiliError(
                    400,
                    "index_primary_key_no_candidate_found",
                    f"Index `{idx.uid}`: The primary key inference failed as the engine did not find any "
                    "field ending with `id` in its name. Please specify the primary key manually using the "
                    "`primaryKey` query parameter.",
                )
            if len(candidates) > 1:
                names = ", ".join(f"'{c}'" for c in candidates[:-1]) + f" and '{candidates[-1]}'"
                raise MeiliError(
                    400,
                    "index_primary_key_multiple_candidates_found",
                    f"Index `{idx.uid}`: The primary key inference failed as the engine found "
                    f"{len(candidates)} fields ending with `id` in their names: {names}. Please specify the "
                    "primary key manually using the `primaryKey` query parameter.",
                )
            pk = candidates[0]
        keyed = []
        for doc in docs:
            try:
                keyed.append((_document_id(doc, pk), doc))
            except MeiliError as exc:
                exc.message = f"Index `{idx.uid}`: {exc.message}"
                raise
        idx.primary_key = pk
        indexed = 0
        for key, doc in keyed:
            if p["method"] == "replace":
                idx.put(key, copy.deepcopy(doc))
                indexed += 1
            else:
                old = idx.documents.get(key)
                if old is None and p.get("skipCreation"):
                    continue
                merged = dict(old) if old else {}
                merged.update(copy.deepcopy(doc))
                idx.put(key, merged)
                indexed += 1
        d["indexedDocuments"] = indexed
        idx.touch()

    def _apply_swap(self, task: Task) -> None:
        swaps = task.payload["swaps"]
        missing = []
        for swap in swaps:
            a, b = swap["indexes"]
            if a not in self.indexes and a not in missing:
                missing.append(a)
            if not swap.get("rename") and b not in self.indexes and b not in missing:
                missing.append(b)
            if swap.get("rename") and b in self.indexes:
                raise MeiliError(400, "index_already_exists", f"Index `{b}` already exists.")
        if missing:
            names = ", ".join(f"`{m}`" for m in missing)
            noun = "Index" if len(missing) == 1 else "Indexes"
            raise MeiliError(404, "index_not_found", f"{noun} {names} not found.")
        renames: dict[str, str] = {}
        for swap in swaps:
            a, b = swap["indexes"]
            if swap.get("rename"):
                idx = self.indexes.pop(a)
                idx.uid = b
                self.indexes[b] = idx
                renames[a] = b
            else:
                ia, ib = self.indexes[a], self.indexes[b]
                ia.uid, ib.uid = b, a
                self.indexes[a], self.indexes[b] = ib, ia
                renames[a], renames[b] = b, a
        # the task history follows the swapped indexes (enqueued tasks are left unmodified)
        for other in self.tasks.values():
            if other is task or other.status in ("enqueued", "processing"):
                continue
            if other.index_uid in renames:
                other.index_uid = renames[other.index_uid]

    # ---- task queries
    def _match_tasks(self, query: dict[str, Any], exclude: int | None = None) -> list[Task]:
        out = []
        for t in sorted(self.tasks.values(), key=lambda x: x.uid):
            if exclude is not None and t.uid == exclude:
                continue
            if "uids" in query and t.uid not in query["uids"]:
                continue
            if "batchUids" in query and (t.started_at is None or t.uid not in query["batchUids"]):
                continue
            if "canceledBy" in query and t.canceled_by not in query["canceledBy"]:
                continue
            if "statuses" in query and t.status not in query["statuses"]:
                continue
            if "types" in query and t.type not in query["types"]:
                continue
            if "indexUids" in query and t.index_uid not in query["indexUids"]:
                continue
            for name, attr, cmp in (
                ("beforeEnqueuedAt", "enqueued_at", "lt"),
                ("afterEnqueuedAt", "enqueued_at", "gt"),
                ("beforeStartedAt", "started_at", "lt"),
                ("afterStartedAt", "started_at", "gt"),
                ("beforeFinishedAt", "finished_at", "lt"),
                ("afterFinishedAt", "finished_at", "gt"),
            ):
                if name in query:
                    v = getattr(t, attr)
                    if v is None or (v >= query[name] if cmp == "lt" else v <= query[name]):
                        break
            else:
                out.append(t)
        return out


def _parse_task_query(params: dict[str, list[str]], allowed_extra: set[str]) -> tuple[dict[str, Any], str]:
    allowed = {
        "uids",
        "batchUids",
        "canceledBy",
        "types",
        "statuses",
        "indexUids",
        "beforeEnqueuedAt",
        "afterEnqueuedAt",
        "beforeStartedAt",
        "afterStartedAt",
        "beforeFinishedAt",
        "afterFinishedAt",
    }
    query: dict[str, Any] = {}
    original = []
    for name, values in params.items():
        raw = values[-1]
        if name not in allowed and name not in allowed_extra:
            raise _bad(
                "bad_request",
                f"Unknown parameter `{name}`: expected one of "
                f"{', '.join(f'`{a}`' for a in sorted(allowed | allowed_extra))}",
            )
        if name in allowed_extra:
            continue
        original.append(f"{name}={raw}")
        items = [x.strip() for x in raw.split(",") if x.strip()]
        code = "invalid_task_" + _snake(name)
        if "*" in items:
            continue
        if name in ("uids", "batchUids", "canceledBy"):
            try:
                query[name] = {int(x) for x in items}
            except ValueError:
                raise _bad(
                    code,
                    f"Invalid value in parameter `{name}`: could not parse `{raw}` as a positive integer",
                )
        elif name == "types":
            for x in items:
                if x not in TASK_TYPES:
                    raise _bad(
                        code,
                        f"Invalid value in parameter `types`: `{x}` is not a valid task type. "
                        f"Available types are "
                        f"{', '.join(f'`{s}`' for s in sorted(TASK_TYPES))}.",
                    )
            query[name] = set(items)
        elif name == "statuses":
            for x in items:
                if x not in TASK_STATUSES:
                    raise _bad(
                        code,
                        f"Invalid value in parameter `statuses`: `{x}` is not a valid task status. "
                        "Available statuses are `enqueued`, `processing`, `succeeded`, `failed`, "
                        "`canceled`.",
                    )
            query[name] = set(items)
        elif name == "indexUids":
            for x in items:
                _check_index_uid(x, "invalid_task_index_uids")
            query[name] = set(items)
        else:
            query[name] = _parse_time(raw, code)
    return query, "?" + "&".join(original)


# --------------------------------------------------------------------------- HTTP layer


class _Request:
    def __init__(self, handler: _Handler, method: str):
        self.method = method
        split = urlsplit(handler.path)
        self.path = split.path.rstrip("/") or "/"
        self.query = parse_qs(split.query, keep_blank_values=True)
        self.headers = handler.headers
        self.body = handler._read_body()

    def param(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[-1] if vals else default

    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def json(self, required: bool = True) -> Any:
        text = self.body.decode("utf-8", errors="replace").strip()
        if not text:
            if required:
                raise MeiliError(400, "missing_payload", "A json payload is missing.")
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise MeiliError(400, "malformed_payload", f"The json payload provided is malformed. `{exc}`.")


def _route_table():
    R = []

    def route(method: str, pattern: str, action: str | None):
        def deco(fn):
            R.append((method, re.compile("^" + pattern + "$"), action, fn))
            return fn

        return deco

    return R, route


ROUTES, route = _route_table()
SEG = r"([^/]+)"


class Api:
    """Request handlers; each returns (status, json-able body or None)."""

    def __init__(self, engine: Engine):
        self.e = engine

    # ---- misc
    @route("GET", r"/health", None)
    def health(self, req):
        return 200, {"status": "available"}

    @route("GET", r"/version", "version")
    def version(self, req):
        return 200, {
            "commitSha": "0" * 40,
            "commitDate": "2024-01-01T00:00:00Z",
            "pkgVersion": EMULATED_VERSION,
        }

    @route("GET", r"/stats", "stats.get")
    def stats(self, req):
        with self.e.lock:
            indexes = {uid: self._index_stats(idx) for uid, idx in sorted(self.e.indexes.items())}
            size = sum(len(json.dumps(i.documents)) for i in self.e.indexes.values())
            return 200, {
                "databaseSize": size,
                "usedDatabaseSize": size,
                "lastUpdate": _fmt_time(self.e.last_update),
                "indexes": indexes,
            }

    def _index_stats(self, idx: Index) -> dict[str, Any]:
        n = len(idx.documents)
        raw = len(json.dumps(idx.documents)) if n else 0
        return {
            "numberOfDocuments": n,
            "rawDocumentDbSize": raw,
            "avgDocumentSize": raw // n if n else 0,
            "isIndexing": any(
                t.status == "processing" and t.index_uid == idx.uid for t in self.e.tasks.values()
            ),
            "numberOfEmbeddings": 0,
            "numberOfEmbeddedDocuments": 0,
            "fieldDistribution": idx.field_distribution(),
        }

    @route("GET", r"/experimental-features", "experimental.get")
    def get_experimental(self, req):
        return 200, dict(self.e.experimental)

    @route("PATCH", r"/experimental-features", "experimental.update")
    def patch_experimental(self, req):
        body = req.json()
        if not isinstance(body, dict):
            raise _bad("bad_request", "Invalid value type: expected an object")
        with self.e.lock:
            self.e.experimental.update(body)
            return 200, dict(self.e.experimental)

    @route("POST", r"/dumps", "dumps.create")
    def dumps(self, req):
        ts = _now().strftime("%Y%m%d-%H%M%S%f")
        return 202, self.e.enqueue(None, "dumpCreation", {"dumpUid": ts}).summary()

    @route("POST", r"/snapshots", "snapshots.create")
    def snapshots(self, req):
        return 202, self.e.enqueue(None, "snapshotCreation", None).summary()

    # ---- keys
    @route("GET", r"/keys", "keys.get")
    def list_keys(self, req):
        offset, limit = self._offset_limit(req, "invalid_api_key_offset", "invalid_api_key_limit")
        with self.e.lock:
            keys = [k.view() for k in self.e.keys.values()]
        return 200, {
            "results": keys[offset : offset + limit],
            "offset": offset,
            "limit": limit,
            "total": len(keys),
        }

    def _find_key(self, key_or_uid: str) -> ApiKey:
        for k in self.e.keys.values():
            if key_or_uid in (k.key, k.uid):
                return k
        raise MeiliError(404, "api_key_not_found", f"API key `{key_or_uid}` not found.")

    @route("GET", r"/keys/" + SEG, "keys.get")
    def get_key(self, req, key):
        with self.e.lock:
            return 200, self._find_key(key).view()

    @route("POST", r"/keys", "keys.create")
    def create_key(self, req):
        body = req.json()
        if not isinstance(body, dict):
            raise _bad("bad_request", "Invalid value type: expected an object")
        actions, indexes = body.get("actions"), body.get("indexes")
        if not isinstance(actions, list):
            raise _bad(
                "missing_api_key_actions" if actions is None else "invalid_api_key_actions",
                "Missing field `actions`" if actions is None else "Invalid value at `.actions`",
            )
        if not isinstance(indexes, list):
            raise _bad(
                "missing_api_key_indexes" if indexes is None else "invalid_api_key_indexes",
                "Missing field `indexes`" if indexes is None else "Invalid value at `.indexes`",
            )
        if "expiresAt" not in body:
            raise _bad("missing_api_key_expires_at", "Missing field `expiresAt`")
        import uuid

        uid = body.get("uid") or str(uuid.uuid4())
        with self.e.lock:
            key = ApiKey(
                uid,
                _derive_key(self.e.master_key or "", uid),
                body.get("name"),
                body.get("description"),
                actions,
                indexes,
                body.get("expiresAt"),
            )
            self.e.keys[key.key] = key
            return 201, key.view()

    @route("PATCH", r"/keys/" + SEG, "keys.update")
    def update_key(self, req, key):
        body = req.json()
        with self.e.lock:
            k = self._find_key(key)
            for field in ("name", "description"):
                if field in body:
                    setattr(k, field, body[field])
            k.updated_at = _now()
            return 200, k.view()

    @route("DELETE", r"/keys/" + SEG, "keys.delete")
    def delete_key(self, req, key):
        with self.e.lock:
            k = self._find_key(key)
            del self.e.keys[k.key]
        return 204, None

    # ---- indexes
    def _offset_limit(
        self, req, offset_code: str, limit_code: str, default_limit: int = 20
    ) -> tuple[int, int]:
        out = []
        for name, code, default in (("offset", offset_code, 0), ("limit", limit_code, default_limit)):
            raw = req.param(name)
            if raw is None:
                out.append(default)
                continue
            try:
                v = int(raw)
                if v < 0:
                    raise ValueError
            except ValueError:
                raise _bad(
                    code,
                    f"Invalid value in parameter `{name}`: could not parse `{raw}` as a positive integer",
                )
            out.append(v)
        return out[0], out[1]

    @route("GET", r"/indexes", "indexes.get")
    def list_indexes(self, req):
        offset, limit = self._offset_limit(req, "invalid_index_offset", "invalid_index_limit")
        with self.e.lock:
            infos = [idx.info() for _uid, idx in sorted(self.e.indexes.items())]
        return 200, {
            "results": infos[offset : offset + limit],
            "offset": offset,
            "limit": limit,
            "total": len(infos),
        }

    @route("POST", r"/indexes", "indexes.create")
    def create_index(self, req):
        body = req.json()
        if not isinstance(body, dict):
            raise _bad("bad_request", "Invalid value type: expected an object")
        if "uid" not in body:
            raise _bad("missing_index_uid", "Missing field `uid`")
        uid = _check_index_uid(body["uid"])
        pk = body.get("primaryKey")
        if pk is not None and not isinstance(pk, str):
            raise _bad("invalid_index_primary_key", "Invalid value type at `.primaryKey`: expected a string")
        unknown = [k for k in body if k not in ("uid", "primaryKey")]
        if unknown:
            raise _bad("bad_request", f"Unknown field `{unknown[0]}`: expected one of `uid`, `primaryKey`")
        task = self.e.enqueue(
            uid, "indexCreation", {"primaryKey": pk}, {"primaryKey": pk}, req.param("customMetadata")
        )
        return 202, task.summary()

    @route("GET", r"/indexes/" + SEG, "indexes.get")
    def get_index(self, req, uid):
        with self.e.lock:
            return 200, self.e._index(uid).info()

    @route("PATCH", r"/indexes/" + SEG, "indexes.update")
    def update_index(self, req, uid):
        _check_index_uid(uid)
        body = req.json()
        if not isinstance(body, dict):
            raise _bad("bad_request", "Invalid value type: expected an object")
        unknown = [k for k in body if k not in ("uid", "primaryKey")]
        if unknown:
            raise _bad("bad_request", f"Unknown field `{unknown[0]}`: expected one of `primaryKey`, `uid`")
        details = {"primaryKey": body.get("primaryKey")}
        if body.get("uid") is not None:
            _check_index_uid(body["uid"])
            details.update({"oldIndexUid": uid, "newIndexUid": body["uid"]})
        task = self.e.enqueue(uid, "indexUpdate", details, dict(body), req.param("customMetadata"))
        return 202, task.summary()

    @route("DELETE", r"/indexes/" + SEG, "indexes.delete")
    def delete_index(self, req, uid):
        _check_index_uid(uid)
        task = self.e.enqueue(
            uid, "indexDeletion", {"deletedDocuments": None}, None, req.param("customMetadata")
        )
        return 202, task.summary()

    @route("GET", r"/indexes/" + SEG + r"/stats", "stats.get")
    def index_stats(self, req, uid):
        with self.e.lock:
            return 200, self._index_stats(self.e._index(uid))

    @route("POST", r"/indexes/" + SEG + r"/compact", "indexes.compact")
    def compact(self, req, uid):
        _check_index_uid(uid)
        return 202, self.e.enqueue(uid, "indexCompaction", {}).summary()

    @route("POST", r"/swap-indexes", "indexes.swap")
    def swap(self, req):
        body = req.json()
        if not isinstance(body, list):
            raise _bad("bad_request", "Invalid value type: expected an array")
        seen: set[str] = set()
        swaps = []
        for i, item in enumerate(body):
            if not isinstance(item, dict) or not isinstance(item.get("indexes"), list):
                raise _bad(
                    "missing_swap_indexes" if isinstance(item, dict) else "bad_request",
                    f"Missing field `indexes` inside `[{i}]`",
                )
            pair = item["indexes"]
            if len(pair) != 2 or not all(isinstance(x, str) for x in pair):
                raise _bad(
                    "invalid_swap_indexes",
                    f"Invalid value at `[{i}].indexes`: two indexes must be given for each swap. "
                    f"The list `{json.dumps(pair)}` contains {len(pair)} indexes.",
                )
            for x in pair:
                _check_index_uid(x, "invalid_swap_indexes")
            dup = [x for x in pair if x in seen] or ([pair[0]] if pair[0] == pair[1] else [])
            if dup:
                raise _bad(
                    "invalid_swap_duplicate_index_found",
                    f"Indexes must be declared only once during a swap. `{dup[0]}` was specified "
                    "several times.",
                )
            seen.update(pair)
            swap = {"indexes": list(pair)}
            if item.get("rename"):
                swap["rename"] = True
            swaps.append(swap)
        details = {"swaps": [{"indexes": s["indexes"], "rename": bool(s.get("rename"))} for s in swaps]}
        task = self.e.enqueue(None, "indexSwap", details, {"swaps": swaps}, req.param("customMetadata"))
        return 202, task.summary()

    # ---- documents
    def _parse_documents(self, req) -> list[dict[str, Any]]:
        ctype = req.content_type()
        text = req.body.decode("utf-8", errors="replace")
        if ctype in ("application/json", ""):
            if not text.strip():
                raise MeiliError(400, "missing_payload", "A json payload is missing.")
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise MeiliError(
                    400, "malformed_payload", f"The `json` payload provided is malformed. `{exc}`."
                )
            if isinstance(data, dict):
                data = [data]
            if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
                raise MeiliError(
                    400,
                    "malformed_payload",
                    "The `json` payload provided is malformed. `Couldn't serialize document "
                    "value: "
                    "expected an object or an array of objects`.",
                )
            return data
        if ctype == "application/x-ndjson":
            docs = []
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise MeiliError(
                        400,
                        "malformed_payload",
                        f"The `ndjson` payload provided is malformed. `{exc}` at line {n}.",
                    )
                if not isinstance(doc, dict):
                    raise MeiliError(400, "malformed_payload", "The `ndjson` payload provided is malformed.")
                docs.append(doc)
            return docs
        if ctype == "text/csv":
            delimiter = req.param("csvDelimiter", ",") or ","
            reader = csv.reader(io.StringIO(text), delimiter=delimiter)
            rows = list(reader)
            if not rows:
                return []
            header = []
            for h in rows[0]:
                name, _, typ = h.partition(":")
                header.append((name, typ or "string"))
            docs = []
            for row in rows[1:]:
                doc: dict[str, Any] = {}
                for (name, typ), cell in zip(header, row):
                    if cell == "":
                        doc[name] = None
                    elif typ == "number":
                        num = float(cell)
                        doc[name] = int(num) if num.is_integer() and "." not in cell else num
                    elif typ == "boolean":
                        doc[name] = cell.strip().lower() == "true"
                    else:
                        doc[name] = cell
                docs.append(doc)
            return docs
        raise MeiliError(
            415,
            "invalid_content_type",
            f"The Content-Type `{ctype}` is invalid. Accepted values for the Content-Type header are: "
            "`application/json`, `application/x-ndjson`, `text/csv`",
        )

    def _add_documents(self, req, uid: str, method: str):
        _check_index_uid(uid)
        docs = self._parse_documents(req)
        pk = req.param("primaryKey")
        skip = (req.param("skipCreation") or "").lower() == "true"
        details = {"receivedDocuments": len(docs), "indexedDocuments": None}
        payload = {"documents": docs, "primaryKey": pk, "method": method, "skipCreation": skip}
        task = self.e.enqueue(uid, "documentAdditionOrUpdate", details, payload, req.param("customMetadata"))
        return 202, task.summary()

    @route("POST", r"/indexes/" + SEG + r"/documents", "documents.add")
    def add_documents(self, req, uid):
        return self._add_documents(req, uid, "replace")

    @route("PUT", r"/indexes/" + SEG + r"/documents", "documents.add")
    def update_documents(self, req, uid):
        return self._add_documents(req, uid, "update")

    def _fetch(
        self,
        idx: Index,
        offset: int,
        limit: int,
        fields: list[str] | None,
        filt: Any,
        ids: list[Any] | None,
        sort: Any,
    ) -> dict[str, Any]:
        ast = parse_filter(filt, "invalid_document_filter")
        idx.check_filter(ast, "invalid_document_filter")
        keys = idx.filtered_keys(ast)
        if ids is not None:
            wanted = {_id_key(i) for i in ids}
            keys = [k for k in keys if k in wanted]
        if sort is not None:
            crit = []
            for s in sort:
                m = re.match(r"^\s*(.+?):(asc|desc)\s*$", s) if isinstance(s, str) else None
                if not m:
                    raise _bad("invalid_document_sort", f"Invalid syntax for the sort parameter: `{s}`.")
                if not idx.is_sortable(m.group(1)):
                    raise _bad("invalid_document_sort", f"Attribute `{m.group(1)}` is not sortable.")
                crit.append((m.group(1), m.group(2) == "desc"))
            maps = [_rank_map(idx, keys, a, dsc) for a, dsc in crit]
            order = {k: i for i, k in enumerate(keys)}
            keys = sorted(keys, key=lambda k: tuple(mp[k] for mp in maps) + (order[k],))
        results = [_select_fields(idx.documents[k], fields) for k in keys[offset : offset + limit]]
        return {"results": results, "offset": offset, "limit": limit, "total": len(keys)}

    @route("GET", r"/indexes/" + SEG + r"/documents", "documents.get")
    def get_documents(self, req, uid):
        offset, limit = self._offset_limit(req, "invalid_document_offset", "invalid_document_limit")
        fields = req.param("fields")
        fields_list = [f.strip() for f in fields.split(",")] if fields else None
        ids = req.param("ids")
        sort = req.param("sort")
        with self.e.lock:
            idx = self.e._index(uid)
            return 200, self._fetch(
                idx,
                offset,
                limit,
                fields_list,
                req.param("filter"),
                ids.split(",") if ids else None,
                [s.strip() for s in sort.split(",")] if sort else None,
            )

    @route("POST", r"/indexes/" + SEG + r"/documents/fetch", "documents.get")
    def fetch_documents(self, req, uid):
        body = req.json(required=False) or {}
        if not isinstance(body, dict):
            raise _bad("bad_request", "Invalid value type: expected an object")
        allowed = {"offset", "limit", "fields", "filter", "ids", "sort", "retrieveVectors"}
        unknown = [k for k in body if k not in allowed]
        if unknown:
            raise _bad(
                "bad_request",
                f"Unknown field `{unknown[0]}`: expected one of "
                + ", ".join(f"`{a}`" for a in sorted(allowed)),
            )
        offset = _int_param(body, "offset", "invalid_document_offset", 0)
        limit = _int_param(body, "limit", "invalid_document_limit", 20)
        fields = body.get("fields")
        if fields is not None and (
            not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
        ):
            raise _bad(
                "invalid_document_fields", "Invalid value type at `.fields`: expected an array of strings"
            )
        with self.e.lock:
            idx = self.e._index(uid)
            return 200, self._fetch(
                idx, offset, limit, fields, body.get("filter"), body.get("ids"), body.get("sort")
            )

    @route("GET", r"/indexes/" + SEG + r"/documents/" + SEG, "documents.get")
    def get_document(self, req, uid, doc_id):
        fields = req.param("fields")
        fields_list = [f.strip() for f in fields.split(",")] if fields else None
        with self.e.lock:
            idx = self.e._index(uid)
            doc = idx.documents.get(doc_id)
            if doc is None:
                raise MeiliError(404, "document_not_found", f"Document `{doc_id}` not found.")
            return 200, _select_fields(doc, fields_list)

    @route("DELETE", r"/indexes/" + SEG + r"/documents/" + SEG, "documents.delete")
    def delete_document(self, req, uid, doc_id):
        _check_index_uid(uid)
        details = {"providedIds": 1, "deletedDocuments": None}
        task = self.e.enqueue(
            uid, "documentDeletion", details, {"mode": "ids", "ids": [doc_id]}, req.param("customMetadata")
        )
        return 202, task.summary()

    @route("POST", r"/indexes/" + SEG + r"/documents/delete-batch", "documents.delete")
    def delete_batch(self, req, uid):
        _check_index_uid(uid)
        body = req.json()
        if not isinstance(body, list) or not all(
            isinstance(i, (str, int)) and not isinstance(i, bool) for i in body
        ):
            raise _bad("bad_request", "Invalid value type: expected an array of document ids")
        ids = [_id_key(i) for i in body]
        details = {"providedIds": len(ids), "deletedDocuments": None}
        task = self.e.enqueue(
            uid, "documentDeletion", details, {"mode": "ids", "ids": ids}, req.param("customMetadata")
        )
        return 202, task.summary()

    @route("POST", r"/indexes/" + SEG + r"/documents/delete", "documents.delete")
    def delete_by_filter(self, req, uid):
        _check_index_uid(uid)
        body = req.json()
        if not isinstance(body, dict):
            raise _bad("bad_request", "Invalid value type: expected an object")
        if body.get("filter") is None:
            raise _bad("missing_document_filter", "Missing field `filter`")
        ast = parse_filter(body["filter"], "invalid_document_filter")
        if ast is None:
            raise _bad("invalid_document_filter", "Sending an empty filter is forbidden.")
        details = {"providedIds": 0, "deletedDocuments": None, "originalFilter": json.dumps(body["filter"])}
        task = self.e.enqueue(
            uid,
            "documentDeletion",
            details,
            {"mode": "filter", "filter": body["filter"]},
            req.param("customMetadata"),
        )
        return 202, task.summary()

    @route("DELETE", r"/indexes/" + SEG + r"/documents", "documents.delete")
    def delete_all(self, req, uid):
        _check_index_uid(uid)
        task = self.e.enqueue(
            uid, "documentDeletion", {"deletedDocuments": None}, {"mode": "all"}, req.param("customMetadata")
        )
        return 202, task.summary()

    # ---- settings
    @route("GET", r"/indexes/" + SEG + r"/settings", "settings.get")
    def get_settings(self, req, uid):
        with self.e.lock:
            return 200, copy.deepcopy(self.e._index(uid).settings)

    def _current_settings(self, uid: str) -> dict[str, Any]:
        """Settings as they will be once every already-enqueued settings task has been applied."""
        with self.e.lock:
            idx = self.e.indexes.get(uid)
            current = copy.deepcopy(idx.settings) if idx else default_settings()
            for t in sorted(self.e.tasks.values(), key=lambda t: t.uid):
                if (
                    t.type == "settingsUpdate"
                    and t.index_uid == uid
                    and t.status in ("enqueued", "processing")
                ):
                    current.update(copy.deepcopy(t.payload.get("settings", {})))
            return current

    def _enqueue_settings(self, req, uid: str, body: dict[str, Any], details: dict[str, Any]):
        _check_index_uid(uid)
        task = self.e.enqueue(uid, "settingsUpdate", details, {"settings": body}, req.param("customMetadata"))
        return 202, task.summary()

    def _validated(self, uid: str, body: dict[str, Any]) -> dict[str, Any]:
        current = self._current_settings(uid)
        defaults = default_settings()
        out = {}
        for name, value in body.items():
            if name not in defaults:
                raise _bad(
                    "bad_request",
                    f"Unknown field `{name}`: expected one of " + ", ".join(f"`{k}`" for k in defaults),
                )
            if value is None:
                out[name] = copy.deepcopy(defaults[name])
            else:
                out[name] = validate_setting(name, value, current[name])
        return out

    @route("PATCH", r"/indexes/" + SEG + r"/settings", "settings.update")
    def patch_settings(self, req, uid):
        body = req.json()
        if not isinstance(body, dict):
            raise _bad("bad_request", "Invalid value type: expected an object")
        return self._enqueue_settings(req, uid, self._validated(uid, body), copy.deepcopy(body))

    @route("DELETE", r"/indexes/" + SEG + r"/settings", "settings.update")
    def reset_settings(self, req, uid):
        defaults = default_settings()
        return self._enqueue_settings(req, uid, defaults, {k: None for k in defaults})

    @route("GET", r"/indexes/" + SEG + r"/settings/" + SEG, "settings.get")
    def get_setting(self, req, uid, sub):
        name = self._setting_name(sub)
        with self.e.lock:
            return 200, copy.deepcopy(self.e._index(uid).settings[name])

    def _setting_name(self, sub: str) -> str:
        if sub not in SETTINGS_ROUTES:
            raise MeiliError(404, "not_found", "Not Found")
        return SETTINGS_ROUTES[sub][0]

    def _update_setting(self, req, uid, sub, method):
        name = self._setting_name(sub)
        if SETTINGS_ROUTES[sub][1] != method:
            raise MeiliError(405, "bad_request", f"Method {method} not allowed on this route.")
        value = req.json()
        validated = self._validated(uid, {name: value})
        return self._enqueue_settings(req, uid, validated, {name: copy.deepcopy(value)})

    @route("PUT", r"/indexes/" + SEG + r"/settings/" + SEG, "settings.update")
    def put_setting(self, req, uid, sub):
        return self._update_setting(req, uid, sub, "PUT")

    @route("PATCH", r"/indexes/" + SEG + r"/settings/" + SEG, "settings.update")
    def patch_setting(self, req, uid, sub):
        return self._update_setting(req, uid, sub, "PATCH")

    @route("DELETE", r"/indexes/" + SEG + r"/settings/" + SEG, "settings.update")
    def reset_setting(self, req, uid, sub):
        name = self._setting_name(sub)
        return self._enqueue_settings(req, uid, {name: default_settings()[name]}, {name: None})

    # ---- search
    @route("POST", r"/indexes/" + SEG + r"/search", "search")
    def search_post(self, req, uid):
        body = req.json(required=False) or {}
        if not isinstance(body, dict):
            raise _bad("bad_request", "Invalid value type: expected an object")
        with self.e.lock:
            return 200, search_index(self.e._index(uid), body)

    @route("GET", r"/indexes/" + SEG + r"/search", "search")
    def search_get(self, req, uid):
        params: dict[str, Any] = {}
        ints = {
            "offset": "invalid_search_offset",
            "limit": "invalid_search_limit",
            "page": "invalid_search_page",
            "hitsPerPage": "invalid_search_hits_per_page",
        }
        lists = {
            "sort",
            "attributesToRetrieve",
            "attributesToHighlight",
            "attributesToCrop",
            "facets",
            "attributesToSearchOn",
        }
        bools = {"showRankingScore", "showMatchesPosition", "showRankingScoreDetails", "retrieveVectors"}
        for name in req.query:
            raw = req.param(name)
            if name in ints:
                try:
                    params[name] = int(raw)
                except ValueError:
                    raise _bad(
                        ints[name],
                        f"Invalid value in parameter `{name}`: could not parse `{raw}` as a positive integer",
                    )
            elif name in lists:
                params[name] = [x.strip() for x in raw.split(",") if x.strip()]
            elif name in bools:
                params[name] = raw.lower() == "true"
            elif name == "rankingScoreThreshold":
                params[name] = float(raw)
            else:
                params[name] = raw
        with self.e.lock:
            return 200, search_index(self.e._index(uid), params)

    @route("POST", r"/indexes/" + SEG + r"/facet-search", "search")
    def facet_search(self, req, uid):
        body = req.json()
        if not isinstance(body, dict) or "facetName" not in body:
            raise _bad("missing_facet_search_facet_name", "Missing field `facetName`")
        facet = body["facetName"]
        fq = normalize_text(body.get("facetQuery") or "")
        search_params = {
            k: v for k, v in body.items() if k not in ("facetName", "facetQuery", "exhaustiveFacetCount")
        }
        search_params["limit"] = 0
        with self.e.lock:
            idx = self.e._index(uid)
            if not idx.is_filterable(facet):
                raise _bad(
                    "invalid_facet_search_facet_name",
                    f"Attribute `{facet}` is not facet-searchable. Note that attributes are only "
                    "facet-searchable when they are filterable.",
                )
            started = time.perf_counter()
            keys: list[str] = []
            search_index(idx, search_params, keys_out=keys)
            dist, _ = facet_distribution(idx, keys, [facet])
            hits = [
                {"value": v, "count": c}
                for v, c in dist.get(facet, {}).items()
                if not fq or any(w.startswith(fq) for w in [normalize_text(v)] + tokenize(v))
            ]
            return 200, {
                "facetHits": hits,
                "facetQuery": body.get("facetQuery"),
                "processingTimeMs": int((time.perf_counter() - started) * 1000),
            }

    @route("POST", r"/multi-search", "search")
    def multi_search(self, req):
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("queries"), list):
            raise _bad(
                "missing_multi_search_queries" if isinstance(body, dict) else "bad_request",
                "Missing field `queries`",
            )
        if body.get("federation") is not None:
            raise MeiliError(501, "internal", "The emulator does not support federated multi-search.")
        results = []
        for i, query in enumerate(body["queries"]):
            if not isinstance(query, dict) or "indexUid" not in query:
                raise _bad("missing_index_uid", f"Missing field `indexUid` inside `.queries[{i}]`")
            params = {k: v for k, v in query.items() if k not in ("indexUid", "federationOptions")}
            with self.e.lock:
                try:
                    idx = self.e._index(query["indexUid"])
                    res = search_index(idx, params)
                except MeiliError as exc:
                    exc.message = f"Inside `.queries[{i}]`: {exc.message}"
                    raise
            results.append({"indexUid": query["indexUid"], **res})
        return 200, {"results": results}

    # ---- tasks
    @route("GET", r"/tasks", "tasks.get")
    def list_tasks(self, req):
        query, _ = _parse_task_query(req.query, {"limit", "from", "reverse"})
        limit_raw, from_raw = req.param("limit"), req.param("from")
        try:
            limit = 20 if limit_raw is None else int(limit_raw)
            frm = None if from_raw is None else int(from_raw)
            if limit < 0 or (frm is not None and frm < 0):
                raise ValueError
        except ValueError:
            raise _bad(
                "invalid_task_limit" if limit_raw is not None else "invalid_task_from",
                "Invalid value in parameter: could not parse as a positive integer",
            )
        reverse = (req.param("reverse") or "").lower() == "true"
        with self.e.lock:
            matched = self.e._match_tasks(query)
            if reverse:
                ordered = [t for t in matched if frm is None or t.uid >= frm]
            else:
                ordered = [t for t in reversed(matched) if frm is None or t.uid <= frm]
            page = ordered[:limit]
            nxt = ordered[limit].uid if len(ordered) > limit else None
            return 200, {
                "results": [t.view() for t in page],
                "total": len(matched),
                "limit": limit,
                "from": page[0].uid if page else None,
                "next": nxt,
            }

    @route("GET", r"/tasks/" + SEG, "tasks.get")
    def get_task(self, req, task_uid):
        try:
            n = int(task_uid)
        except ValueError:
            raise _bad(
                "invalid_task_uids",
                f"Invalid value in parameter `taskUid`: could not parse `{task_uid}` as a positive integer",
            )
        with self.e.lock:
            task = self.e.tasks.get(n)
            if task is None:
                raise MeiliError(404, "task_not_found", f"Task `{n}` not found.")
            return 200, task.view()

    def _task_filter_task(self, req, type_: str, count_key: str):
        query, original = _parse_task_query(req.query, set())
        if not req.query:
            verb = "cancel" if type_ == "taskCancelation" else "delete"
            raise _bad(
                "missing_task_filters",
                f"Query parameters to filter the tasks to {verb} are missing. Available query "
                "parameters "
                "are: `uids`, `indexUids`, `statuses`, `types`, `canceledBy`, `beforeEnqueuedAt`, "
                "`afterEnqueuedAt`, `beforeStartedAt`, `afterStartedAt`, `beforeFinishedAt`, "
                "`afterFinishedAt`.",
            )
        with self.e.lock:
            matched = len(self.e._match_tasks(query))
            details = {"matchedTasks": matched, count_key: None, "originalFilter": original}
            task = self.e.enqueue(None, type_, details, {"query": query})
            return 202, task.summary()

    @route("POST", r"/tasks/cancel", "tasks.cancel")
    def cancel_tasks(self, req):
        return self._task_filter_task(req, "taskCancelation", "canceledTasks")

    @route("DELETE", r"/tasks", "tasks.delete")
    def delete_tasks(self, req):
        return self._task_filter_task(req, "taskDeletion", "deletedTasks")

    @route("GET", r"/batches", "tasks.get")
    def list_batches(self, req):
        query, _ = _parse_task_query(req.query, {"limit", "from", "reverse"})
        limit = int(req.param("limit") or 20)
        frm = req.param("from")
        with self.e.lock:
            started = [t for t in self.e._match_tasks(query) if t.started_at is not None]
            ordered = [t for t in reversed(started) if frm is None or t.uid <= int(frm)]
            page = ordered[:limit]
            return 200, {
                "results": [t.batch_view() for t in page],
                "total": len(started),
                "limit": limit,
                "from": page[0].uid if page else 0,
                "next": ordered[limit].uid if len(ordered) > limit else None,
            }

    @route("GET", r"/batches/" + SEG, "tasks.get")
    def get_batch(self, req, batch_uid):
        with self.e.lock:
            task = self.e.tasks.get(int(batch_uid)) if batch_uid.isdigit() else None
            if task is None or task.started_at is None:
                raise MeiliError(404, "batch_not_found", f"Batch `{batch_uid}` not found.")
            return 200, task.batch_view()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, emulator: MeiliEmulator):
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(addr, handler)

    def process_request(self, request, client_address):
        with self.conn_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.conn_lock:
            conns = list(self.connections)
            self.connections.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                conn.close()
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "meilisearch-emulator"
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _handle(self, method: str) -> None:
        emu = self.server.emulator
        try:
            req = _Request(self, method)
        except Exception:
            self.close_connection = True
            return
        if emu.response_delay:
            time.sleep(emu.response_delay)
        if emu.unavailable:
            self._send(
                503,
                MeiliError(
                    503, "unavailable", "Meilisearch is unavailable (emulated outage).", "system"
                ).to_json(),
            )
            return
        try:
            status, body = emu._dispatch(req)
        except MeiliError as exc:
            status, body = exc.status, exc.to_json()
        except Exception as exc:  # pragma: no cover
            status, body = 500, MeiliError(500, "internal", f"emulator error: {exc!r}").to_json()
        self._send(status, body)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")


# --------------------------------------------------------------------------- public class


class MeiliEmulator:
    """A Meilisearch look-alike HTTP server on ``127.0.0.1:port`` (``port=0``: pick a free one).

    State (indexes, documents, settings, tasks) lives in memory and survives
    ``stop()``/``start()``, like a real instance restarted on the same data.
    """

    def __init__(self, port: int = 0, master_key: str | None = "test-master-key", host: str = "127.0.0.1"):
        self.host = host
        self.port = port
        self.master_key = master_key or None
        self.engine = Engine(self.master_key)
        self.api = Api(self.engine)
        self.unavailable = False
        self.response_delay = 0.0
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()

    # ---- lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> MeiliEmulator:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"meili-emulator-http-{self.port}",
            daemon=True,
        )
        self._serve_thread.start()
        self._stop = threading.Event()
        self._worker = threading.Thread(
            target=self._work, name=f"meili-emulator-worker-{self.port}", daemon=True
        )
        self._worker.start()
        return self

    def stop(self) -> None:
        """Stop serving: new connections are refused and open ones are dropped. Data is kept."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stop.set()
        with self.engine.cond:
            self.engine.cond.notify_all()
        server.shutdown()
        server.server_close()
        server.drop_connections()
        if self._worker is not None:
            self._worker.join(timeout=5)
        if self._serve_thread is not None:
            self._serve_thread.join(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> MeiliEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _work(self) -> None:
        stop = self._stop
        while not stop.is_set():
            self.engine.work_once(stop)

    # ---- test hooks
    def pause(self) -> None:
        """Hold task processing: new tasks stay ``enqueued`` until :meth:`resume`."""
        with self.engine.cond:
            self.engine.paused = True

    def resume(self) -> None:
        with self.engine.cond:
            self.engine.paused = False
            self.engine.cond.notify_all()

    @property
    def processing_delay(self) -> float:
        """Seconds every task spends in ``processing`` (default 0)."""
        return self.engine.processing_delay

    @processing_delay.setter
    def processing_delay(self, seconds: float) -> None:
        self.engine.processing_delay = seconds

    def set_unavailable(self, unavailable: bool = True) -> None:
        """While set, every request (even /health) is answered with 503."""
        self.unavailable = unavailable

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until no task is enqueued or processing (False on timeout or while paused)."""
        deadline = time.monotonic() + timeout
        with self.engine.cond:
            while self.engine.has_pending():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.engine.paused:
                    return False
                self.engine.cond.wait(min(remaining, 0.05))
        return True

    def reset(self) -> None:
        """Forget every index, document, setting and task."""
        self.engine.reset()

    @property
    def default_keys(self) -> dict[str, str]:
        """The default API keys: ``{"search": ..., "admin": ...}`` (empty without a master key)."""
        out = {}
        with self.engine.lock:
            for k in self.engine.keys.values():
                if k.name == "Default Search API Key":
                    out["search"] = k.key
                elif k.name == "Default Admin API Key":
                    out["admin"] = k.key
        return out

    # ---- dispatch
    def _dispatch(self, req: _Request) -> tuple[int, Any]:
        path_matched = False
        for method, pattern, action, fn in ROUTES:
            m = pattern.match(req.path)
            if not m:
                continue
            path_matched = True
            if method != req.method:
                continue
            args = [unquote(g) for g in m.groups()]
            self._authorize(req, action, args[0] if args and req.path.startswith("/indexes/") else None)
            return fn(self.api, req, *args)
        if path_matched:
            return 405, None
        raise MeiliError(404, "not_found", "Not Found", "invalid_request")

    def _authorize(self, req: _Request, action: str | None, index_uid: str | None) -> None:
        if action is None or self.master_key is None:
            return
        header = req.headers.get("Authorization")
        if not header:
            raise MeiliError(
                401,
                "missing_authorization_header",
                "The Authorization header is missing. It must use the bearer authorization method.",
            )
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise MeiliError(403, "invalid_api_key", "The provided API key is invalid.")
        if token == self.master_key:
            return
        with self.engine.lock:
            key = self.engine.keys.get(token)
            if key is not None and key.allows(action, index_uid):
                return
        raise MeiliError(403, "invalid_api_key", "The provided API key is invalid.")


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Meilisearch HTTP API emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7700)
    parser.add_argument(
        "--master-key", default="test-master-key", help="master key (empty string: no authentication)"
    )
    args = parser.parse_args(argv)
    emu = MeiliEmulator(port=args.port, master_key=args.master_key, host=args.host)
    emu.start()
    print(f"meilisearch emulator listening on {emu.url}", flush=True)
    done = threading.Event()

    def _stop(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not done.wait(0.5):
            pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
