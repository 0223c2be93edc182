"""SIGKILL under load, then a restart on the same database: every call that was answered as accepted
is recorded and booked, nothing is booked twice, and the restarted simulator serves calls."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.reliability.conftest import Outcomes, coverage_load, create_claim, resend_all

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
    assert len(out.accepted) >= ACCEPTED_BEFORE_KILL and out.unanswered and not out.other

    sim.start()
    with httpx.Client(base_url=sim.url, timeout=30) as api:
        # every answered call is in the journal, as answered
        for exchange_id in out.accepted.values():
            row = api.get(f"/api/exchanges/{exchange_id}")
            assert row.status_code == 200, exchange_id
            assert row.json()["status"] == "ok"
        # every accepted coverage is booked: sent again, it is a repeat, not a new booking
        again = await resend_all(sim.url, claim, list(out.accepted))
        assert all(status == "ACCEPTERET" and "already registered" in (why or "") for status, why in again)
        view = api.get(f"/api/ky/claims/{claim}").json()
    # nothing booked twice, nothing booked that nobody sent: the ledger holds the accepted coverages and at
    # most the ones in flight at the kill (booked, but their answer never reached the caller)
    booked = view["postings_count"]
    print(f"[{engine}] accepted={len(out.accepted)} in flight at the kill={len(out.unanswered)} booked={booked}")
    assert len(out.accepted) <= booked <= len(out.accepted) + len(out.unanswered)
    assert view["covered"] == f"{booked / 100:.2f}" and view["balance_consistent"]
