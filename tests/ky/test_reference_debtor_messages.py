"""The reference debtor system as shipped (no flags): it publishes DebitorkontoStatusskift and
FordringTilIndbetaling to the simulator's Beskedfordeler by itself (checklist 1e) and reports coverages
to KY right after a payment (1d, auto-report on by default); a Beskedfordeler it cannot reach does not
touch its answers to KY."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from examples.reference_debtor.app import Config
from examples.reference_debtor.app import create_app as create_debtor_app
from tests.conftest import LiveServer, free_port, point_routes_at, until
from tests.ky.conftest import COMPONENTS, DEMO_CVR, OPUS_SYSTEM


@pytest.fixture
def servers(routes_dir: Path, messages_dir: Path, live_factory) -> Iterator[tuple[LiveServer, LiveServer, Config]]:
    """The simulator and the reference debtor with its default configuration, on free ports."""
    port = free_port()
    point_routes_at(routes_dir, f"http://127.0.0.1:{port}")
    config = Config.from_routes(routes_dir, "http://127.0.0.1:1", messages_dir=messages_dir)
    assert config.auto_report and config.publish_messages  # the defaults
    with LiveServer(create_debtor_app(config), port=port) as debtor, live_factory(components=COMPONENTS) as sim:
        yield sim, debtor, config


def _create(sim: LiveServer) -> dict:
    r = httpx.post(
        sim.url + "/api/ky/accounts",
        json={
            "municipality": DEMO_CVR,
            "debitor": {"cpr": "0101701234", "name": "Karen Demo"},
            "claims": [{"amount": "1000.00", "subclaims": [{"amount": "600.00"}, {"amount": "400.00"}]}],
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json()["sent"]["accepted"], r.json()["sent"]
    return r.json()["account"]


def test_status_change_and_open_claim_reach_ky_through_the_beskedfordeler(servers) -> None:
    sim, debtor, config = servers
    config.simulator_url = sim.url
    account = _create(sim)

    # 1e: the debtor system's DebitorkontoStatusskift is accepted by the Beskedfordeler …
    sent = until(
        "the debtor system published the status change",
        lambda: [m for m in httpx.get(debtor.url + "/admin/messages", timeout=10).json() if m.get("status_kode")],
    )
    assert [(m["beskedtype"], m["status_kode"], m["fejl"]) for m in sent] == [("DebitorkontoStatusskift", "20", None)]
    besked_id = sent[0]["besked_id"]
    [bf] = [b for b in httpx.get(sim.url + "/api/beskedfordeler/beskeder", timeout=10).json()]
    assert bf["besked_id"] == besked_id and bf["municipality"] == DEMO_CVR and bf["system"] in ("opus", OPUS_SYSTEM)
    [ex] = httpx.get(sim.url + "/api/exchanges", params={"service": "BeskedAfsend"}, timeout=10).json()["items"]
    assert ex["decision"] == "accepted" and ex["callers_call_id"] == besked_id

    # … delivered to KY, which records the status change from the Beskedfordeler.
    def received() -> list[dict]:
        r = httpx.get(sim.url + "/api/ky/status-changes", params={"account_uuid": account["uuid"]}, timeout=10)
        return [c for c in r.json() if c["source"] == "beskedfordeler"]

    [change] = until("KY recorded the status change", received)
    assert (change["status"], change["municipality"], change["besked_id"]) == ("aktiv", DEMO_CVR, besked_id)

    # A payment that leaves the claim open: the coverage reaches KY by itself (auto-report), and the claim
    # is announced as still open for payment (FordringTilIndbetaling) with what is left.
    [claim] = account["claims"]
    r = httpx.post(sim.url + f"/api/ky/claims/{claim['uuid']}/payments", json={"amount": "300.00"}, timeout=30)
    assert r.status_code == 200 and r.json()["sent"]["accepted"], r.text
    covered = until(
        "KY recorded the debtor system's coverage",
        lambda: [
            c
            for c in httpx.get(sim.url + f"/api/ky/accounts/{account['uuid']}", timeout=10).json()["claims"]
            if c["covered"] == "300.00"
        ],
    )
    assert covered[0]["outstanding"] == "700.00"
    [open_claim] = until(
        "KY recorded the claim open for payment",
        lambda: httpx.get(
            sim.url + "/api/ky/fordringer-til-indbetaling", params={"fordring_uuid": claim["uuid"]}, timeout=10
        ).json(),
    )
    assert open_claim["municipality"] == DEMO_CVR and DEMO_CVR in open_claim["authorities"]


def test_an_unreachable_beskedfordeler_is_logged_and_does_not_touch_the_answer(servers, caplog) -> None:
    sim, debtor, config = servers  # config.simulator_url stays http://127.0.0.1:1: nothing listens there
    caplog.set_level(logging.WARNING, logger="reference_debtor")
    account = _create(sim)  # accepted: the registration does not depend on the message

    [failed] = until(
        "the debtor system gave up on the status change",
        lambda: httpx.get(debtor.url + "/admin/messages", timeout=10).json(),
    )
    assert failed["beskedtype"] == "DebitorkontoStatusskift" and failed["status_kode"] is None
    assert "ConnectError" in failed["fejl"]
    assert any("DebitorkontoStatusskift" in r.getMessage() for r in caplog.records)
    stored = httpx.get(debtor.url + f"/admin/{DEMO_CVR}/accounts", timeout=10).json()
    assert [a["uuid"] for a in stored] == [account["uuid"]]
