"""Push delivery (BeskedFåTilsendt): ModtagBeskedInput POSTed to the subscriber's callback; 20 delivered,
40 pause and retry with backoff, other answers stop the dueslag with the reason shown; every attempt is
recorded; move-to-error-queue, resume and re-queue through the admin API."""

from __future__ import annotations

import asyncio
import time

from lxml import etree

from simulator.beskedfordeler import Beskedfordeler
from simulator.beskedfordeler import kuvert as kv
from tests.beskedfordeler.conftest import (
    FORDRING,
    STATUSSKIFT,
    assert_valid,
    besked_id,
    statusskift,
    write_subscriptions,
)

PUSH_DUESLAG = "0b6d7a52-5f0e-4a8e-9d67-2d6c0f2c9a21"
PUSH_ABONNEMENT = "0b6d7a52-5f0e-4a8e-9d67-2d6c0f2c9a22"


async def until(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def setup_push(messages_dir, url: str) -> None:
    write_subscriptions(
        messages_dir,
        [
            {"uuid": PUSH_DUESLAG, "system": "ky", "levering": "push", "callback": url, "pause_s": 0.05},
        ],
        [{"uuid": PUSH_ABONNEMENT, "dueslag": PUSH_DUESLAG, "beskedtyper": [STATUSSKIFT, FORDRING]}],
        keep_ky=False,
    )


async def attempts(sim) -> list[dict]:
    """The answered push attempts, oldest first (an attempt is recorded as `sendt` before it is sent)."""
    r = await sim.client.get(f"/api/beskedfordeler/dueslag/{PUSH_DUESLAG}/forsoeg")
    return [a for a in reversed(r.json()) if a["outcome"] != "sendt"]


async def send(sim, body: bytes) -> None:
    r = await sim.client.post("/beskedfordeler/afsend", content=body)
    assert b"<StatusKode>20</StatusKode>" in r.content, r.text


async def test_push_retries_after_40_and_delivers_a_valid_ModtagBeskedInput(
    sim_factory, messages_dir, push_receiver, anvender_xsd
):
    receiver, server = push_receiver
    receiver.answers = [40, 40]  # "cannot receive now" twice, then 20
    setup_push(messages_dir, f"{server.url}/modtag")
    async with sim_factory() as sim:
        body = statusskift()
        await send(sim, body)
        tries = await until(lambda: _done(sim), what="delivery")
        assert [(t["attempt"], t["outcome"], t["statuskode"]) for t in tries] == [
            (1, "pause", 40),
            (2, "pause", 40),
            (3, "leveret", 20),
        ]
        assert len(receiver.received) == 3
        for n, pushed in enumerate(receiver.received, start=1):
            root = assert_valid(anvender_xsd, pushed)  # ModtagBeskedInput per the official schema
            assert root.tag == "{urn:oio:sts:1.0.0}ModtagBeskedInput"
            rute = root.find(f".//{kv.k('Leverancerute')}")
            assert kv.unikid(rute.find(kv.k("ErLeveretIHenholdTil"))) == PUSH_ABONNEMENT
            assert rute.findtext(f".//{kv.k('AntalLeveranceforsoeg')}") == str(n)
            assert kv.unikid(root.find(f".//{kv.k('BeskedId')}")) == besked_id(body)
        detail = (await sim.client.get(f"/api/beskedfordeler/beskeder/{besked_id(body)}")).json()
        assert detail["leveringer"][0]["state"] == "delivered" and detail["leveringer"][0]["attempts"] == 3


async def _done(sim):
    tries = await attempts(sim)
    return tries if tries and tries[-1]["outcome"] == "leveret" else None


async def test_an_error_answer_stops_the_dueslag_until_resumed_and_the_error_queue_unblocks_it(
    sim_factory, messages_dir, push_receiver
):
    receiver, server = push_receiver
    receiver.answers = [53]  # unavailable: stop
    setup_push(messages_dir, f"{server.url}/modtag")
    async with sim_factory() as sim:
        first, second = statusskift(), statusskift()
        await send(sim, first)

        async def stopped():
            ds = {d["uuid"]: d for d in (await sim.client.get("/api/beskedfordeler/dueslag")).json()}
            return ds[PUSH_DUESLAG]["stopped"]

        reason = await until(stopped, what="the dueslag to stop")
        assert "StatusKode 53" in reason and besked_id(first) in reason and "kan ikke modtage nu" in reason
        await send(sim, second)
        await sim.rt.get(Beskedfordeler).wait_distributed()
        assert len(receiver.received) == 1  # nothing is delivered while stopped

        # the first message is the poison one: move it to the error queue, then resume
        r = await sim.client.post(
            f"/api/beskedfordeler/dueslag/{PUSH_DUESLAG}/flytbeskedtilfejlkoe", json={"besked_id": besked_id(first)}
        )
        assert r.json() == {"moved": besked_id(first)}
        r = await sim.client.post(f"/api/beskedfordeler/dueslag/{PUSH_DUESLAG}/genoptag")
        assert r.status_code == 200
        await until(lambda: _delivered(sim, second), what="the second message")
        assert not await stopped()

        # re-queue from the error queue: delivered now that the receiver answers 20
        r = await sim.client.post(f"/api/beskedfordeler/dueslag/{PUSH_DUESLAG}/fejlkoe/gensend", json={})
        assert r.json()["moved"] == [besked_id(first)]
        await until(lambda: _delivered(sim, first), what="the re-queued message")
        outcomes = [(t["besked_id"], t["outcome"]) for t in await attempts(sim)]
        assert outcomes == [
            (besked_id(first), "stoppet"),
            (besked_id(second), "leveret"),
            (besked_id(first), "leveret"),
        ]


async def _delivered(sim, body: bytes) -> bool:
    detail = (await sim.client.get(f"/api/beskedfordeler/beskeder/{besked_id(body)}")).json()
    return detail["leveringer"][0]["state"] == "delivered"


async def test_transport_errors_and_non_xml_answers_stop_the_dueslag(sim_factory, messages_dir, push_receiver):
    receiver, server = push_receiver
    receiver.answers = ["html"]
    setup_push(messages_dir, f"{server.url}/modtag")
    async with sim_factory() as sim:
        await send(sim, statusskift())
        tries = await until(lambda: attempts(sim), what="an attempt")
        assert tries[0]["outcome"] == "stoppet" and tries[0]["http_status"] == 502
        r = await sim.client.put(
            "/api/beskedfordeler/dueslag",
            json={
                "uuid": PUSH_DUESLAG,
                "system": "ky",
                "levering": "push",
                "callback": "http://127.0.0.1:9/nowhere",
                "pause_s": 0.05,
            },
        )
        assert r.status_code == 200
        await sim.client.post(f"/api/beskedfordeler/dueslag/{PUSH_DUESLAG}/genoptag")

        async def second_stop():
            t = await attempts(sim)
            return t if len(t) >= 2 else None

        tries = await second_stop() or await until(second_stop, what="a second attempt")
        assert tries[1]["outcome"] == "stoppet" and "ConnectError" in tries[1]["detail"]

        async def stopped():  # the attempt is written a moment before the dueslag is marked stopped
            ds = {d["uuid"]: d for d in (await sim.client.get("/api/beskedfordeler/dueslag")).json()}
            return ds[PUSH_DUESLAG]["stopped"]

        assert "nowhere" in await until(stopped, what="the dueslag to stop")


def test_push_body_sample_shape_matches_the_official_sample(anvender_xsd):
    """Our ModtagBeskedInput wraps the copy exactly as KOMBIT's push sample does."""
    copy = etree.fromstring(statusskift())
    body = kv.modtag_besked_input(copy)
    root = assert_valid(anvender_xsd, body)
    assert [c.tag for c in root] == [kv.k("Haendelsesbesked")]
