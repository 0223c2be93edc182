"""The whole app's OpenAPI document (every component on) says what every success answers — a typed schema a
Java/.NET team can generate a client from — and the real answers follow it, so schema and answers cannot
drift apart."""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator

from simulator.app import create_app
from tests.conftest import make_settings
from tests.ky.conftest import DEMO_CVR
from tests.ky.messages import PATH, action, coverage, kvittering

ALL = ["ky", "beskedfordeler", "klassifikation", "scenarios", "security"]
SCALARS = {"string", "integer", "number", "boolean"}


def _typed(schema: dict[str, Any]) -> bool:
    """A named model, a list of named models, a union of named models, or a plain scalar."""
    if "$ref" in schema or schema.get("type") in SCALARS:
        return True
    if schema.get("type") == "array":
        return _typed(schema.get("items") or {})
    union = schema.get("oneOf") or schema.get("anyOf")
    return bool(union) and all(_typed(s) for s in union if s.get("type") != "null")


def _successes(doc: dict[str, Any]):
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for status, answer in op["responses"].items():
                if status.startswith("2") and status != "204":
                    yield f"{method.upper()} {path} {status}", answer


def test_every_success_answer_of_the_whole_app_documents_typed_content(tmp_path, routes_dir, messages_dir) -> None:
    doc = create_app(make_settings(tmp_path, routes_dir, messages_dir, components=ALL)).api.openapi()
    checked = []
    for where, answer in _successes(doc):
        content = answer.get("content") or {}
        assert content, f"{where} documents no content"
        for media_type, body in content.items():
            assert body.get("schema"), f"{where} documents {media_type} without a schema"
            if media_type == "application/json":
                schema = body.get("schema") or {}
                assert _typed(schema), f"{where} answers untyped JSON: {schema}"
        checked.append(where)
    # every part of the app is in: the core, KY, the Beskedfordeler, Klassifikation, scenarios, security (STS)
    for prefix in (
        "/api/exchanges",
        "/api/ky/",
        "/api/beskedfordeler/",
        "/api/klassifikation/",
        "/api/scenarios",
        "/api/readiness",
        "/api/security",
        "/runtime/",
        "/service/AccessTokenService_1",
        "/healthz",
    ):
        assert any(f" {prefix}" in w for w in checked), prefix
    assert len(checked) >= 75, len(checked)


def _strict(schema: Any) -> Any:
    """The schema with undocumented keys refused wherever a model does not allow extra keys."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _validator(doc: dict[str, Any], path: str) -> Draft202012Validator:
    schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return Draft202012Validator(_strict({**copy.deepcopy(schema), "components": doc["components"]}))


async def test_real_answers_follow_the_documented_schema(sim_factory) -> None:
    async with sim_factory(components=ALL) as sim:
        c = sim.client
        # traffic: a KY account with a claim, a coverage report through the Serviceplatform, a sortiment edit
        r = await c.post(
            "/api/ky/accounts",
            json={
                "municipality": DEMO_CVR,
                "debitor": {"cpr": "0101701234"},
                "claims": [{"amount": "100.00"}],
                "send": False,
            },
        )
        assert r.status_code == 200, r.text
        account = r.json()["account"]
        claim = account["claims"][0]["uuid"]
        r = await c.post(
            PATH,
            content=coverage(claim, "10.00"),
            headers={"SOAPAction": action(False), "Content-Type": "text/xml; charset=utf-8"},
        )
        assert kvittering(r.content)[0] == "ACCEPTERET", r.text
        r = await c.post(
            "/api/klassifikation/sortiment/aendringer",
            json={
                "aendringer": [{"handling": "ret", "klasse": "KY-FT-0202", "felter": {"titel": "Ny titel"}}],
                "note": "t",
            },
        )
        assert r.status_code == 201, r.text
        await sim.rt.recorder.flush()
        exchange = (await c.get("/api/exchanges", params={"limit": 1})).json()["items"][0]["id"]

        doc = (await c.get("/openapi.json")).json()
        gets = {
            "/api/exchanges/{exchange_id}": f"/api/exchanges/{exchange}",
            "/api/ky/accounts/{account_uuid}": f"/api/ky/accounts/{account['uuid']}",
            "/api/ky/claims/{claim_uuid}": f"/api/ky/claims/{claim}",
            "/api/ky/fordringstyper": f"/api/ky/fordringstyper?municipality={DEMO_CVR}",
            "/api/klassifikation/sortiment/versions/{number}": "/api/klassifikation/sortiment/versions/3",
            "/api/klassifikation/klasser/{ref}": "/api/klassifikation/klasser/KY-FT-0202",
        }
        # and every GET without a required parameter
        for path, operations in doc["paths"].items():
            op = operations.get("get")
            if op and "{" not in path and not any(p.get("required") for p in op.get("parameters", [])):
                gets.setdefault(path, path)
        checked = []
        for documented, url in gets.items():
            r = await c.get(url)
            assert r.status_code == 200, (url, r.text)
            answer = r.json()
            errors = sorted(_validator(doc, documented).iter_errors(answer), key=str)
            assert not errors, f"GET {url} does not follow its schema: " + "; ".join(
                f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
            )
            if answer not in ([], {}):
                checked.append(documented)
        for must in (
            "/api/ky/accounts",
            "/api/ky/postings",
            "/api/exchanges",
            "/api/klassifikation/sortiment",
            "/api/klassifikation/deliveries",
            "/healthz",
            "/api/security",
            "/api/routes",
        ):
            assert must in checked, f"{must} answered nothing to check"
