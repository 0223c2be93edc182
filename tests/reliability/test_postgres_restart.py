"""PostgreSQL restarted under load: calls during the outage get a fault (never a success that is not
stored), the simulator recovers without a restart, and every accepted coverage is recorded and booked once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import httpx
import pytest

from tests.conftest import REQUIRE_SERVICES, service_available
from tests.reliability.conftest import Outcomes, coverage_load, create_claim, resend_all

CLUSTER = sorted(os.listdir("/etc/postgresql"))[0] if os.path.isdir("/etc/postgresql") else None


def restart_postgres() -> float:
    """Restart the local cluster; returns the seconds until it accepts connections again."""
    t0 = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", CLUSTER, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    while not service_available("127.0.0.1", 5432):
        time.sleep(0.05)
    return time.monotonic() - t0


@pytest.fixture
def restartable_postgres():
    if CLUSTER is None or os.geteuid() != 0:
        if REQUIRE_SERVICES:
            pytest.fail("restarting PostgreSQL needs the local cluster (pg_ctlcluster) and root")
        pytest.skip("cannot restart PostgreSQL here")
    yield
    if not service_available("127.0.0.1", 5432):  # whatever happened, leave it running
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", CLUSTER, "main", "start"], check=False)


async def test_postgres_restart_mid_stream_loses_nothing_and_recovers_by_itself(
    restartable_postgres, postgres_database, sim_process
):
    sim = sim_process(database_url=postgres_database)
    claim = create_claim(sim.url)
    out, stop = Outcomes(), asyncio.Event()
    before = out.when_accepted(100)
    load = asyncio.create_task(coverage_load([sim.url], claim, clients=10, stop=stop, out=out))
    await asyncio.wait_for(before.wait(), 60)
    outage_s = await asyncio.to_thread(restart_postgres)
    # recovery without restarting the simulator: 100 more coverages accepted after PostgreSQL is back
    await asyncio.wait_for(out.when_accepted(len(out.accepted) + 100).wait(), 90)
    stop.set()
    await asyncio.wait_for(load, 60)

    assert not out.unanswered, "the simulator itself never went away"
    # answers during the outage were faults, never a receipt that is not stored
    assert all(o.startswith("500 ") and "SP-199" in o for o in out.other), out.other[:3]
    with httpx.Client(base_url=sim.url, timeout=30) as api:
        assert api.get("/healthz").json()["ok"] is True
        for exchange_id in out.accepted.values():
            assert api.get(f"/api/exchanges/{exchange_id}").status_code == 200, exchange_id
        again = await resend_all(sim.url, claim, list(out.accepted))
        assert all(status == "ACCEPTERET" and "already registered" in (why or "") for status, why in again)
        view = api.get(f"/api/ky/claims/{claim}").json()
    booked = view["postings_count"]
    assert len(out.accepted) <= booked <= len(out.accepted) + len(out.other)
    assert view["balance_consistent"]
    print(
        f"outage {outage_s:.1f} s; accepted={len(out.accepted)} faults during the outage={len(out.other)} "
        f"booked={booked}"
    )
