"""Load, as executable specifications (they assert what happened, never how fast):

- 1,000 concurrent coverage calls (SOAP, RegistrerDaekning into `builtin:ky`) against a live simulator
  process, on SQLite and on PostgreSQL: every call is answered, every answer is recorded as its own
  exchange, and KY's ledger holds exactly the accepted coverages — no more, no less, none above what was
  outstanding, and no refusal of a coverage that would still have fitted;
- a burst of 10,000 Beskedfordeler messages over RabbitMQ (KOMBIT's sample client behaviour) to a pull
  dueslag: sent = answered 20 = recorded = delivered to the dueslag, each exactly once.

The durations are printed (`-s`) for docs/reliability.md; nothing here depends on them.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

import httpx
import pika
import pytest
from sqlalchemy import create_engine, func, select

from simulator.beskedfordeler.models import BfBesked, BfLevering
from tests.beskedfordeler.conftest import PULL_DUESLAG, besked_id, pull_subscription, statuskode, statusskift
from tests.beskedfordeler.test_rabbitmq import (  # noqa: F401 - fixtures
    KombitSampleClient,
    clean,
    vhost_url,
)
from tests.ky.messages import PATH, action, coverage, kvittering
from tests.reliability.conftest import create_claim

CALLS = 1_000
CLAIMS = 5
OWED = Decimal("100.00")
BURST = 10_000


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request) -> str | None:
    """None = the process's own SQLite file; else a fresh PostgreSQL database (set up before, and so
    dropped after, the simulator process that uses it)."""
    return request.getfixturevalue("postgres_database") if request.param == "postgres" else None


async def recorded_exchange_ids(http: httpx.AsyncClient, session: str) -> Counter[str]:
    """Every recorded exchange of a session (the admin API, keyset pages), counted by id."""
    seen: Counter[str] = Counter()
    before = None
    while True:
        params = {"session": session, "limit": 500} | ({"before": before} if before else {})
        page = (await http.get("/api/exchanges", params=params)).raise_for_status().json()
        seen.update(x["id"] for x in page["items"])
        if (before := page["next_before"]) is None:
            return seen


async def test_1000_concurrent_coverage_calls_are_all_answered_recorded_and_booked_exactly(
    database_url, sim_process
) -> None:
    sim = sim_process(database_url=database_url)
    claims = [create_claim(sim.url, amount=str(OWED)) for _ in range(CLAIMS)]
    # 200 coverages of 0.50-1.49 kr. per claim: about twice what each claim owes, so KY must refuse some
    rng = random.Random(CALLS)
    calls = {str(uuid.uuid4()): (claims[i % CLAIMS], Decimal(rng.randint(50, 149)) / 100) for i in range(CALLS)}
    session = f"load-{uuid.uuid4().hex[:8]}"
    answers: dict[str, tuple[str, list[str], str]] = {}  # coverage id → (status, FejlKoder, exchange id)
    limits = httpx.Limits(max_connections=CALLS, max_keepalive_connections=CALLS)
    timeout = httpx.Timeout(60, pool=None)
    async with httpx.AsyncClient(base_url=sim.url, limits=limits, timeout=timeout) as http:

        async def call(cid: str) -> None:
            claim, amount = calls[cid]
            r = await http.post(
                PATH,
                content=coverage(claim, str(amount), item_id=cid),
                headers={
                    "SOAPAction": action(),
                    "Content-Type": "text/xml; charset=utf-8",
                    "X-Simulator-Session": session,
                },
            )
            assert r.status_code == 200, r.text[:300]
            status, _, codes = kvittering(r.content)
            answers[cid] = (status, codes, r.headers["x-simulator-exchange-id"])

        t0 = time.monotonic()
        await asyncio.gather(*(call(cid) for cid in calls))  # all 1,000 in flight at once
        seconds = time.monotonic() - t0

        # sent = answered = recorded: one exchange per answer, under the id the answer carried
        assert set(answers) == set(calls)
        exchange_ids = [ex for _, _, ex in answers.values()]
        assert len(set(exchange_ids)) == CALLS
        recorded = await recorded_exchange_ids(http, session)
        assert set(recorded) == set(exchange_ids) and set(recorded.values()) == {1}

        accepted = {cid for cid, (status, _, _) in answers.items() if status == "ACCEPTERET"}
        refused = {cid for cid, (status, _, _) in answers.items() if status == "AFVIST"}
        assert accepted | refused == set(calls)
        assert {code for cid in refused for code in answers[cid][1]} == {"KY-DA-004"}  # above what is outstanding

        # the ledger holds exactly the accepted coverages, each once, booked from the exchange that answered
        for claim in claims:
            view = (await http.get(f"/api/ky/claims/{claim}")).raise_for_status().json()
            mine = {cid for cid in accepted if calls[cid][0] == claim}
            not_mine = {cid for cid in refused if calls[cid][0] == claim}
            assert mine and not_mine  # both outcomes on every claim
            covered = sum((calls[cid][1] for cid in mine), Decimal("0.00"))
            assert Decimal(view["covered"]) == covered <= OWED
            assert Decimal(view["outstanding"]) == OWED - covered
            assert view["balance_consistent"]
            assert view["postings_count"] == len(mine) == len(view["postings"])
            assert {p["uuid"]: p["exchange_id"] for p in view["postings"]} == {cid: answers[cid][2] for cid in mine}
            assert {p["kind"] for p in view["postings"]} == {"daekning"}
            # what is outstanding only goes down, so every refused coverage must still not fit now
            assert min(calls[cid][1] for cid in not_mine) > Decimal(view["outstanding"])

    print(
        f"{CALLS} concurrent coverage calls ({'postgres' if database_url else 'sqlite'}) answered in {seconds:.1f} s: "
        f"{len(accepted)} accepted, {len(refused)} refused (KY-DA-004); {CALLS} exchanges recorded; "
        f"ledger = accepted on all {CLAIMS} claims"
    )


def drain(url: str, queue: str, expect: int, timeout: float) -> tuple[list[str], int]:
    """Consume (manual ack) `expect` messages from a queue: their message ids, and how many messages are
    left in the queue after them (redelivered extras and unconsumed ones alike)."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=500)
    ids: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        for method, props, _ in ch.consume(queue, inactivity_timeout=1.0):
            if method is None:
                assert time.monotonic() < deadline, f"{len(ids)} of {expect} messages in {queue}"
                continue
            ids.append(props.message_id)
            if len(ids) % 250 == 0 or len(ids) == expect:
                ch.basic_ack(method.delivery_tag, multiple=True)
            if len(ids) == expect:
                break
        ch.cancel()  # prefetched but unconsumed messages go back to the queue, and are counted below
        left = ch.queue_declare(queue, passive=True).method.message_count
        return ids, left
    finally:
        conn.close()


