"""Schemathesis over the admin API's OpenAPI (/openapi.json): generated requests for every operation,
valid and invalid, never get a server error (5xx) — bad input is a 4xx with a reason.

(schemathesis drives hypothesis here directly, per operation: its pytest plugin does not run on pytest 9.)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

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


def test_no_admin_operation_answers_with_a_server_error(admin_api) -> None:
    # the admin surface (/api/...); the protocol endpoints in the schema (the STS) answer protocol faults
    operations = [op for op in (r.ok() for r in admin_api.get_all_operations()) if op.path.startswith("/api/")]
    assert len(operations) > 30  # the whole admin surface, not an empty schema
    server_errors: list[str] = []
    calls = 0

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def fuzz(case) -> None:
            nonlocal calls
            calls += 1
            response = case.call(timeout=30)
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.path} → {response.status_code} "
                    f"(path {case.path_parameters}, query {case.query}, body {str(case.body)[:200]}): "
                    f"{response.text[:300]}"
                )

        fuzz()
    assert not server_errors, "\n".join(server_errors[:20])
    print(f"{len(operations)} operations, {calls} generated calls, no server error")
