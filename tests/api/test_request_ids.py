"""The request id the server makes when a request brings none it can keep: a random (version 4) UUID's 32
hex digits, as before ids were made without a UUID object."""

from __future__ import annotations

import uuid


def test_a_request_id_the_server_makes_is_a_random_uuid_in_hex(api):
    ids = [api.get("/health").headers["X-Request-Id"] for _ in range(20)]
    assert len(set(ids)) == len(ids)
    for request_id in ids:
        made = uuid.UUID(request_id)
        assert (made.hex, made.version, made.variant) == (request_id, 4, uuid.RFC_4122)
