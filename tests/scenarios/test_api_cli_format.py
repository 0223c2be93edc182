"""Runs through the admin API and the CLI; the file format (schema, old versions, clear errors)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import yaml
from lxml import etree
from typer.testing import CliRunner

from simulator.scenarios import model
from simulator.scenarios.cli import app as scenario_app
from simulator.scenarios.cli import readiness_command
from tests.scenarios.conftest import CVR, JUNIT_ANT, Env, seed_write_off

ROOT = Path(__file__).resolve().parents[2]


async def _finished(c: httpx.AsyncClient, path: str) -> dict:
    state = (await c.get(path, params={"wait": 30})).json()
    while state["state"] == "running":  # each call waits for the run's next event
        state = (await c.get(path, params={"wait": 30, "after": state["event_count"]})).json()
    return state


async def test_runs_started_and_watched_through_the_admin_api(env: Env) -> None:
    async with httpx.AsyncClient(base_url=env.url, timeout=60) as c:
        assert "ky-debtor-basic" in [s["name"] for s in (await c.get("/api/scenarios")).json()]
        job = (await c.post("/api/scenarios/runs", json={"scenario": "ky-debtor-basic", "municipality": CVR})).json()
        state = await _finished(c, f"/api/scenarios/runs/{job['id']}")
        assert state["verdict"] == "pass", state["result"]
        assert [e["event"] for e in state["events"]][-1] == "done" and state["progress"] == {
            "done": 5,
            "total": 5,
        }

        await seed_write_off(env.rt, env.debtor.url)  # 1d: the reference debtor writes off only on request
        job = (await c.post("/api/readiness/runs", json={"municipality": CVR, "within_s": 15})).json()
        state = await _finished(c, f"/api/readiness/runs/{job['id']}")
        assert state["verdict"] == "pass", [i for i in state["result"]["items"] if i["verdict"] != "pass"]
        html = await c.get(f"/api/readiness/runs/{job['id']}/report.html")
        assert html.status_code == 200 and "1e" in html.text
        assert (
            etree.fromstring((await c.get(f"/api/scenarios/runs/{job['id']}/report.xml")).content).tag == "testsuites"
        )

        recorded = (await c.post("/api/scenarios/record", json={"session": state["result"]["run"]["session"]})).json()
        assert model.loads(recorded["yaml"]).steps
        bad = await c.post("/api/scenarios/runs", json={"document": {"name": "x", "steps": [{}]}})
        assert bad.status_code == 422 and "steps.0" in bad.text


async def test_cli_replay_and_readiness_against_a_running_simulator(env: Env, tmp_path: Path) -> None:
    runner = CliRunner()
    basic = str(ROOT / "messages" / "scenarios" / "ky-debtor-basic.yaml")
    junit, html = tmp_path / "r.xml", tmp_path / "r.html"
    r = await asyncio.to_thread(
        runner.invoke,
        scenario_app,
        [
            "replay",
            basic,
            "--municipality",
            CVR,
            "--url",
            env.url,
            "--junit",
            str(junit),
            "--html",
            str(html),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "PASS" in r.output and etree.parse(str(junit)).getroot().find("testsuite").get("failures") == "0"
    JUNIT_ANT.assertValid(etree.parse(str(junit)))  # a replay's JUnit passes the strict Ant schema too
    assert html.read_text().startswith("<!doctype html>")

    env.debtor_system.op_LaesDebitorkonto = lambda *a: (_ for _ in ()).throw(RuntimeError("new build broke it"))
    r = await asyncio.to_thread(runner.invoke, scenario_app, ["replay", basic, "--municipality", CVR, "--url", env.url])
    assert r.exit_code == 1 and "FAIL" in r.output and "read_account" in r.output
    del env.debtor_system.op_LaesDebitorkonto  # the fixed build

    import typer

    await seed_write_off(env.rt, env.debtor.url)  # 1d: the reference debtor writes off only on request
    top = typer.Typer()
    top.command("readiness")(readiness_command)
    top.command("other")(lambda: None)
    # the simulator's address set once (SIMULATOR_URL), as the README's walkthrough does
    r = await asyncio.to_thread(
        runner.invoke,
        top,
        ["readiness", "--municipality", CVR, "--out", str(tmp_path / "rep"), "--within", "10"],
        env={"SIMULATOR_URL": env.url},
    )
    assert r.exit_code == 0, r.output
    assert {p.name for p in (tmp_path / "rep").iterdir()} == {
        "readiness.html",
        "readiness.json",
        "readiness.xml",
    }
    report = json.loads((tmp_path / "rep" / "readiness.json").read_text())
    assert report["verdict"] == "pass" and report["validation"] == "strict" and "(validated strictly;" in r.output
    JUNIT_ANT.assertValid(etree.parse(str(tmp_path / "rep" / "readiness.xml")))
    # it prints the session tag that `scenario record --session` takes, and recording it works
    assert f"session {report['session']}" in r.output and report["session"].startswith("scenario-")
    recorded = tmp_path / "readiness.yaml"
    r = await asyncio.to_thread(
        runner.invoke,
        scenario_app,
        ["record", "--session", report["session"], "-o", str(recorded)],
        env={"SIMULATOR_URL": env.url},
    )
    assert r.exit_code == 0, r.output
    assert len(yaml.safe_load(recorded.read_text())["steps"]) >= 5


def test_the_published_json_schema_matches_the_format() -> None:
    assert json.loads((ROOT / "docs" / "scenario.schema.json").read_text()) == model.json_schema()
    for path in (ROOT / "messages" / "scenarios").glob("*.yaml"):
        model.load(path)  # every built-in scenario loads


def test_old_format_files_keep_loading() -> None:
    sc = model.loads("""
name: old
volatile: [//Dato]
steps:
  - ky: {action: read_account, args: {account_uuid: x}}
    expect: {//ForretningsValideringsKode: ACCEPTERET}
  - receive: {service: DaekningAfskrivningRegistreringAfsend, timeout: 3, match: {//FordringUUID: y}}
""")
    assert sc.format == 1 and sc.normalise[0].path == "//Dato"
    assert sc.steps[0].expect[0].equals == "ACCEPTERET"
    assert sc.steps[1].receive.within_s == 3 and sc.steps[1].receive.match[0].equals == "y"


def test_bad_files_say_where_the_problem_is() -> None:
    with pytest.raises(model.ScenarioError) as e:
        model.loads("format: 1\nname: x\nsteps:\n  - ky: {action: fly}\n", "bad.yaml")
    assert "bad.yaml: steps.0.ky.action" in str(e.value)
    with pytest.raises(model.ScenarioError, match="newer than this simulator"):
        model.loads("format: 9\nname: x\nsteps: []\n")
