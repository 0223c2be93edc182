"""Beskedfordeler test helpers: the official schemas (the public contracts, read, never copied), subscription files,
debtor messages, and a push receiver on a real port."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pika
import pytest
import yaml
from fastapi import FastAPI, Request, Response
from lxml import etree

from simulator.beskedfordeler import kuvert as kv
from simulator.beskedfordeler.broker import AFSEND_QUEUE, error_queue
from simulator.beskedfordeler.config import read_messages_config
from simulator.beskedfordeler.ky import fordring_til_indbetaling_besked, statusskift_besked
from tests.conftest import (
    DEMO_MESSAGES,
    RABBITMQ_URL,
    LiveServer,
    kombit_artefact,
    kombit_contracts_dir,
    missing_contracts_reason,
    need_service,
)

BF_XSD = "kombit-bfo_infrastructureSamples-java/bf-client-example-app/src/main/resources/beskedfordeler/xsd"
KY_DUESLAG = "8ad2b4b0-d0d7-45e0-8a3b-30710fc70e3d"
KY_ABONNEMENT = "717a165f-adef-4963-b1bb-cd417cddc08d"
STATUSSKIFT = "1a4419ff-47d1-4dc8-a900-4c747888edad"
FORDRING = "25672fd7-e239-4bf3-8f8d-f15023857e0c"
OPUS_UUID = "706e258a-41f3-4a3b-a407-216db3ead494"
PRISME_UUID = "b3072ce4-bcfc-45d2-a6a1-7e949918ad47"
PULL_DUESLAG = "0b6d7a52-5f0e-4a8e-9d67-2d6c0f2c9a01"
PULL_ABONNEMENT = "0b6d7a52-5f0e-4a8e-9d67-2d6c0f2c9a02"
CFG = read_messages_config(DEMO_MESSAGES)


def _schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(kombit_artefact(f"{BF_XSD}/{name}"))))


@pytest.fixture(scope="session")
def kuvert_xsd() -> etree.XMLSchema:
    """The official Beskedkuvert.xsd (Haendelsesbesked)."""
    return _schema("Beskedkuvert.xsd")


@pytest.fixture(scope="session")
def anvender_xsd() -> etree.XMLSchema:
    """The official AnvendersystemOperationer.xsd (push ModtagBeskedInput/Output)."""
    return _schema("AnvendersystemOperationer.xsd")


@pytest.fixture(scope="session")
def sagdok_xsd() -> etree.XMLSchema:
    """SagDokObjekt.xsd (StandardRetur)."""
    return _schema("1.1/SagDokObjekt.xsd")


def assert_valid(schema: etree.XMLSchema, xml: bytes | etree._Element) -> etree._Element:
    root = etree.fromstring(xml) if isinstance(xml, bytes) else xml
    assert schema.validate(etree.ElementTree(root)), str(schema.error_log)
    return root


def sample_haendelsesbeskeder() -> list:
    """Every Haendelsesbesked in the public contracts (standalone, or inside a ModtagBeskedInput), as
    parameters; one skipped parameter naming the setting when the contracts folder is absent."""
    contracts = kombit_contracts_dir()
    if not contracts.is_dir():
        return [pytest.param("no-contracts", b"", marks=pytest.mark.skip(reason=missing_contracts_reason()))]
    found = []
    for path in sorted(contracts.rglob("*.xml")):
        try:
            root = etree.parse(str(path)).getroot()
        except etree.XMLSyntaxError:
            continue
        for hb in root.iter(kv.k("Haendelsesbesked")):
            found.append((str(path.relative_to(contracts)), etree.tostring(hb, encoding="utf-8")))
    return found


def write_subscriptions(
    messages_dir: Path, dueslag: list[dict], abonnementer: list[dict], *, keep_ky: bool = True
) -> None:
    """Replace messages/abonnementer.yaml (optionally keeping the demo KY subscription)."""
    path = messages_dir / "abonnementer.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) if keep_ky else {"dueslag": [], "abonnementer": []}
    doc["dueslag"] = list(doc.get("dueslag") or []) + dueslag
    doc["abonnementer"] = list(doc.get("abonnementer") or []) + abonnementer
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


def pull_subscription(
    messages_dir: Path,
    *,
    system: str = "ky",
    filtre: dict | None = None,
    dueslag: str = PULL_DUESLAG,
    abonnement: str = PULL_ABONNEMENT,
    keep_ky: bool = True,
    beskedtyper: list[str] | None = None,
) -> None:
    write_subscriptions(
        messages_dir,
        [{"uuid": dueslag, "system": system, "levering": "pull", "navn": "test pull"}],
        [
            {
                "uuid": abonnement,
                "dueslag": dueslag,
                "beskedtyper": beskedtyper or [STATUSSKIFT, FORDRING],
                **({"filtre": filtre} if filtre else {}),
            }
        ],
        keep_ky=keep_ky,
    )


def statusskift(municipality: str = "11111111", system_uuid: str = OPUS_UUID, **kw) -> bytes:
    kw.setdefault("debitorkonto_uuid", str(uuid.uuid4()))
    kw.setdefault("status", "overdraget")
    kw.setdefault("at", datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    return statusskift_besked(CFG, municipality=municipality, system_uuid=system_uuid, **kw)


def fordring(municipality: str = "11111111", system_uuid: str = OPUS_UUID, **kw) -> bytes:
    kw.setdefault("fordring_uuid", str(uuid.uuid4()))
    kw.setdefault("authorities", [municipality])
    kw.setdefault("period_from", date(2024, 6, 1))
    kw.setdefault("period_to", date(2024, 6, 30))
    return fordring_til_indbetaling_besked(CFG, municipality=municipality, system_uuid=system_uuid, **kw)


def besked_id(xml: bytes) -> str:
    return kv.unikid(etree.fromstring(xml).find(kv.k("BeskedId")))


def statuskode(xml: bytes) -> tuple[int, str | None]:
    root = etree.fromstring(xml)
    return int(root.findtext(kv.sd("StatusKode"))), root.findtext(kv.sd("FejlbeskedTekst"))


class PushReceiver:
    """A subscriber's push endpoint: answers with the StatusKode values queued in `answers` (then 20)."""

    def __init__(self) -> None:
        self.answers: list[int | str] = []
        self.received: list[bytes] = []
        app = FastAPI()

        @app.post("/modtag")
        async def modtag(request: Request) -> Response:
            body = await request.body()
            self.received.append(body)
            answer = self.answers.pop(0) if self.answers else 20
            if answer == "html":
                return Response("<html>down</html>", status_code=502, media_type="text/html")
            out = (
                f'<sts:ModtagBeskedOutput xmlns:sts="urn:oio:sts:1.0.0" xmlns="urn:oio:sagdok:3.0.0">'
                f"<StandardRetur><StatusKode>{answer}</StatusKode>"
                + ("" if answer == 20 else "<FejlbeskedTekst>kan ikke modtage nu</FejlbeskedTekst>")
                + "</StandardRetur></sts:ModtagBeskedOutput>"
            )
            return Response(out, media_type="application/xml")

        self.app = app


