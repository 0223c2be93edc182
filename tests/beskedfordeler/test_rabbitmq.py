"""The RabbitMQ adapter against the real local RabbitMQ, with a pika client doing exactly what KOMBIT's
sample client does: publish to AFSEND_BESKED_EXCHANGE (routing key "", mandatory, publisher confirms,
reply_to=amq.rabbitmq.reply-to, correlation and message ids, a `token` header), read the StandardRetur
reply, and basic_get the distributed copy from the dueslag queue (named by its UUID)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pika
from pika.exceptions import AMQPError

from simulator.beskedfordeler import Beskedfordeler
from simulator.beskedfordeler import kuvert as kv
from simulator.beskedfordeler.broker import AFSEND_EXCHANGE, error_queue
from tests.beskedfordeler import conftest as _conftest
from tests.beskedfordeler.conftest import (
    PULL_ABONNEMENT,
    PULL_DUESLAG,
    _ctl,
    assert_valid,
    basic_get_all,
    besked_id,
    pull_subscription,
    statuskode,
    statusskift,
)

clean, vhost_url = _conftest.clean, _conftest.vhost_url  # fixtures other suites import from here


class KombitSampleClient:
    """Publishes like KOMBIT's sample (confirms, mandatory, direct reply-to) and collects the replies."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.replies: dict[str, bytes] = {}
        self.returned: list = []
        self.connect()

    def connect(self) -> None:
        self.conn = pika.BlockingConnection(pika.URLParameters(self.url))
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()
        self.ch.basic_consume("amq.rabbitmq.reply-to", self._on_reply, auto_ack=True)
        self.ch.add_on_return_callback(lambda *a: self.returned.append(a))

    def _on_reply(self, _ch, _method, props, body) -> None:
        self.replies[props.correlation_id] = body

    def publish(self, body: bytes, correlation_id: str | None = None, **headers: str) -> str:
        correlation_id = correlation_id or str(uuid.uuid4())
        self.ch.basic_publish(
            exchange=AFSEND_EXCHANGE,
            routing_key="",
            body=body,
            mandatory=True,
            properties=pika.BasicProperties(
                reply_to="amq.rabbitmq.reply-to",
                correlation_id=correlation_id,
                message_id=str(uuid.uuid4()),
                content_type="application/xml",
                headers={"token": "<saml:Assertion/>", **headers},
            ),
        )
        return correlation_id

    def wait(self, correlation_ids, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(c in self.replies for c in correlation_ids):
            assert time.monotonic() < deadline, f"{sum(c in self.replies for c in correlation_ids)} replies"
            self.conn.process_data_events(time_limit=0.05)

    def close(self) -> None:
        try:
            self.conn.close()
        except AMQPError:
            pass


async def test_kombit_sample_flow_publish_reply_20_and_basic_get_the_copy(
    sim_factory, messages_dir, vhost_url, clean, kuvert_xsd, sagdok_xsd
):
    pull_subscription(messages_dir)
    async with sim_factory(broker_url=vhost_url) as sim:
        health = (await sim.client.get("/healthz")).json()
        assert health["broker"]["kind"] == "rabbitmq" and health["broker"]["ok"] is True
        assert health["broker"]["vhost"] == vhost_url.rsplit("/", 1)[1]
        body = statusskift()

        def client_side():
            client = KombitSampleClient(vhost_url)
            cid = client.publish(body)
            client.wait([cid])
            client.close()
            return cid, client.replies[cid], client.returned, basic_get_all(vhost_url, PULL_DUESLAG, 1)

        cid, reply, returned, got = await asyncio.to_thread(client_side)
        assert returned == []  # the exchange routed it (mandatory)
        assert_valid(sagdok_xsd, reply)
        assert statuskode(reply) == (20, None)
        [(method, props, copy)] = got
        assert props.message_id == besked_id(body)
        root = assert_valid(kuvert_xsd, copy)
        assert kv.unikid(root.find(f".//{kv.k('ErLeveretIHenholdTil')}")) == PULL_ABONNEMENT


async def test_refusal_over_amqp_has_the_same_correlation_id_and_a_clear_code(sim_factory, vhost_url, clean):
    async with sim_factory(broker_url=vhost_url) as sim:
        body = statusskift(municipality="22222222")  # opus has no agreement for 22222222

        def client_side():
            client = KombitSampleClient(vhost_url)
            cid = client.publish(body, correlation_id="corr-1")
            client.wait([cid])
            client.close()
            return client.replies

        replies = await asyncio.to_thread(client_side)
        code, text = statuskode(replies["corr-1"])
        assert code == 43 and text.startswith("INGEN_AFTALE: ")
        await sim.rt.recorder.flush()
        ex = (await sim.client.get("/api/exchanges", params={"correlation_id": "corr-1"})).json()["items"]
        assert ex[0]["origin"] == "amqp" and ex[0]["fault_code"] == "INGEN_AFTALE"


async def test_unacked_message_returns_and_nack_goes_to_the_error_queue(sim_factory, messages_dir, vhost_url, clean):
    pull_subscription(messages_dir)
    async with sim_factory(broker_url=vhost_url) as sim:
        body = statusskift()

        def client_side():
            client = KombitSampleClient(vhost_url)
            client.wait([client.publish(body)])
            client.close()
            # take it without acking and go away: it must come back
            [(m, _, _)] = basic_get_all(vhost_url, PULL_DUESLAG, 1, ack=False)
            [(again, props, _)] = basic_get_all(vhost_url, PULL_DUESLAG, 1, ack=False)
            assert again.redelivered and props.message_id == besked_id(body)
            conn = pika.BlockingConnection(pika.URLParameters(vhost_url))
            ch = conn.channel()
            method, _, _ = ch.basic_get(PULL_DUESLAG, auto_ack=False)
            ch.basic_nack(method.delivery_tag, requeue=False)  # unparseable to us: dead-letter it
            conn.close()
            return basic_get_all(vhost_url, error_queue(PULL_DUESLAG), 1, ack=False)

        [(_, props, _)] = await asyncio.to_thread(client_side)
        assert props.message_id == besked_id(body)
        r = await sim.client.post(f"/api/beskedfordeler/dueslag/{PULL_DUESLAG}/fejlkoe/gensend", json={})
        assert r.json()["moved"] == [besked_id(body)]
        [(_, props, _)] = await asyncio.to_thread(basic_get_all, vhost_url, PULL_DUESLAG, 1)
        assert props.message_id == besked_id(body)


async def test_ky_push_consumer_on_rabbitmq_records_the_message(sim_factory, vhost_url, clean):
    async with sim_factory(broker_url=vhost_url) as sim:
        body = statusskift(status="aktiv")

        def client_side():
            client = KombitSampleClient(vhost_url)
            client.wait([client.publish(body)])
            client.close()
            return client.replies

        replies = await asyncio.to_thread(client_side)
        assert statuskode(next(iter(replies.values()))) == (20, None)
        deadline = time.monotonic() + 10
        while not (got := (await sim.client.get("/api/beskedfordeler/ky/modtaget")).json()):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert got[0]["besked_id"] == besked_id(body) and got[0]["data"]["status"] == "aktiv"


def _wait_for_rabbitmq(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            pika.BlockingConnection(pika.URLParameters(url)).close()
            return
        except AMQPError:
            assert time.monotonic() < deadline, "RabbitMQ did not come back"
            time.sleep(0.2)


async def test_rabbitmq_restart_mid_stream_loses_nothing_and_duplicates_nothing(
    sim_factory, messages_dir, vhost_url, clean
):
    pull_subscription(messages_dir)
    n = 300
    bodies = [statusskift() for _ in range(n)]
    async with sim_factory(broker_url=vhost_url) as sim:

        def client_side() -> dict[str, int]:
            """Send everything; when the broker goes away, reconnect and resend what got no answer
            (the same message, so the same BeskedId: a repeat is answered 20 and distributed once)."""
            answers: dict[str, int] = {}
            restarted = threading.Event()
            pending = {besked_id(b): b for b in bodies}
            client = KombitSampleClient(vhost_url)
            deadline = time.monotonic() + 120
            while pending:
                assert time.monotonic() < deadline, f"{len(pending)} messages never answered"
                try:
                    for bid, body in list(pending.items())[:50]:
                        client.publish(body, correlation_id=bid)
                        if len(answers) >= n // 3 and not restarted.is_set():
                            restarted.set()
                            _ctl("stop_app")
                            _ctl("start_app")
                    client.wait([bid for bid in list(pending)[:50]], timeout=10)
                except (AMQPError, AssertionError, OSError):
                    client.close()
                    _wait_for_rabbitmq(vhost_url)
                    client = KombitSampleClient(vhost_url)
                for cid, reply in list(client.replies.items()):
                    answers[cid] = statuskode(reply)[0]
                    pending.pop(cid, None)
            client.close()
            assert restarted.is_set()
            return answers

        answers = await asyncio.to_thread(client_side)
        assert len(answers) == n and set(answers.values()) == {20}
        await sim.rt.get(Beskedfordeler).wait_distributed(timeout=60)
        got = await asyncio.to_thread(basic_get_all, vhost_url, PULL_DUESLAG, n, 60.0)
        ids = [props.message_id for _, props, _ in got]
        assert len(ids) == len(set(ids)) == n  # every accepted message exactly once
        assert set(ids) == set(answers)
        assert sim.rt.get(Beskedfordeler).broker.reconnects >= 1  # the simulator lived through the restart


async def test_a_crash_between_publish_and_bookkeeping_does_not_duplicate(sim_factory, messages_dir, vhost_url, clean):
    """If the simulator dies after RabbitMQ confirmed a copy but before it marked the copy as queued, the
    restarted simulator finds the copy on the dueslag and does not publish it again (nor keeps a double)."""
    from sqlalchemy import update

    from simulator.beskedfordeler.models import BfLevering
    from simulator.store import Database

    pull_subscription(messages_dir)
    body, other = statusskift(), statusskift()
    async with sim_factory(broker_url=vhost_url) as sim:
        for b in (body, other):
            r = await sim.client.post("/beskedfordeler/afsend", content=b)
            assert statuskode(r.content)[0] == 20
        await sim.rt.get(Beskedfordeler).wait_distributed()
        database_url = sim.settings.database_url
    db = Database(database_url)
    async with db.session() as s, s.begin():  # as if the crash hit before the bookkeeping
        await s.execute(update(BfLevering).values(state="pending"))
    await db.close()

    def unconfirmed_publish_that_landed() -> None:  # a second copy of `other`
        conn = pika.BlockingConnection(pika.URLParameters(vhost_url))
        conn.channel().basic_publish(
            "", PULL_DUESLAG, b"<copy/>", pika.BasicProperties(message_id=besked_id(other), delivery_mode=2)
        )
        conn.close()

    await asyncio.to_thread(unconfirmed_publish_that_landed)
    async with sim_factory(broker_url=vhost_url) as sim:
        await sim.rt.get(Beskedfordeler).wait_distributed()
        got = await asyncio.to_thread(basic_get_all, vhost_url, PULL_DUESLAG, 2)
        assert sorted(p.message_id for _, p, _ in got) == sorted([besked_id(body), besked_id(other)])


async def test_admin_status_of_a_message_pulled_over_amqp_follows_ack_and_error_queue(
    backend, sim_factory, messages_dir, vhost_url, clean
):
    """A receiver pulling with its own AMQP client acks (or dead-letters) on the broker: the admin API shows
    the copy as no longer queued once it was taken, and in the error queue once it was nacked there."""
    pull_subscription(messages_dir, keep_ky=False)
    acked, nacked, waiting = statusskift(), statusskift(), statusskift()
    async with sim_factory(backend, broker_url=vhost_url) as sim:
        for body in (acked, nacked, waiting):
            r = await sim.client.post("/beskedfordeler/afsend", content=body)
            assert statuskode(r.content) == (20, None)
        await sim.rt.get(Beskedfordeler).wait_distributed()

        def receiver() -> None:
            """Ack one copy and dead-letter another, whatever order the dueslag holds them in (the
            Beskedfordeler promises no order); the third is put back untouched."""
            conn = pika.BlockingConnection(pika.URLParameters(vhost_url))
            ch = conn.channel()
            wanted = {besked_id(acked): True, besked_id(nacked): False}
            held = []
            while wanted:
                method, props, _ = ch.basic_get(PULL_DUESLAG, auto_ack=False)
                assert method is not None, f"the dueslag ran empty before {sorted(wanted)}"
                ack = wanted.pop(props.message_id, None)
                if ack is None:  # the waiting one: held unacked until the two are done, then put back
                    held.append(method.delivery_tag)
                elif ack:
                    ch.basic_ack(method.delivery_tag)
                else:
                    ch.basic_nack(method.delivery_tag, requeue=False)  # dead-lettered into the error queue
            for tag in held:
                ch.basic_nack(tag, requeue=True)
            conn.close()

        await asyncio.to_thread(receiver)

        async def state(body: bytes) -> str:
            detail = (await sim.client.get(f"/api/beskedfordeler/beskeder/{besked_id(body)}")).json()
            [lev] = detail["leveringer"]
            return lev["state"]

        assert await state(acked) == "udleveret"
        assert await state(waiting) == "queued"
        deadline = time.monotonic() + 10
        while (s := await state(nacked)) != "fejlkoe":  # dead-lettering is asynchronous in RabbitMQ
            assert time.monotonic() < deadline, s
            await asyncio.sleep(0.05)
        listed = (await sim.client.get(f"/api/beskedfordeler/dueslag/{PULL_DUESLAG}/leveringer")).json()
        assert {x["besked_id"]: x["state"] for x in listed} == {
            besked_id(acked): "udleveret",
            besked_id(nacked): "fejlkoe",
            besked_id(waiting): "queued",
        }
        # looking did not take anything: the waiting one is still there for the receiver
        [(_, props, _)] = await asyncio.to_thread(basic_get_all, vhost_url, PULL_DUESLAG, 1)
        assert props.message_id == besked_id(waiting)