def count_rows(database: Path) -> tuple[int, int]:
    """(accepted messages recorded, copies for the pull dueslag) in a simulator's SQLite file."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as db:
            return (
                db.scalar(select(func.count()).select_from(BfBesked)),
                db.scalar(select(func.count()).select_from(BfLevering).where(BfLevering.dueslag == PULL_DUESLAG)),
            )
    finally:
        engine.dispose()


async def test_a_burst_of_10000_messages_reconciles(sim_process, tmp_path, messages_dir, vhost_url, clean):  # noqa: F811
    pull_subscription(messages_dir, keep_ky=False)  # one pull dueslag (the demo KY push dueslag left out)
    database = tmp_path / "burst.db"
    sim = sim_process(database_url=f"sqlite+aiosqlite:///{database}", SIMULATOR_BROKER_URL=vhost_url)
    bodies = [statusskift() for _ in range(BURST)]
    sent = {besked_id(b) for b in bodies}

    def send_all() -> tuple[dict[str, int], int]:
        client = KombitSampleClient(vhost_url)
        try:
            for start in range(0, BURST, 1000):  # publish 1,000 (each confirmed), then collect their replies
                ids = [client.publish(b, correlation_id=besked_id(b)) for b in bodies[start : start + 1000]]
                client.wait(ids, timeout=120)
        finally:
            client.close()
        return {cid: statuskode(reply)[0] for cid, reply in client.replies.items()}, len(client.returned)

    t0 = time.monotonic()
    answers, returned = await asyncio.to_thread(send_all)
    answered_s = time.monotonic() - t0
    assert returned == 0  # every message was routed to the simulator's queue
    assert set(answers) == sent and Counter(answers.values()) == {20: BURST}

    got, left = await asyncio.to_thread(drain, vhost_url, PULL_DUESLAG, BURST, 120.0)
    drained_s = time.monotonic() - t0
    assert set(got) == sent and len(got) == BURST and left == 0  # each delivered exactly once

    async with httpx.AsyncClient(base_url=sim.url, timeout=60) as http:
        verify = {"service": "BeskedAfsend", "origin": "amqp", "count": 0}
        exchanges = (await http.post("/api/verify", json=verify)).raise_for_status().json()["found"]
        accepted = (await http.get("/api/beskedfordeler/status")).raise_for_status().json()["accepted"]
    recorded, copies = count_rows(database)
    assert exchanges == accepted == recorded == copies == BURST
    print(
        f"{BURST} messages: all answered 20 after {answered_s:.1f} s ({BURST / answered_s:.0f}/s), all consumed "
        f"from the dueslag after {drained_s:.1f} s; {recorded} recorded, {copies} copies, each delivered once"
    )
