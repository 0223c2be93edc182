"""Issue 15: readiness reconciles with KY's ledger. The test-double debtor system (debtor_double.py) is
correct, or wrong in one way at a time; readiness passes the correct one and fails exactly the matching
item, with a reason naming the difference — on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from lxml import etree

from examples.reference_debtor.app import Config
from examples.reference_debtor.app import create_app as create_debtor_app
from simulator.app import create_app
from simulator.scenarios.readiness import ReadinessReport, run_readiness
from simulator.scenarios.report import to_html, to_junit
from tests.conftest import POSTGRES_URL, LiveServer, free_port, make_settings, point_routes_at, postgres_schema
from tests.scenarios.conftest import COMPONENTS, CVR, JUNIT_ANT, serve
from tests.scenarios.debtor_double import Fault, configure

WITHIN_S = 5  # how long readiness waits for what the double never sends (costs time only when missing)
KY_BESKEDMODTAG_11111111 = "b1e7629e-6cfd-4d6d-8afc-987e80cd0971"  # routes/agreements.yaml
PYTHON_REPR = re.compile(r"set\(\)|\bNone\b|\[\]|\{\}|\['|\{'|(expected|actual) '")


@dataclass
class Case:
    fault: Fault
    failing: set[str]  # exactly the items that fail (the others pass, or are skipped because one failed)
    reasons: dict[str, list[str | Callable[[dict[str, str]], str]]]  # item → texts its summary/missing name


def _v(name: str) -> Callable[[dict[str, str]], str]:
    return lambda variables: variables[name]


CASES = [
    Case(Fault.NONE, set(), {}),
    Case(Fault.RESTBELOEB_OFF, {"1b"}, {"1b": [_v("claim1"), "/Restbeloeb: expected 1000.00, actual 1000.01"]}),
    Case(Fault.CLAIM_MISSING, {"1b"}, {"1b": [_v("claim2"), "Restbeloeb 250.50), actual (missing)"]}),
    Case(Fault.SUBCLAIM_AMOUNT, {"1b"}, {"1b": [_v("sub1a"), "/Beloeb: expected 600.00, actual 599.00"]}),
    Case(
        Fault.NEVER_COVERED,
        {"1c", "1d"},
        {"1c": ["no call DaekningAfskrivningRegistreringAfsend/RegistrerDaekning"], "1d": ["RegistrerDaekning booked"]},
    ),
    Case(
        Fault.COVER_WRONG_CLAIM,
        {"1c"},
        {"1c": [_v("claim2"), "expected 0.00 (coverage (KY paid nothing on this claim)), actual 200.00"]},
    ),
    Case(Fault.COVER_WRONG_AMOUNT, {"1c"}, {"1c": [_v("claim1"), "expected 200.00", "actual 199.99"]}),
    Case(Fault.NO_WRITE_OFF, {"1d"}, {"1d": ["RegistrerAfskrivning booked by KY: expected at least one", "none"]}),
    Case(Fault.ONE_MESSAGE_TYPE, {"1e"}, {"1e": ["no FordringTilIndbetaling message"]}),
    Case(Fault.STATUS_CONTRADICTS, {"1e"}, {"1e": ["DebitorkontoStatusskift/Status: expected aktiv", "actual lukket"]}),
    Case(
        Fault.NO_KY_AGREEMENT,
        {"1e", "2"},
        {"1e": ["reached nobody", "BeskedModtag"], "2": ["reached nobody: KY (ky) has no BeskedModtag agreement"]},
    ),
    Case(
        Fault.REFUSES_CLAIM_TYPES,
        {"1a"},
        {"1a": ["FejlKode DEB-010", "is not accepted", "expected \u201cACCEPTERET\u201d, actual \u201cAFVIST\u201d"]},
    ),
    Case(Fault.CONTRACT_VIOLATION, {"1b"}, {"1b": ["SP-151", "Bemaerkning"]}),
]


@asynccontextmanager
async def double_env(tmp_path, routes_dir, messages_dir, backend: str, fault: Fault) -> AsyncIterator[object]:
    """The simulator (SQLite or PostgreSQL) in this event loop and the double on its own port."""
    dport, sport = free_port(), free_port()
    point_routes_at(routes_dir, f"http://127.0.0.1:{dport}")
    debtor_app = create_debtor_app(
        Config.from_routes(routes_dir, f"http://127.0.0.1:{sport}", messages_dir=messages_dir)
    )
    configure(debtor_app.state.debtor, fault)
    settings = make_settings(tmp_path, routes_dir, messages_dir, port=sport, components=COMPONENTS)

    @asynccontextmanager
    async def simulator() -> AsyncIterator[object]:
        if backend == "postgres":
            async with postgres_schema() as schema:
                settings.database_url = POSTGRES_URL
                app = create_app(settings, db_schema=schema)
                async with serve(app, sport):
                    yield app
        else:
            app = create_app(settings)
            async with serve(app, sport):
                yield app

    with LiveServer(debtor_app, port=dport):
        async with simulator() as app:
            if fault is Fault.NO_KY_AGREEMENT:
                assert await app.runtime.routes.delete_agreement(app.runtime.db, KY_BESKEDMODTAG_11111111)
            yield app


def _failing(report: ReadinessReport) -> set[str]:
    return {i.id for i in report.items if i.verdict == "fail"}


@pytest.mark.parametrize("case", CASES, ids=[c.fault.name.lower() for c in CASES])
async def test_readiness_fails_exactly_the_item_the_debtor_system_gets_wrong(
    case: Case, backend: str, tmp_path, routes_dir, messages_dir
) -> None:
    async with double_env(tmp_path, routes_dir, messages_dir, backend, case.fault) as app:
        report = await run_readiness(app.runtime, CVR, within_s=WITHIN_S)
    items = {i.id: i for i in report.items}
    why = {i.id: (i.verdict, i.summary, i.missing) for i in report.items if not i.passed}
    assert _failing(report) == case.failing, why
    assert report.passed is (not case.failing)
    assert {i.verdict for i in report.items if i.id not in case.failing} <= {"pass", "skipped"}, why
    variables = report.run.variables
    for item_id, texts in case.reasons.items():
        it = items[item_id]
        said = f"{it.summary} | {it.missing}"
        for t in texts:
            assert (t(variables) if callable(t) else t) in said, (item_id, said)
        assert it.fix, item_id
    if case.failing - {"1a"}:  # a failed reconciliation names field, expected and actual, and its exchange
        it = items[sorted(case.failing)[0]]
        assert it.differences or it.steps, it
        for d in it.differences:
            assert d["field"] and d["expected"] != d["actual"]
    assert report.validation == "strict" and report.as_dict()["validation"] == "strict"

    # the report says why: strict, the differences with their exchanges, the debtor's FejlKode; no Python reprs
    d = report.as_dict()
    junit = etree.fromstring(to_junit(d))
    JUNIT_ANT.assertValid(junit)
    suite = junit.find("testsuite")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.get("timestamp"))
    assert suite.get("failures") == str(sum(1 for i in report.items if i.verdict in ("fail", "skipped")))
    html = to_html(d)
    assert 'validated <b class="validation">strict</b>ly' in html
    for it in report.items:
        for text in (it.summary, it.missing, it.fix):
            assert not PYTHON_REPR.search(text or ""), (it.id, text)
        for diff in it.differences:
            assert f"/ui/traffic/{diff['source']}" in html if diff["source"] else True
            assert diff["actual"] in html.replace("&#39;", "'").replace("&gt;", ">").replace("&lt;", "<")
