"""Replay and record against the reference debtor system: round trip, diffs, volatile fields, isolation."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from pathlib import Path

from examples.reference_debtor.state import Posting
from simulator.scenarios import model
from simulator.scenarios.engine import run_scenario
from simulator.scenarios.record import record
from simulator.scenarios.report import to_html, to_junit
from simulator.traffic import ExchangeFilter
from tests.scenarios.conftest import CVR, Env

ROOT = Path(__file__).resolve().parents[2]
BASIC = ROOT / "messages" / "scenarios" / "ky-debtor-basic.yaml"


async def _recorded(env: Env, tmp_path: Path) -> model.Scenario:
    """Run the built-in scenario, record its session into a file and load that file."""
    first = await run_scenario(env.rt, model.load(BASIC), municipality=CVR)
    assert first.passed, [(s.label, s.message) for s in first.steps]
    path = tmp_path / "recorded.yaml"
    path.write_text(model.dumps(await record(env.rt, name="recorded", session=first.session)), encoding="utf-8")
    return model.load(path)


async def test_record_then_replay_round_trip(env: Env, tmp_path: Path) -> None:
    sc = await _recorded(env, tmp_path)
    kinds = [s.kind for s in sc.steps]
    # KY's calls → ky steps; the debtor's coverage and its status message → receive steps
    assert kinds.count("ky") == 4 and "receive" in kinds and "receive_message" in kinds
    assert {sc.variables[n] for n in sc.variables} >= {"uuid", "cpr", "date"}
    create = next(s for s in sc.steps if s.ky and s.ky.action == "create_account")
    assert create.ky.args["account_uuid"].startswith("${") and create.ky.args["debitor"]["cpr"].startswith("${")

    replay = await run_scenario(env.rt, sc, municipality=CVR)
    assert replay.passed, [(s.label, s.message, s.diff) for s in replay.steps if not s.passed]
    assert replay.variables["account1"] != create.ky.args["account_uuid"]  # fresh ids per run
    # the replay's KY calls are tagged with its session
    tagged = await env.rt.exchanges.page(ExchangeFilter(session=replay.session), limit=50)
    assert {e["operation"] for e in tagged} == {
        "OpretDebitorkonto",
        "SoegDebitorkonto",
        "ForetagIndbetaling",
        "LaesDebitorkonto",
    }


async def test_volatile_fields_do_not_cause_false_failures(env: Env, tmp_path: Path) -> None:
    sc = await _recorded(env, tmp_path)
    text = model.dumps(sc)
    # ids the debtor system makes up (coverage and posting ids) are only required to exist …
    read = [s for s in sc.steps if s.ky and s.ky.action == "read_account"][-1]
    posting = [m for m in read.expect if m.path.endswith("/PosteringUUID")]
    assert posting and all(m.exists for m in posting)
    # … and the context elements (CallersServiceCallIdentifier, …) are ignored
    assert ("//InvocationContext", "ignore") in [(r.path, r.action) for r in sc.normalise]
    assert ("//StatusTidspunkt", "mask") in [(r.path, r.action) for r in sc.normalise]  # a timestamp
    assert "CallersServiceCallIdentifier" not in text.split("normalise")[0]
    # two further replays: every debtor-made id, call id and timestamp differs, both pass
    for _ in range(2):
        r = await run_scenario(env.rt, sc, municipality=CVR)
        assert r.passed, [(s.label, s.message) for s in r.steps if not s.passed]


async def test_changed_debtor_behaviour_fails_with_a_diff_naming_the_field(env: Env, tmp_path: Path) -> None:
    sc = await _recorded(env, tmp_path)
    debtor = env.debtor_system
    original = debtor.op_ForetagIndbetaling

    def with_fee(cvr, books, payload, ns, resp):  # the new build adds a 25.00 fee on every payment
        text = original(cvr, books, payload, ns, resp)
        claim = books.claim(payload.findtext(".//{*}FordringUUID"))
        claim.postings.append(Posting(str(uuid.uuid4()), "Gebyr", claim.uuid, 2500, date.today(), reported="KY"))
        return text

    debtor.op_ForetagIndbetaling = with_fee
    result = await run_scenario(env.rt, sc, municipality=CVR)
    assert not result.passed
    failed = [s for s in result.steps if s.verdict == "fail"]
    assert [s.kind for s in failed] == ["ky"] and "LaesDebitorkonto" in failed[0].label
    step = failed[0]
    field = "/LaesDebitorkontoResponse/Debitorkonto/Restbeloeb"
    assert f"{field}: expected 950.50 ± 0.005, actual 975.50" in step.message
    assert "-    <Restbeloeb>950.50</Restbeloeb>" in step.diff and "+    <Restbeloeb>975.50</Restbeloeb>" in step.diff
    assert any(c["path"] == field and not c["ok"] for c in step.checks)
    d = result.as_dict()
    assert field in to_junit(d).decode() and field in to_html(d)


async def test_two_replays_in_parallel_do_not_disturb_each_other(env: Env, tmp_path: Path) -> None:
    sc = await _recorded(env, tmp_path)
    a, b = await asyncio.gather(run_scenario(env.rt, sc, municipality=CVR), run_scenario(env.rt, sc, municipality=CVR))
    assert a.passed and b.passed, [(s.label, s.message) for s in a.steps + b.steps if not s.passed]
    assert a.session != b.session
    for run, other in ((a, b), (b, a)):
        seen = {e["id"] for s in run.steps for e in s.exchanges}
        assert not seen & {e["id"] for s in other.steps for e in s.exchanges}
        coverage = next(s for s in run.steps if s.kind == "receive")
        assert run.variables["payment1"] in str(coverage.checks)  # it received its own coverage


async def test_target_override_sends_the_runs_calls_elsewhere(env: Env) -> None:
    """--target: the run's KY calls go to the given URL, even where the municipality has no route."""
    await env.rt.routes.delete_route(env.rt.db, f"DebitorIndbetalingAfsend:{CVR}")
    result = await run_scenario(env.rt, model.load(BASIC), municipality=CVR, target=f"{env.debtor.url}/{CVR}")
    assert result.passed, [(s.label, s.message) for s in result.steps if not s.passed]
    pay = next(s for s in result.steps if s.id == "pay")
    assert "per-call target override" in pay.exchanges[0]["reason"]
    assert pay.exchanges[0]["route_target"] == f"{env.debtor.url}/{CVR}/service/OIR/DebitorIndbetalingAfsend/1"


async def test_a_recording_replays_for_another_municipality(env: Env, tmp_path: Path) -> None:
    """Sortiment-bound values (the claim types) are kept as recorded, and the municipality is a parameter
    everywhere it appears (the debtor's MyndighedCVR in its messages), so a run recorded for 11111111 replays
    against 22222222's debtor system."""
    sc = await _recorded(env, tmp_path)
    text = model.dumps(sc)
    create = next(s for s in sc.steps if s.ky and s.ky.action == "create_account")
    claim_types = {c["fordringstype"] for c in create.ky.args["claims"]}
    assert claim_types and all(not t.startswith("${") for t in claim_types)  # a Klasse of the sortiment
    assert "${municipality}" in text and f"equals: '{CVR}'" not in text
    replay = await run_scenario(env.rt, sc, municipality="22222222")
    assert replay.passed, [(s.label, s.message, s.diff) for s in replay.steps if not s.passed]
    tagged = await env.rt.exchanges.page(ExchangeFilter(session=replay.session), limit=50)
    assert {e["municipality"] for e in tagged} == {"22222222"}
