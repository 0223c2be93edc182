"""What a database cannot store never stalls the platform (issue 17, finding 1), on SQLite and PostgreSQL:
a SOAP call whose body holds a NUL byte and a UTF-16LE envelope without BOM are refused and recorded with
the problem marked, the next valid call is answered and recorded at once, and SIGTERM stops the server within
its bound even while the database writer is stuck behind a lock held elsewhere."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import uuid

import httpx
import pytest

from tests.ky.conftest import DEMO_CVR, set_validation
from tests.ky.messages import PATH, action, coverage, kvittering
from tests.reliability.conftest import create_claim

HANG_GUARD_S = 20  # a call not answered by then has hung (on main it waits forever)
STOP_BOUND_S = 10  # SIGTERM to exit (docs/reliability.md)
HEADERS = {"SOAPAction": action(), "Content-Type": "text/xml; charset=utf-8"}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_database")
    return f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}"


def exchange(api: httpx.Client, exchange_id: str) -> dict:
    r = api.get(f"/api/exchanges/{exchange_id}")
    r.raise_for_status()
    return r.json()


def test_nul_and_utf16_bodies_are_recorded_marked_and_the_next_call_is_answered(database_url, sim_process) -> None:
    sim = sim_process(database_url, SIMULATOR_COMPONENTS='["ky"]')
    claim = create_claim(sim.url)
    good = coverage(claim, "1.00")
    nul = coverage(claim, "2.00").replace(b"<d:Dato>", b"<d:Dato>\x00", 1)
    utf16 = good.decode().replace('<?xml version="1.0" encoding="utf-8"?>\n', "").encode("utf-16-le")
    assert not utf16.startswith((b"\xff\xfe", b"\xfe\xff"))
    with httpx.Client(base_url=sim.url, timeout=HANG_GUARD_S) as api:
        answers = [api.post(PATH, content=body, headers=HEADERS) for body in (nul, utf16, good)]
        assert [a.status_code for a in answers[:2]] == [500, 500]
        assert all(b"SP-100" in a.content for a in answers[:2])
        assert answers[2].status_code == 200 and kvittering(answers[2].content)[0] == "ACCEPTERET"

        ids = [a.headers["x-simulator-exchange-id"] for a in answers]
        recorded = [exchange(api, i) for i in ids]
        for row in recorded[:2]:
            assert row["fault_code"] == "SP-100"
            assert "\x00" not in row["request_body"] and "\ufffd" in row["request_body"]
            assert any(v.startswith("recording: request_body held characters") for v in row["violations"])
        assert recorded[2]["status"] == "ok" and recorded[2]["request_body"] == good.decode()
        assert recorded[2]["violations"] is None

        listed = api.get("/api/exchanges", params={"limit": 10}).json()["items"]
        assert sorted(x["id"] for x in listed) == sorted(ids)  # nothing else, nothing lost
        health = api.get("/healthz").json()
        assert health["ok"] and health["writer"]["ok"] and health["writer"]["lanes"]["exchanges"]["refused"] == 0
        assert api.get(f"/api/ky/claims/{claim}").json()["covered"] == "1.00"
    sim.proc.send_signal(signal.SIGTERM)
    assert sim.proc.wait(STOP_BOUND_S) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled


@pytest.fixture
def hold_exchange_lock(database_url):
    """A context manager that holds the lock the writer needs, from a connection of the test's own."""
    if database_url.startswith("sqlite"):

        class Sqlite:
            def __enter__(self):
                self.conn = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None, timeout=30)
                self.conn.execute("BEGIN EXCLUSIVE")
                return self

            def __exit__(self, *exc):
                self.conn.close()

        return Sqlite
    return lambda: PostgresLock(database_url)


class PostgresLock:
    """LOCK TABLE exchange from a psql process kept open (its transaction holds the lock until it ends)."""

    def __init__(self, database_url: str) -> None:
        self.dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")

    def __enter__(self) -> PostgresLock:
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", self.dsn],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.proc.stdin.write("BEGIN; LOCK TABLE exchange IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "locked"
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait(5)


def test_a_stuck_writer_is_reported_and_sigterm_stops_within_the_bound(
    database_url, sim_process, hold_exchange_lock
) -> None:
    sim = sim_process(database_url, SIMULATOR_COMPONENTS='["ky"]', SIMULATOR_WRITER_STUCK_AFTER_S="1")
    claim = create_claim(sim.url)
    with httpx.Client(base_url=sim.url, timeout=HANG_GUARD_S) as api:
        before = api.post(PATH, content=coverage(claim, "1.00"), headers=HEADERS)
        assert kvittering(before.content)[0] == "ACCEPTERET"
        with hold_exchange_lock():
            with httpx.Client(base_url=sim.url, timeout=2) as impatient:
                with pytest.raises(httpx.ReadTimeout):  # it cannot be written: it has waited 2 s when this returns
                    impatient.post(PATH, content=coverage(claim, "2.00", item_id=str(uuid.uuid4())), headers=HEADERS)
            health = api.get("/healthz")
            assert health.status_code == 503 and health.json()["ok"] is False
            assert health.json()["writer"]["pending"] >= 1 and health.json()["writer"]["oldest_wait_s"] >= 1
            sim.proc.send_signal(signal.SIGTERM)
            assert sim.proc.wait(STOP_BOUND_S) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    assert "not written" in sim.log.read_text()


async def test_a_posting_the_ledger_cannot_store_is_refused_alone(backend, sim_factory, routes_dir) -> None:
    """Concurrent coverages booked in one batch: the one whose IndbetalingUUID no UUID column can hold is
    refused KY-DA-000 (on PostgreSQL it used to fail the whole batch, on SQLite it was stored), the others are
    booked. The contract check is off for the service (as a vendor may run it), so KY itself must refuse."""
    set_validation(routes_dir, "off")
    async with sim_factory(backend=backend) as sim:
        r = await sim.client.post(
            "/api/ky/accounts",
            json={
                "municipality": DEMO_CVR,
                "debitor": {"cpr": "0101701234"},
                "claims": [{"amount": "100.00"}],
                "send": False,
            },
        )
        claim = r.json()["account"]["claims"][0]["uuid"]
        bodies = [coverage(claim, "1.00") for _ in range(9)]
        bad = coverage(claim, "1.00").replace(
            b"<d:Beloeb>", b"<d:IndbetalingUUID>" + b"7" * 40 + b"</d:IndbetalingUUID><d:Beloeb>"
        )
        bodies.insert(4, bad)
        answers = await asyncio.gather(*(sim.client.post(PATH, content=b, headers=HEADERS) for b in bodies))
        outcomes = [kvittering(a.content) for a in answers]
        assert outcomes[4][0] == "AFVIST" and outcomes[4][2] == ["KY-DA-000"] and "IndbetalingUUID" in outcomes[4][1]
        assert [o[0] for i, o in enumerate(outcomes) if i != 4] == ["ACCEPTERET"] * 9
        claim_view = (await sim.client.get(f"/api/ky/claims/{claim}")).json()
        assert claim_view["covered"] == "9.00" and claim_view["postings_count"] == 9
