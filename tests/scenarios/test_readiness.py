"""The SA 05 readiness check against the reference debtor system, and with one integration switched off."""

from __future__ import annotations

from lxml import etree

from simulator.scenarios.readiness import run_readiness
from simulator.scenarios.report import to_html, to_junit
from tests.scenarios.conftest import CVR, Env, seed_write_off


async def test_readiness_passes_against_the_reference_debtor_system(env: Env) -> None:
    # the reference debtor system writes off only on request: a write-off of the last 30 days is the evidence
    write_off = await seed_write_off(env.rt, env.debtor.url)
    report = await run_readiness(env.rt, CVR, within_s=15)
    assert [(i.id, i.verdict) for i in report.items] == [
        (i, "pass") for i in ("1a", "1b", "1c", "1d", "1e", "2", "3")
    ], [(i.id, i.missing) for i in report.items if not i.passed]
    items = {i.id: i for i in report.items}
    # evidence: the exchanges with ids and timestamps, the message seen, the agreements used, the sortiment
    assert items["1a"].evidence[0]["operation"] == "OpretDebitorkonto" and items["1a"].evidence[0]["started_at"]
    assert "claim types from KY's sortiment" in items["1a"].summary  # which Klasse the run's claims carried
    assert items["1c"].evidence[1]["service"] == "DaekningAfskrivningRegistreringAfsend"
    assert {"exchange": write_off, "kind": "afskrivning", "evidence_window": True} in items["1d"].evidence
    assert "in the evidence window" in items["1d"].summary and report.evidence_window.startswith("write-offs booked")
    assert items["1e"].evidence[0]["service"] == "BeskedAfsend" and items["1e"].evidence[0]["decision"] == "accepted"
    assert {e["beskedtype"] for e in items["1e"].evidence if "beskedtype" in e} == {
        "DebitorkontoStatusskift",
        "FordringTilIndbetaling",
    }
    assert "agrees with KY's ledger" in items["1b"].summary and report.validation == "strict"
    assert any(e.get("agreement_uuid") for e in items["2"].evidence)
    assert items["3"].evidence[0]["up_to_date"] is True

    d = report.as_dict()
    suite = etree.fromstring(to_junit(d)).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("7", "0", "0")
    html = to_html(d)
    assert "SA 05 Debitor readiness" in html and "<script" not in html and "http" not in html.split("<body>")[0]


async def test_a_switched_off_integration_names_the_failing_item_and_the_fix(env: Env) -> None:
    await env.rt.routes.delete_route(env.rt.db, f"DebitorIndbetalingAfsend:{CVR}")
    report = await run_readiness(env.rt, CVR, within_s=5)
    verdicts = {i.id: i.verdict for i in report.items}
    assert verdicts == {
        "1a": "pass",
        "1b": "pass",
        "1c": "fail",
        "1d": "skipped",  # nothing to cover without KY's payment
        "1e": "fail",  # the reference debtor announces a claim open for payment after a payment only
        "2": "skipped",  # the coverage's agreement was not exercised
        "3": "pass",
    }
    c = next(i for i in report.items if i.id == "1c")
    assert "SP-140" in c.missing and "no route for DebitorIndbetalingAfsend" in c.missing
    assert "register a route for DebitorIndbetalingAfsend in municipality 11111111" in c.fix
    assert c.evidence[0]["decision"] == "refused"
    d = next(i for i in report.items if i.id == "1d")
    assert "did not pass" in d.missing and "make item 1c pass first" in d.fix  # not demonstrated because 1c failed
    junit = to_junit(report.as_dict()).decode()
    assert 'name="1c receives payments from KY (SF1590_B_03)"' in junit and "register a route" in junit


async def test_without_a_write_off_in_the_evidence_window_1d_says_what_to_send(env: Env) -> None:
    await seed_write_off(env.rt, env.debtor.url)  # booked before the run: outside a window of "this run only"
    report = await run_readiness(env.rt, CVR, within_s=3, evidence_window_days=0)
    assert {i.id: i.verdict for i in report.items if not i.passed} == {"1d": "fail"}
    d = next(i for i in report.items if i.id == "1d")
    assert report.evidence_window == "this run only" and "evidence window: this run only" in d.fix
    assert d.differences == [
        {
            "field": "RegistrerAfskrivning booked by KY",
            "expected": f"at least one, for municipality {CVR} in this run",
            "actual": "none",
            "source": None,
        }
    ]
    assert "send RegistrerAfskrivning (AfskrivningUUID, FordringUUID, Beloeb, Dato, Aarsag" in d.fix
