"""Sortiment delivery as a debtor system experiences it: the whole sortiment, then each change; retries
until a failing receiver catches up; every attempt recorded with its receipt and exchange."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest
from lxml import etree
from typer.testing import CliRunner

from simulator.klassifikation.cli import app
from tests.klassifikation.conftest import CVR, CVR2, sf1510, until, write_routes

SUB = f"{CVR}:debitor"
KLASSE_NS = "urn:oio:sts:klassifikation:klasse:1.1.3.0"


async def subscription(sim, sub_id: str = SUB) -> dict:
    r = await sim.client.get("/api/klassifikation/subscriptions")
    return {s["id"]: s for s in r.json()}[sub_id]


async def acknowledged(sim, version: int, sub_id: str = SUB) -> bool:
    return (await subscription(sim, sub_id))["acknowledged_version"] == version


def klasse_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(sf1510("Klasse/SF1510_EP_FS2/xsd/1.1.STS-3/Klasse.xsd"))))


async def test_subscriber_gets_the_whole_sortiment_then_only_the_change(sim_factory, klass_routes, receiver, backend):
    rcv, _server = receiver
    async with sim_factory(backend=backend, routes_dir=klass_routes, components=["klassifikation"]) as sim:
        await until(lambda: acknowledged(sim, 2), what="the full delivery to be acknowledged")
        held = rcv.store.by_cvr[CVR]
        assert held.version == 2 and len(held.klasser) == 24
        assert [r["type"] for r in held.received] == ["Fuld"]
        assert {f for f in held.facetter.values()} == {"KY-FORDRINGSTYPE", "KY-AFSKRIVNINGSAARSAG"}
        # the claim types the debtor system may use: leaves of Fordringstype in effect (Småbeløb retired in v2)
        assert "KY-FT-0204" in [
            k.brugervendt_noegle for k in held.fordringstyper(datetime.fromisoformat("2024-08-01T00:00:00+02:00"))
        ]

        r = await sim.client.post(
            "/api/klassifikation/klasser",
            json={
                "brugervendt_noegle": "KY-FT-0403",
                "titel": "Tilbagebetaling af revalideringsydelse",
                "facet": "KY-FORDRINGSTYPE",
                "overordnet": "KY-FT-04",
                "note": "ny fordringstype",
            },
        )
        assert r.status_code == 201 and r.json()["version"] == 3
        await until(lambda: acknowledged(sim, 3), what="the change to be acknowledged")

        change = held.received[-1]
        assert (change["type"], change["forrige_version"], change["version"]) == ("Aendring", 2, 3)
        assert change["klasser"] == ["KY-FT-0403"]  # only the change, not the whole sortiment again
        assert len(held.klasser) == 25
        new = next(k for k in held.klasser.values() if k.brugervendt_noegle == "KY-FT-0403")
        assert held.klasser[new.overordnet].brugervendt_noegle == "KY-FT-04"

        deliveries = (await sim.client.get("/api/klassifikation/deliveries", params={"subscription": SUB})).json()
        assert [
            (d["leverancetype"], d["from_version"], d["to_version"], d["outcome"], d["kvittering"])
            for d in reversed(deliveries)
        ] == [("Fuld", None, 2, "accepteret", "ACCEPTERET"), ("Aendring", 2, 3, "accepteret", "ACCEPTERET")]
        # each delivery went through the platform: agreement-checked, routed, recorded
        for d in deliveries:
            ex = (await sim.client.get(f"/api/exchanges/{d['exchange_id']}")).json()
            assert (ex["service"], ex["origin"], ex["decision"], ex["status"], ex["municipality"]) == (
                "SortimentModtag",
                "klassifikation",
                "routed",
                "ok",
                CVR,
            )
            assert d["leverance_uuid"] in ex["request_body"] and "ACCEPTERET" in ex["response_body"]

    # what reached the debtor system is LoRa that the official Klasse schema accepts
    schema = klasse_schema()
    for body in rcv.bodies:
        for klasse in etree.fromstring(body).iter(f"{{{KLASSE_NS}}}Klasse"):
            assert schema.validate(klasse), schema.error_log


async def test_failing_receiver_is_retried_with_backoff_and_catches_up(sim_factory, klass_routes, receiver):
    rcv, _server = receiver
    rcv.fail_remaining = 3
    async with sim_factory(routes_dir=klass_routes, components=["klassifikation"]) as sim:
        await until(lambda: acknowledged(sim, 2), what="delivery after the receiver recovered")
        attempts = list(reversed((await sim.client.get("/api/klassifikation/deliveries")).json()))
        assert [(d["attempt"], d["outcome"], d["fault_code"]) for d in attempts] == [
            (1, "fejl", "SP-142"),
            (2, "fejl", "SP-142"),
            (3, "fejl", "SP-142"),
            (4, "accepteret", None),
        ]
        assert "answered HTTP 503" in attempts[0]["detail"]  # the platform's fault names the receiver's answer
        starts = [datetime.fromisoformat(d["started_at"]) for d in attempts]
        gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
        assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2  # exponential backoff
        sub = await subscription(sim)
        assert sub["up_to_date"] and sub["failures"] == 0 and sub["last_error"] is None

        # down again while KY changes the sortiment: the change waits, then arrives
        rcv.fail_remaining = 2
        r = await sim.client.patch(
            "/api/klassifikation/klasser/KY-FT-0301", json={"titel": "Tilbagebetaling af sygedagpenge (lønmodtagere)"}
        )
        assert r.json()["version"] == 3
        await until(lambda: acknowledged(sim, 3), what="the change after two failures")
        held = rcv.store.by_cvr[CVR]
        assert held.received[-1]["klasser"] == ["KY-FT-0301"]
        assert next(k for k in held.klasser.values() if k.brugervendt_noegle == "KY-FT-0301").titel.endswith(
            "(lønmodtagere)"
        )

        # the receiver loses its memory: it refuses the next change, and gets the whole sortiment again
        rcv.store.by_cvr.clear()
        await sim.client.post("/api/klassifikation/klasser/KY-FT-0202/udgaa", json={})
        await until(lambda: acknowledged(sim, 4), what="the full resend after a refused change")
        last = (await sim.client.get("/api/klassifikation/deliveries", params={"limit": 2})).json()
        assert [(d["leverancetype"], d["outcome"]) for d in reversed(last)] == [
            ("Aendring", "afvist"),
            ("Fuld", "accepteret"),
        ]
        assert "UKENDT-FORRIGE-VERSION" in last[1]["detail"]
        assert len(rcv.store.by_cvr[CVR].klasser) == 24


async def test_subscriptions_are_managed_through_the_admin_api(sim_factory, tmp_path, receiver):
    rcv, server = receiver
    routes = write_routes(tmp_path / "r", server.url, subscriptions=[])
    async with sim_factory(routes_dir=routes, components=["klassifikation"]) as sim:
        assert (await sim.client.get("/api/klassifikation/subscriptions")).json() == []
        r = await sim.client.put(f"/api/klassifikation/subscriptions/{CVR2}/debitor")
        assert r.status_code == 200 and r.json()["acknowledged_version"] is None
        await until(lambda: acknowledged(sim, 2, f"{CVR2}:debitor"), what="delivery to the new subscriber")
        assert rcv.store.version(CVR2) == 2 and rcv.store.version(CVR) == 0

        bad = await sim.client.put("/api/klassifikation/subscriptions/99999999/debitor")
        assert bad.status_code == 422 and "unknown municipality" in bad.json()["detail"]
        bad = await sim.client.put(f"/api/klassifikation/subscriptions/{CVR}/klassifikation")
        assert bad.status_code == 422 and "only debtor systems" in bad.json()["detail"]

        r = await sim.client.post(f"/api/klassifikation/subscriptions/{CVR2}/debitor/resend")
        assert r.status_code == 200
        await until(lambda: len(rcv.store.by_cvr[CVR2].received) == 2, what="the resend")
        assert rcv.store.by_cvr[CVR2].received[-1]["type"] == "Fuld"
        assert (await sim.client.delete(f"/api/klassifikation/subscriptions/{CVR2}/debitor")).status_code == 204


async def test_versions_and_acknowledgements_survive_a_restart(sim_factory, klass_routes, receiver):
    rcv, _server = receiver
    async with sim_factory(routes_dir=klass_routes, components=["klassifikation"]) as sim:
        await until(lambda: acknowledged(sim, 2))
        await sim.client.post(
            "/api/klassifikation/klasser/KY-AA-04/udgaa", json={"virkning_til": "2025-01-01T00:00:00+01:00"}
        )
        await until(lambda: acknowledged(sim, 3))
    received = len(rcv.store.by_cvr[CVR].received)
    async with sim_factory(routes_dir=klass_routes, components=["klassifikation"]) as sim:
        versions = (await sim.client.get("/api/klassifikation/sortiment/versions")).json()
        assert [(v["version"], v["origin"]) for v in versions] == [(1, "file"), (2, "file"), (3, "api")]
        sub = await subscription(sim)
        assert sub["acknowledged_version"] == 3 and sub["up_to_date"]
    assert len(rcv.store.by_cvr[CVR].received) == received  # nothing delivered twice


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        (
            "/api/klassifikation/klasser",
            {"brugervendt_noegle": "KY-FT-0101", "titel": "x", "facet": "KY-FORDRINGSTYPE"},
            "is taken",
        ),
        ("/api/klassifikation/klasser", {"brugervendt_noegle": "KY-X", "titel": "x", "facet": "NOPE"}, "no Facet"),
        (
            "/api/klassifikation/klasser",
            {"brugervendt_noegle": "KY-X", "titel": "x", "facet": "KY-AFSKRIVNINGSAARSAG", "overordnet": "KY-FT-01"},
            "another Facet",
        ),
        ("/api/klassifikation/klasser/KY-FT-02/udgaa", {}, "still has Klasser in effect"),
        ("/api/klassifikation/klasser/KY-AA-05/udgaa", {}, "already retired"),
    ],
)
async def test_edits_that_make_no_sense_are_refused_and_make_no_version(sim_factory, klass_routes, path, body, says):
    async with sim_factory(routes_dir=klass_routes, components=["klassifikation"]) as sim:
        r = await sim.client.post(path, json=body)
        assert r.status_code == 422 and says in r.json()["detail"]
        assert len((await sim.client.get("/api/klassifikation/sortiment/versions")).json()) == 2


def test_cli_edits_the_sortiment_on_a_running_simulator(live_factory, klass_routes, receiver):
    rcv, _server = receiver
    with live_factory(routes_dir=klass_routes, components=["klassifikation"]) as live:
        runner = CliRunner()
        added = runner.invoke(
            app,
            [
                "add",
                "KY-FT-0405",
                "Tilbagebetaling af jobafklaringsforløbsydelse",
                "--overordnet",
                "KY-FT-04",
                "--url",
                live.url,
            ],
        )
        assert added.exit_code == 0 and "version 3 created" in added.output
        shown = runner.invoke(app, ["show", "--url", live.url])
        assert "KY-FT-0405" in shown.output and "[udgået 2024-07-01]" in shown.output  # KY-AA-05, retired in v2
        refused = runner.invoke(app, ["retire", "KY-FT-04", "--url", live.url])
        assert refused.exit_code == 1 and "still has Klasser in effect" in refused.output

        def acked() -> bool:
            subs = httpx.get(f"{live.url}/api/klassifikation/subscriptions").json()
            return subs[0]["acknowledged_version"] == 3

        deadline = time.monotonic() + 15
        while not acked():
            assert time.monotonic() < deadline, "the CLI's change never reached the subscriber"
            time.sleep(0.02)
        listing = runner.invoke(app, ["subscriptions", "--url", live.url])
        assert "acknowledged v3  up to date" in listing.output
