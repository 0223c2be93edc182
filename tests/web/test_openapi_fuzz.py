"""Schemathesis over the admin API's OpenAPI (/openapi.json): generated requests for every operation,
valid and invalid, never get a server error (5xx) — bad input is a 4xx with a reason — and every answer
follows the schema: its content type and headers, and its body (for success answers and FastAPI's own
request-validation errors; see `refusal` for the one documented exception).

(schemathesis drives hypothesis here directly, per operation: its pytest plugin does not run on pytest 9.)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup

from simulator.app import create_app
from tests.conftest import DEMO_MESSAGES, DEMO_ROUTES, LiveServer, free_port, make_settings

EXAMPLES_PER_OPERATION = int(os.environ.get("SIMULATOR_FUZZ_EXAMPLES", "12"))  # more for a deeper run by hand


@pytest.fixture(scope="module")
def admin_api(tmp_path_factory) -> Iterator:
    """The whole simulator on a port (demo routes and messages, SQLite, in-process broker), and its schema."""
    tmp = tmp_path_factory.mktemp("openapi")
    routes, messages = tmp / "routes", tmp / "messages"
    shutil.copytree(DEMO_ROUTES, routes)
    shutil.copytree(DEMO_MESSAGES, messages)
    port = free_port()
    app = create_app(make_settings(tmp, routes, messages, port=port, forward_timeout_s=2.0))
    with LiveServer(app, port=port) as server:
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json")


PROTOCOL = ("/runtime/", "/service/")
"""The mock STS's endpoints are in the schema too, but they speak WS-Trust/OAuth: a receiver fault is HTTP 500
by SOAP 1.2, and while the security component is off (as here) they answer 503 "the mock STS is off"."""


def refusal(response) -> bool:
    """A handler's own refusal: a 4xx whose `detail` is a sentence (`HTTPException(4xx, "why")`). FastAPI
    documents 422 as HTTPValidationError (`detail` = a list of errors), which those refusals do not follow,
    and 404/409 are not documented at all — so only the checks that do not depend on that apply to them."""
    if not 400 <= response.status_code < 500:
        return False
    try:
        return isinstance(response.json().get("detail"), str)
    except ValueError:
        return False


def reason(response) -> str | None:
    """What a 4xx answer says was wrong (None when it says nothing)."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return None
    if isinstance(detail, list):  # FastAPI's validation errors
        detail = "; ".join(str(e.get("msg", "")) for e in detail if isinstance(e, dict))
    return detail if isinstance(detail, str) and detail.strip() else None


def test_no_operation_answers_with_a_server_error_and_every_answer_follows_the_schema(admin_api) -> None:
    operations = [op for op in (r.ok() for r in admin_api.get_all_operations()) if not op.path.startswith(PROTOCOL)]
    assert sum(op.path.startswith("/api/") for op in operations) > 30  # the whole admin surface, not an empty schema
    problems: list[str] = []
    calls = 0
    statuses: dict[int, int] = {}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def fuzz(case) -> None:
            nonlocal calls
            calls += 1
            response = case.call(timeout=30)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            checks = [not_a_server_error, content_type_conformance, response_headers_conformance]
            if not refusal(response):
                checks.append(response_schema_conformance)
            where = (
                f"{case.method} {case.path} → {response.status_code} "
                f"(path {case.path_parameters}, query {case.query}, body {str(case.body)[:200]})"
            )
            try:
                case.validate_response(response, checks=checks)
            except (Failure, FailureGroup) as e:
                problems.append(f"{where}: {str(e)[:400]}")
            if 400 <= response.status_code < 500 and reason(response) is None:
                problems.append(f"{where}: a refusal without a reason: {response.text[:200]}")

        fuzz()
    assert not problems, "\n".join(problems[:20])
    print(f"{len(operations)} operations, {calls} generated calls, answers {dict(sorted(statuses.items()))}")
