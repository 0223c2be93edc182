"""SIGKILL under load, then a restart on the same database: every call that was answered as accepted is
recorded and booked, once; nothing is recorded or booked that nobody sent; the restarted simulator is
healthy and serves calls. This is what durable group-committed recording (SIMULATOR_RECORD_DURABLE=true,
the default) promises: a caller is answered only once its exchange is committed."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from tests.reliability.conftest import (
    COVERAGE_SERVICE,
    Outcomes,
    booked_coverages,
    coverage_load,
    create_claim,
    recorded_exchanges,
    resend_all,
)

ACCEPTED_BEFORE_KILL = 300


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_sigkill_under_load_loses_no_answered_coverage_and_books_none_twice(engine, sim_process, request):
    database_url = request.getfixturevalue("postgres_database") if engine == "postgres" else None
    sim = sim_process(database_url=database_url)
    claim = create_claim(sim.url)

    out, stop = Outcomes(), asyncio.Event()
    reached = out.when_accepted(ACCEPTED_BEFORE_KILL)
    load = asyncio.create_task(coverage_load([sim.url], claim, clients=20, stop=stop, out=out))
    await asyncio.wait_for(reached.wait(), 60)
    sim.kill()  # mid-stream: 20 callers have calls in flight
    await asyncio.wait_for(load, 60)  # every caller ends on a broken connection
    assert len(out.accepted) >= ACCEPTED_BEFORE_KILL and out.unanswered and not out.other and not out.refused

    t0 = time.monotonic()
    sim.start()  # same port, same database
    restart_s = time.monotonic() - t0
    with httpx.Client(base_url=sim.url, timeout=30) as api:
        health = api.get("/healthz")
        assert health.status_code == 200 and health.json()["ok"] is True, health.text
        recorded = recorded_exchanges(api, service=COVERAGE_SERVICE)
        booked = booked_coverages(api, claim)
        view = api.get(f"/api/ky/claims/{claim}").json()

    # every answered call is in the journal, as answered (the kill lost none of them) ...
    missing = [x for x in out.accepted.values() if x not in recorded]
    assert not missing, f"{len(missing)} of {len(out.accepted)} accepted calls are not recorded"
    assert {recorded[x]["status"] for x in out.accepted.values()} == {"ok"}
    # ... and nothing is recorded that nobody sent: at most the calls in flight at the kill on top
    assert len(recorded) <= len(out.accepted) + len(out.unanswered)
    # every accepted coverage is booked once, by the call that was answered; the only other bookings are
    # calls in flight at the kill (booked, but their answer never reached the caller)
    assert {cid: booked.get(cid) for cid in out.accepted} == out.accepted
    assert set(booked) <= set(out.accepted) | out.unanswered
    assert view["postings_count"] == len(booked) and view["covered"] == f"{len(booked) / 100:.2f}"
    assert view["balance_consistent"]

    # the restarted simulator serves calls: a new coverage is booked, an accepted one sent again is a repeat
    new_id, repeats = str(uuid.uuid4()), list(out.accepted)[:20]
    [(status, why), *again] = await resend_all(sim.url, claim, [new_id, *repeats])
    assert status == "ACCEPTERET" and "already registered" not in (why or "")
    assert all(s == "ACCEPTERET" and "already registered" in (w or "") for s, w in again)
    print(
        f"[{engine}] accepted before the kill={len(out.accepted)} in flight={len(out.unanswered)} "
        f"recorded={len(recorded)} booked={len(booked)} restart to healthy={restart_s:.1f} s"
    )
