"""A coverage or write-off is booked, answered and recorded in ONE transaction of the database writer (KY's
CommittedAnswer): when the debtor system has its answer, the booking and the exchange holding that very answer
are both committed, and the live feed and metrics have been told — on both database engines."""

from __future__ import annotations

import uuid

from tests.ky.conftest import COMPONENTS
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
