"""A coverage or write-off is booked, answered and recorded in ONE transaction of the database writer (KY's
CommittedAnswer): when the debtor system has its answer, the booking and the exchange holding that very answer
are both committed, and the live feed and metrics have been told — on both database engines."""

from __future__ import annotations

import asyncio
import uuid

from tests.ky.conftest import COMPONENTS, set_validation
from tests.ky.messages import PATH, action, coverage, kvittering
from tests.ky.test_ledger import _account


async def test_each_coverage_is_booked_and_recorded_in_one_transaction(sim_factory, backend) -> None:
    async with sim_factory(backend=backend, components=COMPONENTS) as sim:
        claim = (await _account(sim, amounts=("100.00",)))["claims"][0]["uuid"]
        db = sim.rt.db
        transactions = []
        unit_of_work = db.transaction

        async def counted(work):
            transactions.append(work)
            return await unit_of_work(work)

        db.transaction = counted
        told = []
        sim.rt.recorder.listeners.append(lambda row: told.append(row["id"]))
        repeat_id = str(uuid.uuid4())
        cases = [
            ("ACCEPTERET", [], coverage(claim, "10.00", item_id=repeat_id)),
            ("ACCEPTERET", [], coverage(claim, "10.00", item_id=repeat_id)),  # a repeat: not counted again
            ("AFVIST", ["KY-DA-004"], coverage(claim, "90.01")),  # above what is outstanding (90.00)
            ("AFVIST", ["KY-DA-001"], coverage(str(uuid.uuid4()), "1.00")),  # no such claim
            ("ACCEPTERET", [], coverage(claim, "5.00", write_off=True)),
        ]
        for status, codes, body in cases:
            transactions.clear()
            write_off = b"RegistrerAfskrivning" in body
            r = await sim.client.post(
                PATH, content=body, headers={"SOAPAction": action(write_off), "Content-Type": "text/xml"}
            )
            assert r.status_code == 200, r.text
            assert kvittering(r.content)[0::2] == (status, codes)
            assert len(transactions) == 1, f"{status} {codes}: {len(transactions)} transactions for one call"
            exchange_id = r.headers["x-simulator-exchange-id"]
            assert exchange_id in told  # committed before the answer, and the listeners were told
            db.transaction = unit_of_work  # reading it back is no part of the call
            recorded = (await sim.client.get(f"/api/exchanges/{exchange_id}")).json()
            db.transaction = counted
            assert recorded["response_body"] == r.text
            assert (recorded["status"], recorded["http_status"], recorded["decision"]) == ("ok", 200, "handled")
            assert recorded["duration_ms"] > 0

        view = (await sim.client.get(f"/api/ky/claims/{claim}")).json()
        assert (view["covered"], view["written_off"], view["outstanding"]) == ("10.00", "5.00", "85.00")


async def test_a_posting_the_database_refuses_is_answered_and_recorded_in_its_own_transaction(
    sim_factory, routes_dir, monkeypatch
) -> None:
    """Past KY's own edge check (switched off here), PostgreSQL refuses a 40-character IndbetalingUUID inside a
    batch of concurrent coverages: the batch is redone one posting at a time, the refused one is answered AFVIST
    KY-DA-000 with its exchange recorded holding that answer, and its neighbours are booked and recorded once."""
    from simulator.ky import ledger

    set_validation(routes_dir, "off")
    monkeypatch.setattr(ledger, "check_storable", lambda kind, item: None)
    async with sim_factory(backend="postgres", components=COMPONENTS) as sim:
        claim = (await _account(sim, amounts=("100.00",)))["claims"][0]["uuid"]
        bodies = [coverage(claim, "1.00") for _ in range(9)]
        bodies.insert(
            4,
            coverage(claim, "1.00").replace(
                b"<d:Beloeb>", b"<d:IndbetalingUUID>" + b"7" * 40 + b"</d:IndbetalingUUID><d:Beloeb>"
            ),
        )
        headers = {"SOAPAction": action(), "Content-Type": "text/xml"}
        answers = await asyncio.gather(*(sim.client.post(PATH, content=b, headers=headers) for b in bodies))
        outcomes = [kvittering(a.content) for a in answers]
        assert outcomes[4][0::2] == ("AFVIST", ["KY-DA-000"]) and "cannot store" in outcomes[4][1]
        assert [o[0] for i, o in enumerate(outcomes) if i != 4] == ["ACCEPTERET"] * 9
        for a in answers:
            recorded = (await sim.client.get(f"/api/exchanges/{a.headers['x-simulator-exchange-id']}")).json()
            assert recorded["response_body"] == a.text and recorded["status"] == "ok"
        listed = await sim.client.get("/api/exchanges", params={"service": "DaekningAfskrivningRegistreringAfsend"})
        assert len(listed.json()["items"]) == 10  # each call recorded once
        view = (await sim.client.get(f"/api/ky/claims/{claim}")).json()
        assert (view["covered"], view["postings_count"]) == ("9.00", 9)
        assert sim.rt.writer.health()["lanes"]["ky-bookings"]["refused"] == 1  # the database's refusal, not KY's
