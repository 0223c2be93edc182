"""One bad message never harms another (issue 17, findings 1-3), on SQLite and PostgreSQL with the real
RabbitMQ: text no database can store (a NUL byte, UTF-16 without BOM) and any encoding but UTF-8 are refused
40 UGYLDIG_XML for that message alone, before anything is stored; the next valid message is answered at
once and the simulator still stops within its bound; a `reply_to` that is not direct reply-to gets nothing
published there."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import pika
import pytest

from simulator.beskedfordeler import Beskedfordeler
from simulator.beskedfordeler.broker import AFSEND_EXCHANGE
from tests.beskedfordeler.conftest import (
    PULL_DUESLAG,
    basic_get_all,
    besked_id,
    pull_subscription,
    statuskode,
    statusskift,
)

STOP_BOUND_S = 10.0


class Sender:
    """A pika sender (publisher confirms, mandatory) that notes when each reply came."""

    def __init__(self, url: str) -> None:
        self.conn = pika.BlockingConnection(pika.URLParameters(url))
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()
        self.ch.basic_consume("amq.rabbitmq.reply-to", self._on_reply, auto_ack=True)
        self.replies: dict[str, tuple[bytes, float]] = {}
        self.sent_at: dict[str, float] = {}

    def _on_reply(self, _ch, _method, props, body) -> None:
        self.replies[props.correlation_id] = (body, time.monotonic())

    def publish(self, body: bytes, *, reply_to: str = "amq.rabbitmq.reply-to") -> str:
        cid = str(uuid.uuid4())
        self.sent_at[cid] = time.monotonic()
        self.ch.basic_publish(
            AFSEND_EXCHANGE,
            "",
            body,
            pika.BasicProperties(reply_to=reply_to, correlation_id=cid, message_id=str(uuid.uuid4())),
            mandatory=True,
        )
        return cid

    def wait(self, cids: list[str], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(c in self.replies for c in cids):
            assert time.monotonic() < deadline, f"{sum(c in self.replies for c in cids)} of {len(cids)} replies"
            self.conn.process_data_events(time_limit=0.02)

    def answer(self, cid: str) -> tuple[int, str | None]:
        return statuskode(self.replies[cid][0])

    def close(self) -> None:
        self.conn.close()


def publish_among(url: str, goods: list[bytes], bad: bytes, at: int) -> tuple[str, list[str], Sender]:
    """Publish `goods` with `bad` in at position `at` and wait for every answer: (bad's correlation id, the
    goods' ids, the sender holding the answers)."""
    sender = Sender(url)
    cids = [sender.publish(b) for b in goods[:at]]
    bad_cid = sender.publish(bad)
    cids += [sender.publish(b) for b in goods[at:]]
    sender.wait([*cids, bad_cid])
    sender.close()
    return bad_cid, cids, sender


def nul_byte_message() -> bytes:
    return statusskift().replace(b"<besked:BeskedVersion>1.0", b"<besked:BeskedVersion>1.\x000", 1)


def utf16_message() -> bytes:
    """A well-formed envelope in UTF-16LE without BOM (and without a declaration saying so)."""
    text = statusskift().decode("utf-8")
    if text.startswith("<?xml"):
        text = text[text.index("?>") + 2 :].lstrip()
    return text.encode("utf-16-le")


def latin1_message() -> bytes:
    """A well-formed envelope in ISO-8859-1 (declared), holding æøå."""
    text = statusskift().decode("utf-8")
    if text.startswith("<?xml"):
        text = text[text.index("?>") + 2 :].lstrip()
    return ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<!-- kommune: Ærø, Højby, Vågø, Næstved -->\n' + text).encode(
        "iso-8859-1"
    )


async def test_after_a_nul_byte_and_a_utf16_message_the_next_is_answered_at_once_and_the_server_stops(
    backend, sim_factory, messages_dir, vhost_url, clean
):
    pull_subscription(messages_dir, keep_ky=False)
    good = statusskift()
    sender = await asyncio.to_thread(Sender, vhost_url)
    stopped_in = None
    try:
        cm = sim_factory(backend, broker_url=vhost_url)
        sim = await cm.__aenter__()
        try:
            nul, utf16 = nul_byte_message(), utf16_message()
            assert b"\x00" in nul
            cids = [sender.publish(nul), sender.publish(utf16)]
            await asyncio.to_thread(sender.wait, cids)
            for cid in cids:
                code, text = sender.answer(cid)
                assert code == 40 and text.startswith("UGYLDIG_XML: "), text
            assert "UTF-16" in sender.answer(cids[1])[1]
            cid = sender.publish(good)
            await asyncio.to_thread(sender.wait, [cid], 5.0)
            assert sender.answer(cid) == (20, None)
            answered_in = sender.replies[cid][1] - sender.sent_at[cid]
            assert answered_in < 1.0, f"the next valid message was answered after {answered_in:.2f} s"
            await sim.rt.get(Beskedfordeler).wait_distributed()
            [(_, props, _)] = await asyncio.to_thread(basic_get_all, vhost_url, PULL_DUESLAG, 1)
            assert props.message_id == besked_id(good)  # only the good one was stored and distributed
            health = (await sim.client.get("/healthz")).json()
            assert health["writer"]["ok"] is True and health["writer"]["last_error"] is None
        finally:
            t0 = time.monotonic()
            await cm.__aexit__(None, None, None)
            stopped_in = time.monotonic() - t0
    finally:
        await asyncio.to_thread(sender.close)
    assert stopped_in < STOP_BOUND_S, f"stopping took {stopped_in:.1f} s"
    print(f"[{backend}] next valid message answered in {answered_in * 1000:.0f} ms; stopped in {stopped_in:.2f} s")


