"""`simulator readiness --all`: every municipality of the route table, in parallel, one summary (JSON, JUnit,
HTML) next to each municipality's own report; exit code 0 only when all pass."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
import yaml
from lxml import etree
from typer.testing import CliRunner

from examples.reference_debtor.app import Config
from examples.reference_debtor.app import create_app as create_debtor_app
from simulator.app import create_app
from simulator.config import get_settings
from simulator.scenarios.cli import readiness_command
from simulator.scenarios.many import run_many, summary_junit
from tests.conftest import LiveServer, free_port, make_settings, point_routes_at
from tests.scenarios.conftest import COMPONENTS, seed_write_off, serve

GOOD, BROKEN, DROPPED = "11111111", "22222222", "33333333"
ITEMS = ["1a", "1b", "1c", "1d", "1e", "2", "3"]
runner = CliRunner()


def cli() -> typer.Typer:
    top = typer.Typer()
    top.command("readiness")(readiness_command)
    top.command("other")(lambda: None)
    return top


def two_municipalities(routes_dir: Path, debtor_url: str) -> None:
    """The demo route table with 11111111 and 22222222 only, both on the debtor system at `debtor_url`, and
    22222222 deliberately broken: no route for KY's payments (1c)."""
    point_routes_at(routes_dir, debtor_url)
    for file, key in (
        ("municipalities.yaml", "municipalities"),
        ("routes.yaml", "routes"),
        ("agreements.yaml", "agreements"),
        ("sortiment_subscriptions.yaml", "subscriptions"),
    ):
        path = routes_dir / file
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        field = "cvr" if key == "municipalities" else "municipality"
        doc[key] = [
            e
            for e in doc[key]
            if str(e[field]) != DROPPED
            and not (key == "routes" and e["service"] == "DebitorIndbetalingAfsend" and e[field] == BROKEN)
        ]
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def check_summary(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "fail" and summary["counts"] == {"pass": 1, "fail": 1, "error": 0}
    rows = {m["municipality"]: m for m in summary["municipalities"]}
    assert list(rows) == [GOOD, BROKEN]
    assert rows[GOOD]["items"] == dict.fromkeys(ITEMS, "pass")
    assert rows[BROKEN]["verdict"] == "fail" and rows[BROKEN]["items"]["1c"] == "fail"
    assert "no route for DebitorIndbetalingAfsend" in rows[BROKEN]["failed"][0]["missing"]
    # each municipality's own report, and the summary's JUnit holds both suites with the failure counted
    for cvr in (GOOD, BROKEN):
        assert json.loads((out / cvr / "readiness.json").read_text())["municipality"] == cvr
    junit = etree.parse(str(out / "summary.xml")).getroot()
    assert [s.get("name") for s in junit.findall("testsuite")] == [f"readiness {GOOD}", f"readiness {BROKEN}"]
    assert junit.get("tests") == "14" and int(junit.get("failures")) >= 1
    html = (out / "summary.html").read_text()
    assert f'<a href="{BROKEN}/readiness.html#item-1c" class="v fail">fail</a>' in html
    assert f'<a href="{GOOD}/readiness.html">{GOOD}</a>' in html and "<script" not in html
    return summary


async def seed_good_write_off(settings, dport: int, sport: int) -> None:
    """1d's evidence for the good municipality, booked in the database the CLI's in-process run then opens."""
    app = create_app(settings)
    async with serve(app, sport):
        await seed_write_off(app.runtime, f"http://127.0.0.1:{dport}", GOOD)


def test_readiness_all_in_process_names_the_failing_municipality(tmp_path, routes_dir, messages_dir, monkeypatch):
    dport, sport = free_port(), free_port()
    two_municipalities(routes_dir, f"http://127.0.0.1:{dport}")
    debtor = create_debtor_app(Config.from_routes(routes_dir, f"http://127.0.0.1:{sport}", messages_dir=messages_dir))
    for name, value in {
        "ROUTES_DIR": routes_dir,
        "MESSAGES_DIR": messages_dir,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}",
        "PORT": sport,
        "COMPONENTS": json.dumps(COMPONENTS),
        "URL": "",
    }.items():
        monkeypatch.setenv(f"SIMULATOR_{name}", str(value))
    get_settings.cache_clear()
    try:
        with LiveServer(debtor, port=dport):
            asyncio.run(seed_good_write_off(get_settings(), dport, sport))
            r = runner.invoke(cli(), ["readiness", "--all", "--out", str(tmp_path / "all"), "--within", "10"])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 1, r.output
    assert f"FAIL: 1 of 2 municipalities passed; not ready: {BROKEN}" in r.output
    assert "1c: " in r.output and "no route for DebitorIndbetalingAfsend" in r.output
    check_summary(tmp_path / "all")


async def test_readiness_all_against_a_running_simulator(tmp_path, routes_dir, messages_dir):
    dport, sport = free_port(), free_port()
    two_municipalities(routes_dir, f"http://127.0.0.1:{dport}")
    debtor = create_debtor_app(Config.from_routes(routes_dir, f"http://127.0.0.1:{sport}", messages_dir=messages_dir))
    app = create_app(make_settings(tmp_path, routes_dir, messages_dir, port=sport, components=COMPONENTS))
    with LiveServer(debtor, port=dport):
        async with serve(app, sport):
            await seed_write_off(app.runtime, f"http://127.0.0.1:{dport}", GOOD)  # 1d's evidence
            r = await asyncio.to_thread(
                runner.invoke,
                cli(),
                ["readiness", "--all", "--out", str(tmp_path / "all"), "--within", "10", "--parallel", "2"],
                env={"SIMULATOR_URL": f"http://127.0.0.1:{sport}"},
            )
    assert r.exit_code == 1, r.output
    assert check_summary(tmp_path / "all")["concurrency"] == 2


async def test_runs_are_bounded_and_a_run_that_breaks_is_an_error_of_its_own() -> None:
    running, most = 0, 0

    async def run_one(cvr: str) -> dict:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)  # let the others start if the gate allowed them
        running -= 1
        if cvr == "33333333":
            raise ValueError("unknown municipality 33333333 (routes/municipalities.yaml)")
        item = {"id": "1a", "title": "receives", "verdict": "pass", "evidence": [], "missing": None, "steps": []}
        return {"kind": "readiness", "municipality": cvr, "verdict": "pass", "items": [item]}

    cvrs = [(f"{i}" * 8, f"M{i}") for i in range(1, 7)]
    summary, results = await run_many(cvrs, run_one, concurrency=2)
    assert most == 2
    assert summary["verdict"] == "fail" and summary["counts"] == {"pass": 5, "fail": 0, "error": 1}
    err = next(m for m in summary["municipalities"] if m["verdict"] == "error")
    assert err["error"] == "unknown municipality 33333333 (routes/municipalities.yaml)" and "33333333" not in results
    junit = etree.fromstring(summary_junit(summary, results))
    assert (junit.get("tests"), junit.get("errors")) == ("6", "1")
    error = junit.find("testsuite[@name='readiness 33333333']/testcase/error")
    assert error.get("message") == err["error"]