@pytest.fixture
def push_receiver() -> Iterator[tuple[PushReceiver, LiveServer]]:
    receiver = PushReceiver()
    with LiveServer(receiver.app) as server:
        yield receiver, server


# -- the real RabbitMQ ------------------------------------------------------------------------------------


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def vhost_url() -> Iterator[str]:
    """A private virtual host for this module (like KOMBIT's `BF`), so runs never see each other's queues."""
    need_service("RabbitMQ", 5672)
    name = f"BF-test-{uuid.uuid4().hex[:8]}"
    base = RABBITMQ_URL.rstrip("/")
    try:
        _ctl("add_vhost", name)
        _ctl("set_permissions", "-p", name, pika.URLParameters(RABBITMQ_URL).credentials.username, ".*", ".*", ".*")
    except (FileNotFoundError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot create a RabbitMQ vhost with rabbitmqctl: {e}")
    yield f"{base}/{name}"
    subprocess.run(["rabbitmqctl", "delete_vhost", name], capture_output=True, timeout=60)


@pytest.fixture
def clean(vhost_url):
    """Delete the queues a test uses, before it starts."""

    def run(*queues: str) -> None:
        conn = pika.BlockingConnection(pika.URLParameters(vhost_url))
        ch = conn.channel()
        for q in (AFSEND_QUEUE, *queues, *(error_queue(q) for q in queues)):
            ch.queue_delete(q)
        conn.close()

    run(PULL_DUESLAG, KY_DUESLAG)
    return run


def basic_get_all(url: str, queue: str, expect: int, timeout: float = 15.0, ack: bool = True) -> list[tuple]:
    """basic_get until `expect` messages came (and the queue is then empty), acking each."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    got = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            method, props, body = ch.basic_get(queue, auto_ack=False)
            if method is None:
                if len(got) >= expect:
                    return got
                assert time.monotonic() < deadline, f"{len(got)} of {expect} messages in {queue}"
                time.sleep(0.02)
                continue
            got.append((method, props, body))
            if ack:
                ch.basic_ack(method.delivery_tag)
    finally:
        conn.close()