async def test_one_latin1_message_among_200_good_ones_is_refused_alone(
    backend, sim_factory, messages_dir, vhost_url, clean
):
    pull_subscription(messages_dir, keep_ky=False)
    goods = [statusskift() for _ in range(200)]
    bad = latin1_message()
    assert "æ".encode("iso-8859-1") in bad
    async with sim_factory(backend, broker_url=vhost_url) as sim:
        bad_cid, cids, sender = await asyncio.to_thread(publish_among, vhost_url, goods, bad, 100)
        code, text = sender.answer(bad_cid)
        assert code == 40 and text.startswith("UGYLDIG_XML: ") and "ISO-8859-1" in text, text
        assert [sender.answer(c)[0] for c in cids] == [20] * 200
        await sim.rt.get(Beskedfordeler).wait_distributed()
        got = await asyncio.to_thread(basic_get_all, vhost_url, PULL_DUESLAG, 200)
        assert sorted(p.message_id for _, p, _ in got) == sorted(besked_id(b) for b in goods)


async def test_reply_to_a_dueslag_leaves_that_dueslag_untouched(backend, sim_factory, messages_dir, vhost_url, clean):
    pull_subscription(messages_dir, keep_ky=False)
    aimed, good = statusskift(), statusskift()
    async with sim_factory(backend, broker_url=vhost_url) as sim:

        def client_side() -> tuple[str, Sender]:
            sender = Sender(vhost_url)
            cid = sender.publish(aimed, reply_to=PULL_DUESLAG)  # a dueslag's queue name
            sender.wait([sender.publish(good)])
            sender.close()
            return cid, sender

        aimed_cid, sender = await asyncio.to_thread(client_side)
        assert [statuskode(body) for body, _ in sender.replies.values()] == [(20, None)]
        deadline = time.monotonic() + 10
        while True:  # the refusal is recorded once the message was handled
            await sim.rt.recorder.flush()
            found = (await sim.client.get("/api/exchanges", params={"correlation_id": aimed_cid})).json()["items"]
            if found:
                break
            assert time.monotonic() < deadline, "the refused message was never recorded"
            await asyncio.sleep(0.05)
        assert found[0]["fault_code"] == "UGYLDIG_REPLY_TO" and found[0]["decision"] == "refused"
        await sim.rt.get(Beskedfordeler).wait_distributed()
        got = await asyncio.to_thread(basic_get_all, vhost_url, PULL_DUESLAG, 1)
        assert [p.message_id for _, p, _ in got] == [besked_id(good)]  # no reply in it, nor the message


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_row_the_database_refuses_is_refused_alone(backend, sim_factory, messages_dir, vhost_url, clean):
    """PostgreSQL refuses a TransaktionsId longer than its column (SQLite stores it): that message gets 40,
    the others of its batch 20."""
    pull_subscription(messages_dir, keep_ky=False)
    goods = [statusskift() for _ in range(50)]
    long_id = "urn:oio:test:" + "x" * 300
    bad = re.sub(
        rb"<besked:TransaktionsId><UUIDIdentifikator>[^<]*</UUIDIdentifikator>",
        b"<besked:TransaktionsId><URNIdentifikator>" + long_id.encode() + b"</URNIdentifikator>",
        statusskift(),
    )
    assert long_id.encode() in bad
    async with sim_factory(backend, broker_url=vhost_url):
        bad_cid, cids, sender = await asyncio.to_thread(publish_among, vhost_url, goods, bad, 25)
        code, text = sender.answer(bad_cid)
        assert code == 40 and "cannot be stored" in text, text
        assert [sender.answer(c)[0] for c in cids] == [20] * 50


async def test_lone_surrogates_and_other_encodings_are_refused_40_before_anything_is_stored(backend, sim_factory):
    """Over HTTP too: a lone surrogate (as UTF-8 bytes, or as a character reference), a UTF-16 message with
    BOM, invalid UTF-8 and an encoding declaration other than UTF-8 — each 40 UGYLDIG_XML, nothing stored."""
    base = statusskift()
    bodies = {
        "surrogate bytes": base.replace(b"<besked:BeskedVersion>1.0", b"<besked:BeskedVersion>1.\xed\xa0\x800", 1),
        "surrogate reference": base.replace(b"<besked:BeskedVersion>1.0", b"<besked:BeskedVersion>&#xD800;", 1),
        "UTF-16 with BOM": utf16_message().decode("utf-16-le").encode("utf-16"),
        "invalid UTF-8": base.replace(b"<besked:BeskedVersion>1.0", b"<besked:BeskedVersion>\xe6\xf8\xe5", 1),
        "declared windows-1252": base.replace(b"encoding='utf-8'", b"encoding='windows-1252'", 1),
    }
    assert b"encoding='windows-1252'" in bodies["declared windows-1252"]
    async with sim_factory(backend) as sim:
        for what, body in bodies.items():
            r = await sim.client.post("/beskedfordeler/afsend", content=body)
            code, text = statuskode(r.content)
            assert code == 40 and text.startswith("UGYLDIG_XML: "), (what, text)
        assert (await sim.client.get("/api/beskedfordeler/beskeder")).json() == []
        r = await sim.client.post("/beskedfordeler/afsend", content=base)
        assert statuskode(r.content) == (20, None)
