"""The admin API of KY and of the scenarios/readiness runs documents what every success answers (a typed
response schema a Java/.NET team can generate a client from), and the answers follow it."""

from __future__ import annotations

from simulator.app import create_app
from tests.conftest import make_settings

PREFIXES = ("/api/ky/", "/api/scenarios", "/api/readiness")


def test_every_ky_and_scenario_success_answer_has_a_schema(tmp_path, routes_dir, messages_dir) -> None:
    doc = create_app(make_settings(tmp_path, routes_dir, messages_dir)).api.openapi()
    checked = []
    for path, operations in doc["paths"].items():
        if not path.startswith(PREFIXES):
            continue
        for method, op in operations.items():
            for status, answer in op["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                content = answer.get("content") or {}
                assert content, f"{method.upper()} {path} {status} documents no content"
                if "application/json" in content and not path.endswith("report.{fmt}"):
                    schema = content["application/json"].get("schema") or {}
                    assert schema.get("$ref") or schema.get("items", {}).get("$ref"), (
                        f"{method.upper()} {path} {status} answers untyped JSON: {schema}"
                    )
                checked.append(f"{method} {path}")
    assert len(checked) >= 20, checked
