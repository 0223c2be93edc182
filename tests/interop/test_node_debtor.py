"""Issue 15's proof from outside: a debtor system written in Node.js (`node_debtor/debtor.js`, npm `soap` only) from
the WSDLs the simulator serves and the docs, strict about claim types, passes SA 05 readiness; the same system
wrong in one way (its `FAULT` setting) fails exactly the matching item, naming the difference.

Needs `node` and the npm package `soap` on NODE_PATH (`.ci/run` installs it in /tmp/ci-node-soap): skipped
locally without them, a failure in CI (SIMULATOR_TEST_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from simulator.app import create_app
from tests.conftest import REQUIRE_SERVICES, LiveServer, free_port, make_settings, point_routes_at

DEBTOR_JS = Path(__file__).parent / "node_debtor" / "debtor.js"
DEMO = {"11111111": "opus", "22222222": "prisme"}  # municipality → its debtor system in the demo route table
WITHIN_S = 3  # how long readiness waits for what the debtor system sends back
COMPONENTS = ["ky", "beskedfordeler", "klassifikation", "scenarios"]


@dataclass(frozen=True)
class Mode:
    fault: str  # FAULT for debtor.js ("" = correct)
    failing: frozenset[str]  # exactly the items that fail (the others pass, or are skipped because one failed)
    reasons: tuple[str, ...] = ()  # texts the failing items' summaries must name
    seed: bool = True  # write a claim off before the run (item 1d's evidence)
    cvr: str = "11111111"  # the municipality the node debtor serves


MODES = [
    Mode("", frozenset()),
    Mode("", frozenset(), cvr="22222222"),  # another municipality and system: only the configuration differs
    Mode("restbeloeb", frozenset({"1b"}), ("/Restbeloeb: expected 1250.50, actual 1250.52",)),
    Mode(
        "never_cover",  # no coverage ever booked, and the run's write-off alone is no coverage: 1d fails too
        frozenset({"1c", "1d"}),
        ("no call DaekningAfskrivningRegistreringAfsend/RegistrerDaekning", "RegistrerDaekning booked"),
    ),
    Mode("cover_amount", frozenset({"1c"}), ("expected 200.00", "actual 199.99")),
    Mode("contract", frozenset({"1b"}), ("SP-151", "Bemaerkning")),
    Mode("claim_missing", frozenset({"1b"}), ("Restbeloeb 250.50), actual (missing)",)),
    Mode("status_lukket", frozenset({"1e"}), ("DebitorkontoStatusskift/Status: expected aktiv", "actual lukket")),
    Mode("one_message", frozenset({"1e"}), ("no FordringTilIndbetaling message",)),
    # it refuses every registration, so there is no claim to write off beforehand either (1d is skipped)
    Mode("refuse_claim_types", frozenset({"1a"}), ("FejlKode ND-010", "is not accepted"), seed=False),
]


def node_with_soap() -> str:
    node = shutil.which("node")
    if node is None or subprocess.run([node, "-e", "require('soap')"], capture_output=True).returncode != 0:
        if REQUIRE_SERVICES:
            pytest.fail("node and the npm package 'soap' (on NODE_PATH) are required in CI")
        pytest.skip("node or the npm package 'soap' (on NODE_PATH) is not available")
    return node


def debtor_config(routes_dir: Path, cvr: str) -> dict[str, str]:
    """What the debtor system's operator configures: its IT-system UUID and its agreement to report back to KY,
    as the route table has them, and the ServiceUUID of the service it calls."""
    routes = {
        f: yaml.safe_load((routes_dir / f).read_text(encoding="utf-8"))
        for f in ("systems.yaml", "agreements.yaml", "services.yaml")
    }
    system = next(s["uuid"] for s in routes["systems.yaml"]["systems"] if s["key"] == DEMO[cvr])
    agreement = next(
        a["uuid"]
        for a in routes["agreements.yaml"]["agreements"]
        if (a["system"], a["municipality"], a["service"]) == (DEMO[cvr], cvr, "DaekningAfskrivningRegistreringAfsend")
    )
    service = next(
        s["uuid"] for s in routes["services.yaml"]["services"] if s["name"] == "DaekningAfskrivningRegistreringAfsend"
    )
    return {"CVR": cvr, "SYSTEM_UUID": system, "DAEKNING_AGREEMENT_UUID": agreement, "DAEKNING_SERVICE_UUID": service}


@contextmanager
def node_debtor(node: str, port: int, sim_url: str, config: dict[str, str], fault: str) -> Iterator[str]:
    """Run debtor.js until it prints its ready line (every service served); stop it afterwards."""
    env = {**os.environ, **config, "PORT": str(port), "SIMULATOR_URL": sim_url, "FAULT": fault}
    proc = subprocess.Popen(
        [node, str(DEBTOR_JS)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    guard = threading.Timer(20, proc.kill)  # a debtor that never gets ready ends the wait below (EOF)
    guard.start()
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "ready: node debtor" in line:
                break
        else:
            raise AssertionError("the node debtor did not start:\n" + "".join(lines))
        guard.cancel()
        yield f"http://127.0.0.1:{port}"
    finally:
        guard.cancel()
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        print("".join(lines) + (out or ""))  # the debtor's log, shown when the test fails


def deliver_sortiment(c: httpx.Client, cvr: str) -> None:
    """The sortiment reaches the debtor system now (its first attempt, before the debtor was up, failed)."""
    deadline = time.monotonic() + 15
    while True:
        sub = c.post(f"/api/klassifikation/subscriptions/{cvr}/{DEMO[cvr]}/retry").json()
        if sub["up_to_date"]:
            return
        assert time.monotonic() < deadline, sub
        time.sleep(0.2)  # an attempt of the simulator's own was in flight: ask again


def seed_write_off(c: httpx.Client, debtor_url: str, cvr: str) -> None:
    """Item 1d's write-off, which a debtor system sends only when its staff decide: through its admin endpoint."""
    acc = c.post(
        "/api/ky/accounts",
        json={"municipality": cvr, "debitor": {"cpr": "0101701234", "name": "Evidence"}, "claims": [{"amount": "75"}]},
    ).json()
    assert acc["sent"]["accepted"], acc
    claim = acc["account"]["claims"][0]["uuid"]
    r = httpx.post(f"{debtor_url}/admin/afskrivninger", json={"claim_uuid": claim, "amount": "75.00"}, timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "ACCEPTERET", r.text


def readiness(c: httpx.Client, cvr: str) -> dict:
    run = c.post("/api/readiness/runs", json={"municipality": cvr, "within_s": WITHIN_S}).json()
    seen, deadline = 0, time.monotonic() + 60
    while True:  # long-poll the run's events until it is over
        state = c.get(f"/api/scenarios/runs/{run['id']}", params={"wait": 10, "after": seen}).json()
        if state["state"] not in ("queued", "running"):
            break
        seen = state["event_count"]
        assert time.monotonic() < deadline, state
    return c.get(f"/api/readiness/runs/{run['id']}/report.json").json()


@pytest.mark.parametrize("mode", MODES, ids=[f"{m.fault or 'correct'}-{m.cvr}" for m in MODES])
def test_node_debtor_readiness(mode: Mode, tmp_path, routes_dir, messages_dir) -> None:
    node = node_with_soap()
    dport, sport = free_port(), free_port()
    point_routes_at(routes_dir, f"http://127.0.0.1:{dport}")
    settings = make_settings(tmp_path, routes_dir, messages_dir, port=sport, components=COMPONENTS)
    with LiveServer(create_app(settings), port=sport) as sim, httpx.Client(base_url=sim.url, timeout=30) as c:
        with node_debtor(node, dport, sim.url, debtor_config(routes_dir, mode.cvr), mode.fault) as debtor_url:
            deliver_sortiment(c, mode.cvr)
            if mode.seed:
                seed_write_off(c, debtor_url, mode.cvr)
            report = readiness(c, mode.cvr)
            if not mode.fault:
                assert_strict_about_claim_types(c, mode.cvr)

    verdicts = {i["id"]: i["verdict"] for i in report["items"]}
    why = {i["id"]: (i["verdict"], i["summary"], i.get("missing")) for i in report["items"] if i["verdict"] != "pass"}
    assert set(verdicts) == {"1a", "1b", "1c", "1d", "1e", "2", "3"}, verdicts
    assert {k for k, v in verdicts.items() if v == "fail"} == mode.failing, why
    assert set(verdicts.values()) <= {"pass", "fail", "skipped"}
    assert report["verdict"] == ("fail" if mode.failing else "pass"), why
    assert report["validation"] == "strict"
    assert report["municipality"] == mode.cvr and report["debtor_system"] == DEMO[mode.cvr]
    said = " | ".join(f"{i['summary']} {i.get('missing') or ''}" for i in report["items"] if i["id"] in mode.failing)
    for text in mode.reasons:
        assert text in said, said


def assert_strict_about_claim_types(c: httpx.Client, cvr: str) -> None:
    """The debtor system refuses a claim type that is not a fordringstype of the sortiment it acknowledged:
    an unknown UUID, and a Klasse of the sortiment's other Facet (a write-off reason)."""
    aarsag = c.get("/api/klassifikation/klasser/KY-AA-01").json()["uuid"]
    for fordringstype, why in (
        (("0f3c5e7a-9b1d-4f2e-8a46-1c3e5a7b9d99"), "is not in sortiment version"),
        (aarsag, "is no fordringstype"),
    ):
        out = c.post(
            "/api/ky/accounts",
            json={
                "municipality": cvr,
                "debitor": {"cpr": "0101701235"},
                "claims": [{"amount": "10", "fordringstype": fordringstype}],
                "fordringstype_outside_sortiment": True,
            },
        ).json()
        kvittering = out["sent"]["kvittering"]
        assert kvittering["status"] == "AFVIST" and kvittering["fejl"][0]["kode"] == "ND-010", out["sent"]
        assert why in kvittering["fejl"][0]["tekst"], kvittering
