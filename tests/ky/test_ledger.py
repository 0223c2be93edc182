"""KY's ledger on both database engines: coverages and write-offs checked, refused with stable codes,
idempotent per id even under concurrency; Beskedfordeler hooks idempotent per BeskedId."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import pytest

from simulator.ky import KyLedger
from tests.ky.conftest import COMPONENTS, DEMO_CVR, OTHER_CVR, PRISME_AGREEMENT, PRISME_SYSTEM, set_validation
from tests.ky.messages import PATH, action, coverage, kvittering


async def _account(sim, cvr: str = DEMO_CVR, amounts=("100.00",)) -> dict:
    r = await sim.client.post(
        "/api/ky/accounts",
        json={
            "municipality": cvr,
            "debitor": {"cpr": "0101701234"},
            "claims": [{"amount": a} for a in amounts],
            "send": False,
        },
    )
    assert r.status_code == 200, r.text
    return r.json()["account"]


async def _post(sim, body: bytes, write_off: bool = False) -> tuple[str, str | None, list[str]]:
    r = await sim.client.post(
        PATH, content=body, headers={"SOAPAction": action(write_off), "Content-Type": "text/xml; charset=utf-8"}
    )
    assert r.status_code == 200, r.text
    return kvittering(r.content)


async def test_refusals_each_have_a_stable_code(sim_factory, backend, routes_dir) -> None:
    set_validation(routes_dir, "off")  # KY-DA-000 is KY's own answer to what the contract check would refuse
    async with sim_factory(backend=backend, components=COMPONENTS) as sim:
        acc = await _account(sim)
        claim = acc["claims"][0]
        sub = claim["subclaims"][0]["uuid"]
        other = await _account(sim, cvr=OTHER_CVR)

        cases = {
            "KY-DA-001": coverage(str(uuid.uuid4()), "10.00"),  # unknown claim
            "KY-DA-002": coverage(other["claims"][0]["uuid"], "10.00"),  # claim of another municipality
            "KY-DA-003": coverage(claim["uuid"], "10.00", subclaim=str(uuid.uuid4())),  # unknown sub-claim
            "KY-DA-004": coverage(claim["uuid"], "100.01"),  # above outstanding
            "KY-DA-005": coverage(claim["uuid"], "0.00"),  # not positive
            "KY-DA-000": coverage(claim["uuid"], "10.00", omit="Beloeb"),  # unreadable (validation off)
        }
        for code, body in cases.items():
            status, why, codes = await _post(sim, body)
            assert (status, codes) == ("AFVIST", [code]), (code, why)
            assert why

        # Prisme may report for its own municipality only (agreement), and KY refuses a claim that is not its.
        status, _, codes = await _post(
            sim, coverage(claim["uuid"], "1.00", cvr=OTHER_CVR, agreement=PRISME_AGREEMENT, system=PRISME_SYSTEM)
        )
        assert (status, codes) == ("AFVIST", ["KY-DA-002"])

        # An accepted write-off, then the same id with other content is a conflict.
        wid = str(uuid.uuid4())
        first = await _post(sim, coverage(claim["uuid"], "40.00", item_id=wid, write_off=True), True)
        assert first[0] == "ACCEPTERET"
        status, _, codes = await _post(sim, coverage(claim["uuid"], "41.00", item_id=wid, write_off=True), True)
        assert (status, codes) == ("AFVIST", ["KY-DA-006"])
        # Above what is outstanding now (60.00 after the write-off), and on the sub-claim.
        assert (await _post(sim, coverage(claim["uuid"], "60.01", subclaim=sub)))[2] == ["KY-DA-004"]

        view = (await sim.client.get(f"/api/ky/claims/{claim['uuid']}")).json()
        assert (view["written_off"], view["covered"], view["outstanding"]) == ("40.00", "0.00", "60.00")


async def test_sf1590_requests_are_validated_strictly_by_default(sim_factory) -> None:
    """Out of the box the platform refuses what the SF1590 contract refuses (SP-150), before KY books anything:
    here a write-off whose Aarsag is not in the contract's list and a coverage without its amount."""
    async with sim_factory(components=COMPONENTS) as sim:
        assert sim.rt.routes.services["DaekningAfskrivningRegistreringAfsend"].validation == "strict"
        claim = (await _account(sim))["claims"][0]["uuid"]
        bad_reason = coverage(claim, "5.00", write_off=True).replace(b">Uerholdelig<", b">Udenfor<")
        assert b">Udenfor<" in bad_reason
        for body, write_off in ((bad_reason, True), (coverage(claim, "10.00", omit="Beloeb"), False)):
            r = await sim.client.post(
                PATH, content=body, headers={"SOAPAction": action(write_off), "Content-Type": "text/xml"}
            )
            assert r.status_code == 500 and b"SP-150" in r.content, r.text
        view = (await sim.client.get(f"/api/ky/claims/{claim}")).json()
        assert (view["written_off"], view["covered"], view["postings_count"]) == ("0.00", "0.00", 0)


