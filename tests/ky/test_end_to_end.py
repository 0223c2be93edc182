"""KY ↔ reference debtor system through the simulated Serviceplatform, end to end (checklist 1a–1d)."""

from __future__ import annotations

import httpx

from tests.ky.conftest import DEMO_CVR, Env


def _exchanges(env: Env, **q) -> list[dict]:
    r = httpx.get(env.sim.url + "/api/exchanges", params=q, timeout=30)
    r.raise_for_status()
    return r.json()["items"]


def test_register_pay_cover_write_off_and_query(ky_env: Env) -> None:
    env = ky_env
    # 1a: KY registers an account with two claims for a demo municipality.
    r = env.api.post(
        "/accounts",
        json={
            "municipality": DEMO_CVR,
            "debitor": {"cpr": "0101701234", "name": "Karen Demo"},
            "claims": [
                {"amount": "1000.00", "subclaims": [{"amount": "600.00"}, {"amount": "400.00"}]},
                {"amount": "250.50"},
            ],
        },
    )
    assert r.status_code == 200, r.text
    created = r.json()
    assert created["sent"]["accepted"], created["sent"]
    account = created["account"]
    assert account["status"] == "aktiv"
    assert [h["status"] for h in account["status_history"]] == ["oprettet", "aktiv"]
    big, small = sorted(account["claims"], key=lambda c: -float(c["amount"]))
    assert (big["amount"], small["amount"]) == ("1000.00", "250.50")

    # … routed to the reference debtor and recorded.
    [ex] = _exchanges(env, service="DebitorRegistreringAfsend", operation="OpretDebitorkonto")
    assert ex["origin"] == "ky" and ex["decision"] == "routed" and ex["status"] == "ok"
    assert ex["municipality"] == DEMO_CVR and env.debtor.url in ex["route_target"]
    stored = env.dapi.get(f"/admin/{DEMO_CVR}/accounts").json()
    assert [a["uuid"] for a in stored] == [account["uuid"]]

    # 1c: KY pays part of the big claim; the debtor system covers the claim from it.
    r = env.api.post(f"/claims/{big['uuid']}/payments", json={"amount": "300.00"})
    assert r.status_code == 200, r.text
    assert r.json()["sent"]["accepted"]
    assert r.json()["claim"]["paid"] == "300.00"
    assert r.json()["claim"]["outstanding"] == "1000.00"  # KY waits for the debtor system's coverage

    # 1d: the debtor system reports the coverage and a write-off back to KY.
    reported = env.dapi.post(f"/admin/{DEMO_CVR}/report").json()
    assert [(x["art"], x["amount"], x["status"]) for x in reported] == [("Daekning", "300.00", "ACCEPTERET")]
    r = env.dapi.post(
        f"/admin/{DEMO_CVR}/afskrivninger",
        json={"claim_uuid": small["uuid"], "amount": "50.50", "aarsag": "Smaabeloeb", "reason": "under the limit"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ACCEPTERET"

    # KY's ledger shows the right outstanding amounts.
    account = env.api.get(f"/accounts/{account['uuid']}").json()
    claims = {c["uuid"]: c for c in account["claims"]}
    assert claims[big["uuid"]]["covered"] == "300.00"
    assert claims[big["uuid"]]["outstanding"] == "700.00"
    assert claims[small["uuid"]]["written_off"] == "50.50"
    assert claims[small["uuid"]]["outstanding"] == "200.00"
    assert account["outstanding"] == "900.00"
    write_off = claims[small["uuid"]]["postings"][0]
    assert write_off["kind"] == "afskrivning" and write_off["reason"].startswith("Smaabeloeb")
    assert [p["kind"] for p in env.api.get("/postings", params={"municipality": DEMO_CVR}).json()] == [
        "afskrivning",
        "daekning",
        "indbetaling",
    ]

    # 1b: the query service gives the same picture from the debtor side.
    remote = env.api.get(f"/accounts/{account['uuid']}/remote").json()
    assert remote["sent"]["accepted"], remote
    rclaims = {c["uuid"]: c for c in remote["account"]["claims"]}
    for uuid_, claim in claims.items():
        assert rclaims[uuid_]["outstanding"] == claim["outstanding"]
    assert remote["account"]["outstanding"] == account["outstanding"]
    assert [p["kind"] for p in rclaims[big["uuid"]]["postings"]] == ["Daekning"]
    assert rclaims[big["uuid"]]["payments"][0]["amount"] == "300.00"

    found = env.api.get("/query/accounts", params={"municipality": DEMO_CVR, "cpr": "0101701234"}).json()
    assert [(a["uuid"], a["outstanding"]) for a in found["accounts"]] == [(account["uuid"], "900.00")]
    open_ = env.api.get(
        "/query/open-subclaims", params={"municipality": DEMO_CVR, "account_uuid": account["uuid"]}
    ).json()
    by_claim: dict[str, float] = {}
    for s in open_["subclaims"]:
        by_claim[s["claim_uuid"]] = by_claim.get(s["claim_uuid"], 0) + float(s["outstanding"])
    assert by_claim == {big["uuid"]: 700.0, small["uuid"]: 200.0}

    # Every hop was recorded, KY's calls and the debtor system's alike, all valid against the contract.
    recorded = _exchanges(env, limit=50)
    assert all(e["status"] == "ok" and not e["violations"] for e in recorded), recorded
    services = httpx.get(env.sim.url + "/api/services", timeout=10).json()
    assert {s["validation"] for s in services if (s["contract"] or "").startswith("sf1590/")} == {"strict"}
    ops = {(e["service"], e["operation"], e["origin"]) for e in recorded}
    assert ("DaekningAfskrivningRegistreringAfsend", "RegistrerDaekning", "http") in ops
    assert ("DebitorIndbetalingAfsend", "ForetagIndbetaling", "ky") in ops
    assert ("DebitorForespoergselAfsend", "LaesDebitorkonto", "ky") in ops


def test_claim_state_and_liabilities_reach_the_debtor_system(ky_env: Env) -> None:
    env = ky_env
    created = env.api.post(
        "/accounts",
        json={
            "municipality": DEMO_CVR,
            "debitor": {"cvr": "12345678", "name": "Demo ApS"},
            "liabilities": [
                {"role": "JuridiskAnsvarlig", "cvr": "12345678"},
                {"role": "Administrator", "cpr": "0202801234", "name": "Bo Admin"},
            ],
            "claims": [{"amount": "500.00"}],
        },
    ).json()
    acc = created["account"]
    claim = acc["claims"][0]["uuid"]
    r = env.api.post(
        f"/claims/{claim}/state", json={"state": "Nedreguleret", "down_adjustment": "120.00", "reason": "ret beregning"}
    ).json()
    assert r["sent"]["accepted"], r
    assert r["claim"]["state"] == "Nedreguleret" and r["claim"]["outstanding"] == "380.00"
    admin = next(lb for lb in acc["liabilities"] if lb["role"] == "Administrator")
    r = env.api.post(f"/liabilities/{admin['uuid']}/end", json={"valid_to": "2030-01-31"}).json()
    assert r["sent"]["operation"] == "AfslutAdministrator" and r["sent"]["accepted"], r
    assert next(lb for lb in r["account"]["liabilities"] if lb["role"] == "Administrator")["valid_to"] == "2030-01-31"

    remote = env.api.get(f"/accounts/{acc['uuid']}/remote").json()["account"]
    assert remote["claims"][0]["state"] == "Nedreguleret" and remote["claims"][0]["outstanding"] == "380.00"
    assert {lb["role"]: lb["valid_to"] for lb in remote["liabilities"]} == {
        "JuridiskAnsvarlig": None,
        "Administrator": "2030-01-31",
    }

    # The debtor system's refusal reaches KY as AFVIST: a second registration of the same account.
    again = env.api.post(f"/accounts/{acc['uuid']}/send").json()
    assert not again["sent"]["accepted"]
    assert again["sent"]["kvittering"]["status"] == "AFVIST"
    assert again["sent"]["kvittering"]["fejl"][0]["kode"] == "DEB-001"


def test_ky_without_an_agreement_or_route_says_why(ky_env: Env) -> None:
    env = ky_env
    acc = env.api.post(
        "/accounts",
        json={
            "municipality": DEMO_CVR,
            "debitor": {"cpr": "0101701234"},
            "claims": [{"amount": "10.00"}],
            "send": False,
        },
    ).json()["account"]
    assert acc["status"] == "oprettet"
    r = httpx.delete(env.sim.url + "/api/routes/DebitorRegistreringAfsend:11111111", timeout=10)
    assert r.status_code == 200
    sent = env.api.post(f"/accounts/{acc['uuid']}/send").json()["sent"]
    assert not sent["accepted"] and sent["fault"]["code"] == "SP-140"
    r = httpx.delete(env.sim.url + "/api/agreements/eaefe823-905a-4be7-aa00-616250873ca3", timeout=10)
    r = env.api.post(f"/accounts/{acc['uuid']}/send")
    assert r.status_code == 409 and "no active service agreement" in r.json()["detail"]
