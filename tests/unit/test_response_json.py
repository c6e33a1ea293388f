"""Response bodies as JSON: a search page's shared views (kept encoded between pages) are written exactly as
the same body of plain dicts."""

from __future__ import annotations

import json

from bazaar.entry.http.middleware import BodyWithSharedViews, json_dumps
from bazaar.infra.rows import SharedView


def test_a_body_with_shared_views_is_written_as_the_same_body_of_plain_dicts():
    shared = SharedView({"id": "7", "name": "Café ☕ «naïve»", "tags": ["a"], "price": 19.5, "owner": None})
    odd = SharedView({"echo": "\ud800", "nested": {"empty": [], "deep": [{"x": True}]}})
    copied = dict(shared, viewerCount=3)  # a view with live counts is a copy, written anew
    body = {"results": [shared, odd, copied, shared], "total": 4, "none": [], "title": "ünï", "more": False}
    plain = {k: [dict(i) for i in v] if isinstance(v, list) else v for k, v in body.items()}

    expected = json_dumps(plain)
    assert json_dumps(BodyWithSharedViews(body)) == expected
    assert json_dumps(BodyWithSharedViews(body)) == expected  # again, from the encodings kept with the views
    assert json.loads(expected)["results"][0]["name"] == "Café ☕ «naïve»"
