"""PostgreSQL stopped and started again while the simulator (on PostgreSQL) takes a stream of coverage
calls: while the database is down the simulator says so (/healthz 503) and calls get a SOAP fault at once,
never a success that is not stored; once the database is back the simulator recovers by itself (no
restart), and every call is recorded once, as answered, and every accepted coverage is booked once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import httpx
import pytest

from tests.conftest import REQUIRE_SERVICES, service_available, until
from tests.ky.messages import PATH, action, coverage
from tests.reliability.conftest import (
    COVERAGE_SERVICE,
    Outcomes,
    booked_coverages,
    coverage_load,
    create_claim,
    recorded_exchanges,
)

CLUSTER = sorted(os.listdir("/etc/postgresql"))[0] if os.path.isdir("/etc/postgresql") else None
HEADERS = {"SOAPAction": action(), "Content-Type": "text/xml; charset=utf-8"}


def pg_ctl(command: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", CLUSTER, "main", command],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def restartable_postgres():
    if CLUSTER is None or os.geteuid() != 0:
        if REQUIRE_SERVICES:
            pytest.fail("restarting PostgreSQL needs the local cluster (pg_ctlcluster) and root")
        pytest.skip("cannot restart PostgreSQL here")
    yield
    if not service_available("127.0.0.1", 5432):  # whatever happened, leave it running
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", CLUSTER, "main", "start"], check=False)


def outage(sim_url: str, claim: str, out: Outcomes, stream_answers: int = 5) -> dict:
    """Stop PostgreSQL, look at the simulator while it is down (health, one call, and `stream_answers`
    answers of the running load), start it again. Returns the moments (time.monotonic) and what was seen."""
    seen: dict = {"stop": time.monotonic()}
    try:
        pg_ctl("stop")
        seen["down"] = time.monotonic()
        with httpx.Client(base_url=sim_url, timeout=5) as http:
            seen["health"] = http.get("/healthz")
            t0 = time.monotonic()
            try:
                seen["probe"] = http.post(PATH, content=coverage(claim, "0.01"), headers=HEADERS)
            except httpx.TimeoutException:
                seen["probe"] = None  # held until the database is back: not the promised prompt fault
            seen["probe_s"] = time.monotonic() - t0
        # the load's callers get answers while it is down too (read from their list; fails at the deadline)
        until(
            f"{stream_answers} answers to the running load while PostgreSQL is down",
            lambda: sum(1 for _, answered, _ in list(out.calls) if answered >= seen["down"]) >= stream_answers,
            within_s=20,
        )
    finally:
        seen["start"] = time.monotonic()
        pg_ctl("start")  # waits until the server accepts connections
        while not service_available("127.0.0.1", 5432):
            time.sleep(0.02)
        seen["back"] = time.monotonic()
    return seen


async def test_postgres_outage_mid_stream_gives_faults_then_recovers_by_itself_and_loses_nothing(
    restartable_postgres, postgres_database, sim_process
):
    sim = sim_process(database_url=postgres_database)
    claim = create_claim(sim.url)
    out, stop = Outcomes(), asyncio.Event()
    before = out.when_accepted(100)
    load = asyncio.create_task(coverage_load([sim.url], claim, clients=10, stop=stop, out=out))
    await asyncio.wait_for(before.wait(), 60)
    t = await asyncio.to_thread(outage, sim.url, claim, out)
    # recovery without restarting the simulator: 100 more coverages accepted after PostgreSQL is back
    await asyncio.wait_for(out.when_accepted(len(out.accepted) + 100).wait(), 60)
    stop.set()
    await asyncio.wait_for(load, 60)
    assert not out.unanswered, "the simulator itself never went away"

    # while PostgreSQL was down: the simulator said so, and a call got a prompt SOAP fault
    health = t["health"]
    assert health.status_code == 503 and health.json()["database"]["ok"] is False, health.text
    probe = t["probe"]
    assert probe is not None, "a call while PostgreSQL was down got no answer within 5 s"
    assert probe.status_code == 500 and "SP-199" in probe.text, probe.text[:300]
    # the stream's answers while it was down were faults (answered then, not held until it was back),
    # never a receipt that is not stored
    during = [kind for sent, answered, kind in out.calls if t["down"] <= answered <= t["start"]]
    assert during and all(kind == "HTTP 500" for kind in during), sorted(set(during))
    assert all(o.startswith("500 ") and "SP-199" in o for o in out.other), out.other[:3]
    # recovered: calls sent after PostgreSQL was back are accepted
    after = sorted((answered, kind) for sent, answered, kind in out.calls if sent >= t["back"])
    first_ok = next(answered for answered, kind in after if kind == "ACCEPTERET")
    held = [answered - sent for sent, answered, kind in out.calls if sent < t["stop"] < answered]

    with httpx.Client(base_url=sim.url, timeout=30) as api:
        assert api.get("/healthz").json()["ok"] is True
        recorded = recorded_exchanges(api, service=COVERAGE_SERVICE)
        booked = booked_coverages(api, claim)
        view = api.get(f"/api/ky/claims/{claim}").json()
    # every call is recorded once, as it was answered: the accepted ones as ok, the faults as faults
    assert {x for x, e in recorded.items() if e["status"] == "ok"} == set(out.accepted.values())
    faults = [e for e in recorded.values() if e["status"] == "fault"]
    assert len(faults) == len(out.other) + 1 and {e["fault_code"] for e in faults} == {"SP-199"}
    # every accepted coverage is booked once, by the call that was answered
    assert {cid: booked.get(cid) for cid in out.accepted} == out.accepted
    assert len(booked) <= len(out.accepted) + len(faults)  # a fault may hide a commit whose answer was lost
    assert all(recorded[x]["status"] == "fault" for cid, x in booked.items() if cid not in out.accepted)
    assert view["postings_count"] == len(booked) and view["balance_consistent"]
    print(
        f"PostgreSQL down {t['back'] - t['down']:.2f} s (stop {t['down'] - t['stop']:.2f} s, start "
        f"{t['back'] - t['start']:.2f} s); healthz {health.status_code}; probe fault in {t['probe_s'] * 1000:.0f} ms; "
        f"answers while down: {len(during)} faults; calls in flight at the stop held up to "
        f"{max(held, default=0):.2f} s; "
        f"first accepted call sent after it was back answered {first_ok - t['back']:.2f} s after; "
        f"accepted={len(out.accepted)} faults={len(faults)} booked={len(booked)} recorded={len(recorded)}"
    )
