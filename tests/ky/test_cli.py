"""`simulator ky …` against a live simulator and the reference debtor system."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from simulator.ky.cli import app
from tests.ky.conftest import DEMO_CVR, Env


def test_cli_creates_pays_queries(ky_env: Env) -> None:
    run = CliRunner()
    url = ["--url", ky_env.sim.url]
    r = run.invoke(
        app,
        [
            "create-account",
            "--municipality",
            DEMO_CVR,
            "--cpr",
            "0101701234",
            "--claim",
            "400.00",
            "--claim",
            "99.95",
            *url,
        ],
    )
    assert r.exit_code == 0, r.output
    acc = json.loads(r.output)["account"]
    assert acc["outstanding"] == "499.95" and acc["status"] == "aktiv"
    claim = next(c for c in acc["claims"] if c["amount"] == "400.00")

    r = run.invoke(app, ["pay", claim["uuid"], "--amount", "100.00", *url])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["claim"]["paid"] == "100.00"
    r = run.invoke(app, ["query", "--municipality", DEMO_CVR, "--cpr", "0101701234", *url])
    assert [a["outstanding"] for a in json.loads(r.output)["accounts"]] == ["399.95"]
    r = run.invoke(app, ["claim-state", claim["uuid"], "--state", "Suspenderet", *url])
    assert r.exit_code == 0 and json.loads(r.output)["claim"]["state"] == "Suspenderet"
    r = run.invoke(app, ["end-liability", acc["liabilities"][0]["uuid"], "--valid-to", "2030-01-01", *url])
    assert r.exit_code == 0, r.output
    r = run.invoke(app, ["account", acc["uuid"], "--remote", *url])
    assert json.loads(r.output)["account"]["liabilities"][0]["valid_to"] == "2030-01-01"

    # A refusal is an error exit with the receipt; a bad request says why.
    r = run.invoke(app, ["pay", claim["uuid"], "--amount", "5000.00", *url])
    assert r.exit_code == 1 and "AFVIST" in r.output
    r = run.invoke(app, ["pay", "no-such-claim", "--amount", "1.00", *url])
    assert r.exit_code == 1 and "no claim" in r.output
