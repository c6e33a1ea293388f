"""Schema-driven fuzzing of every operation in /api/openapi.json against the real server: anonymous with
data the document does not allow, signed in with data it allows (path ids of seeded rows, so owner paths run
too). No input gets a 5xx, a status code the operation does not document, or a body that breaks the
documented response schema.

Whatever the document describes is fuzzed; examples per operation are bounded (FUZZ_EXAMPLES) so the run
stays short: generating them costs more than sending them. (schemathesis' pytest integration is not used:
its lazy fixture mode reads a node attribute pytest 9 no longer has.)"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from schemathesis.core.failures import FailureGroup

from bazaar.domain.models import Role
from tests.conftest import make_product, register
from tests.support.shows import make_show, start

FUZZ_EXAMPLES = 4
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture(scope="session")
def operations(server) -> list:
    schema = schemathesis.openapi.from_url(server.base_url + "/api/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.fixture(scope="session")
def seeded(server) -> dict:
    """A creator with a product, a live show selling it and a chat message: ids the signed-in cases use for
    path parameters."""
    owner = register(server, Role.CREATOR)
    product = make_product(server, owner)
    show = make_show(server, owner, productIds=[product["id"]])
    start(server, owner, show)
    message = server.post(f"/api/sessions/{show['id']}/chat", as_=owner, json={"message": "hello"}).data
    return {
        "token": owner.token,
        "ids": {
            "session_id": show["id"],
            "product_id": product["id"],
            "user_id": owner.id,
            "creator_id": owner.id,
            "message_id": message["id"],
        },
    }


def _fuzz(server, operations, mode, *, headers: dict, path_ids: dict) -> list[str]:
    """Findings: one line per operation where some input got a 5xx, an undocumented status or a body off its
    documented schema (hypothesis shrinks it)."""
    http = requests.Session()
    findings = []
    for operation in operations:

        @settings(
            max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy(mode))
        def answers_as_documented(case):
            for name in case.path_parameters or {}:
                if name in path_ids:
                    case.path_parameters[name] = path_ids[name]
            response = case.call(base_url=server.base_url, session=http, headers=headers, timeout=10)
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (AssertionError, FailureGroup) as failure:  # a group when several checks fail
                raise AssertionError(
                    f"{case.method} {case.formatted_path} query={case.query} body={case.body!r:.300} "
                    f"→ {response.status_code}: {response.text[:300]}\n{failure}"
                ) from None

        try:
            answers_as_documented()
        except AssertionError as finding:
            findings.append(str(finding))
        except Unsatisfiable:  # nothing in the operation can be made invalid (no parameters, no body)
            pass
    return findings


def test_anonymous_input_is_answered_as_documented(server, operations):
    assert _fuzz(server, operations, schemathesis.GenerationMode.NEGATIVE, headers={}, path_ids={}) == []


def test_signed_in_input_is_answered_as_documented(server, operations, seeded):
    headers = {"Authorization": f"Bearer {seeded['token']}"}
    mode = schemathesis.GenerationMode.POSITIVE
    assert _fuzz(server, operations, mode, headers=headers, path_ids=seeded["ids"]) == []
