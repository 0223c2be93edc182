"""`GET /metrics` (Prometheus): calls by service × municipality × outcome, latency, the writer's backlog, and the
Beskedfordeler's hooks, scraped after traffic."""

from __future__ import annotations

import uuid

from prometheus_client.parser import text_string_to_metric_families

from tests.ky.conftest import DEMO_CVR
from tests.ky.messages import PATH, action, coverage, kvittering

HEADERS = {"SOAPAction": action(), "Content-Type": "text/xml; charset=utf-8"}


def samples(text: str) -> dict[tuple, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_count_calls_by_outcome_after_traffic(sim_factory) -> None:
    async with sim_factory() as sim:
        await _traffic_then_scrape(sim)


async def _traffic_then_scrape(sim) -> None:
    r = await sim.client.post(
        "/api/ky/accounts",
        json={
            "municipality": DEMO_CVR,
            "debitor": {"cpr": "0101701234"},
            "claims": [{"amount": "10.00"}],
            "send": False,
        },
    )
    assert r.status_code == 200, r.text
    claim = r.json()["account"]["claims"][0]["uuid"]
    sent = [coverage(claim, "1.00"), coverage(claim, "1.00"), coverage(claim, "50.00")]  # 50.00: above outstanding
    sent.append(coverage(claim, "1.00", agreement=str(uuid.uuid4())))  # no such agreement: SP-130
    answers = [await sim.client.post(PATH, content=body, headers=HEADERS) for body in sent]
    assert [kvittering(a.content)[0] for a in answers[:3]] == ["ACCEPTERET", "ACCEPTERET", "AFVIST"]
    assert answers[3].status_code == 500
    sim.rt.metrics.besked_answered(20)
    sim.rt.metrics.besked_answered(40)
    sim.rt.metrics.besked_answered(20)
    sim.rt.metrics.dueslag_depth("d-1", 7)
    sim.rt.metrics.push_failed("d-1")

    scraped = await sim.client.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    got = samples(scraped.text)
    service = (("municipality", DEMO_CVR), ("service", "DaekningAfskrivningRegistreringAfsend"))

    def calls(outcome: str) -> float:
        return got[("simulator_soap_calls_total", tuple(sorted((*service, ("outcome", outcome)))))]

    assert calls("ok") == 2 and calls("refused") == 1
    refused_call = [k for k in got if k[0] == "simulator_soap_calls_total" and ("outcome", "SP-130") in k[1]]
    assert len(refused_call) == 1 and got[refused_call[0]] == 1
    count = ("simulator_soap_call_seconds_count", (("service", "DaekningAfskrivningRegistreringAfsend"),))
    assert got[count] == 4
    assert got[("simulator_writer_backlog", (("lane", "exchanges"),))] == 0
    assert got[("simulator_writer_ok", ())] == 1
    assert got[("simulator_besked_messages_total", (("statuskode", "20"),))] == 2
    assert got[("simulator_besked_messages_total", (("statuskode", "40"),))] == 1
    assert got[("simulator_dueslag_depth", (("dueslag", "d-1"),))] == 7
    assert got[("simulator_push_failures_total", (("dueslag", "d-1"),))] == 1