async def test_a_repeated_coverage_counts_once_even_when_concurrent(sim_factory, backend) -> None:
    async with sim_factory(backend=backend, components=COMPONENTS) as sim:
        acc = await _account(sim, amounts=("100.00",))
        claim = acc["claims"][0]["uuid"]
        cid = str(uuid.uuid4())
        body = coverage(claim, "30.00", item_id=cid)
        results = await asyncio.gather(*(_post(sim, body) for _ in range(10)))
        assert {r[0] for r in results} == {"ACCEPTERET"}
        assert sum("already registered" in (r[1] or "") for r in results) == 9
        # Concurrent different coverages may not together exceed what is outstanding (70.00 left).
        results = await asyncio.gather(*(_post(sim, coverage(claim, "20.00")) for _ in range(6)))
        assert sorted(r[0] for r in results) == ["ACCEPTERET"] * 3 + ["AFVIST"] * 3
        view = (await sim.client.get(f"/api/ky/claims/{claim}")).json()
        assert (view["covered"], view["outstanding"]) == ("90.00", "10.00")
        assert sum(p["uuid"] == cid for p in view["postings"]) == 1
        assert view["balance_consistent"]


async def test_concurrent_bookings_on_several_claims_and_a_subclaim_each_get_their_own_answer(
    sim_factory, backend
) -> None:
    """Concurrent calls are booked together (one transaction per batch); each still gets the answer it
    would get alone, in arrival order, and the running balance agrees with the postings."""
    async with sim_factory(backend=backend, components=COMPONENTS) as sim:
        acc = await _account(sim, amounts=("10.00", "5.00"))
        by_amount = {c["amount"]: c for c in acc["claims"]}
        big, small = by_amount["10.00"], by_amount["5.00"]
        sub = big["subclaims"][0]
        same_id = str(uuid.uuid4())
        bodies = [coverage(big["uuid"], "1.00") for _ in range(12)]  # 10.00 outstanding: 10 fit, 2 refused
        bodies += [coverage(small["uuid"], "2.00") for _ in range(3)]  # 5.00: 2 fit, 1 refused
        bodies += [coverage(small["uuid"], "0.50", item_id=same_id)] * 2  # a repeat in the same batch
        bodies.append(coverage(big["uuid"], "1.00", subclaim=str(uuid.uuid4())))  # not a sub-claim of it
        results = await asyncio.gather(*(_post(sim, b) for b in bodies))
        codes = [r[2][0] if r[0] == "AFVIST" else r[0] for r in results]
        assert codes.count("KY-DA-003") == 1 and codes.count("KY-DA-004") == 3
        assert codes.count("ACCEPTERET") == 10 + 2 + 2
        assert sum("already registered" in (r[1] or "") for r in results) == 1
        assert (await _post(sim, coverage(small["uuid"], "0.60", item_id=same_id)))[2] == ["KY-DA-006"]
        big_view = (await sim.client.get(f"/api/ky/claims/{big['uuid']}")).json()
        small_view = (await sim.client.get(f"/api/ky/claims/{small['uuid']}")).json()
        assert (big_view["covered"], big_view["outstanding"]) == ("10.00", "0.00")
        assert (small_view["covered"], small_view["outstanding"]) == ("4.50", "0.50")
        assert big_view["balance_consistent"] and small_view["balance_consistent"]
        assert (await _post(sim, coverage(big["uuid"], "0.01", subclaim=sub["uuid"])))[2] == ["KY-DA-004"]


async def test_beskedfordeler_hooks_are_idempotent_and_visible(sim_factory, backend) -> None:
    async with sim_factory(backend=backend, components=COMPONENTS) as sim:
        acc = await _account(sim)
        ky = sim.rt.get(KyLedger)
        at = datetime.now(UTC)
        bid = str(uuid.uuid4())
        assert await ky.record_status_change(DEMO_CVR, acc["uuid"], "overdraget", at, bid) is True
        assert await ky.record_status_change(DEMO_CVR, acc["uuid"], "overdraget", at, bid) is False
        account = (await sim.client.get(f"/api/ky/accounts/{acc['uuid']}")).json()
        assert account["status"] == "overdraget"
        assert [(h["status"], h["source"]) for h in account["status_history"]] == [
            ("oprettet", "ky"),
            ("overdraget", "beskedfordeler"),
        ]
        changes = (await sim.client.get("/api/ky/status-changes", params={"account_uuid": acc["uuid"]})).json()
        assert [c["besked_id"] for c in changes if c["source"] == "beskedfordeler"] == [bid]

        claim = acc["claims"][0]["uuid"]
        bid2 = str(uuid.uuid4())
        for _ in range(2):
            await ky.record_fordring_til_indbetaling(
                DEMO_CVR, claim, ["11111111", "29189846"], date(2025, 1, 1), None, bid2
            )
        rows = (await sim.client.get("/api/ky/fordringer-til-indbetaling", params={"fordring_uuid": claim})).json()
        assert [(r["authorities"], r["period_from"], r["period_to"]) for r in rows] == [
            (["11111111", "29189846"], "2025-01-01", None)
        ]


@pytest.mark.parametrize(
    "payload, problem",
    [
        ({"debitor": {"cpr": "0101701234", "cvr": "12345678"}}, "exactly one of cpr or cvr"),
        ({"claims": [{"amount": "10.00", "subclaims": [{"amount": "3.00"}]}]}, "do not add up"),
        ({"claims": [{"amount": "10.001"}]}, "decimal"),
        ({"municipality": "99999999"}, "unknown municipality"),
    ],
)
async def test_admin_api_refuses_bad_accounts(sim_factory, payload, problem) -> None:
    async with sim_factory(components=COMPONENTS) as sim:
        body = {
            "municipality": DEMO_CVR,
            "debitor": {"cpr": "0101701234"},
            "claims": [{"amount": "10.00"}],
            "send": False,
        } | payload
        r = await sim.client.post("/api/ky/accounts", json=body)
        assert r.status_code == 422 and problem in r.text, r.text
