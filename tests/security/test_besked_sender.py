"""Beskedfordeler under a security model (issue 18, findings 1, 4 and 5): the token's or the client
certificate's system is the sender, whatever a header says (HTTP and AMQP); a token must come with proof of
possession of its key; pulling from and acknowledging in a dueslag is for its receiving system or the admin."""

from __future__ import annotations

import asyncio
import ssl
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from simulator.app import create_app
from simulator.security import sign_for_besked
from simulator.security.auth import DEFAULT_BESKEDFORDELER_ENTITY_ID
from simulator.security.pki import Pki, b64_der, init_pki
from simulator.security.tls import uvicorn_tls_options
from simulator.security.wss import PUBLIC_KEY, SAML20_TOKEN
from simulator.serviceplatform import read_route_files
from tests.beskedfordeler.conftest import (
    PRISME_UUID,
    PULL_DUESLAG,
    besked_id,
    pull_subscription,
    statuskode,
    statusskift,
)
from tests.beskedfordeler.test_rabbitmq import KombitSampleClient, clean, vhost_url  # noqa: F401 - fixtures
from tests.conftest import LiveServer, free_port, make_settings

REST_ISSUE = "/runtime/api/rest/wstrust/v1/issue"
BF_COMPONENTS = ["ky", "beskedfordeler", "security"]
OPUS_CVR = "11111111"


def rst(cert_pem: bytes, cvr: str) -> dict:
    from cryptography import x509

    return {
        "TokenType": SAML20_TOKEN,
        "RequestType": "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue",
        "KeyType": PUBLIC_KEY,
        "AnvenderKontekst": {"Cvr": cvr},
        "UseKey": b64_der(x509.load_pem_x509_certificate(cert_pem)),
        "AppliesTo": {"EndpointReference": {"Address": DEFAULT_BESKEDFORDELER_ENTITY_ID}},
    }


class Systems:
    """The demo systems' test certificates and keys (`simulator certs init` wrote them at start)."""

    def __init__(self, certs_dir: Path) -> None:
        self.pki = Pki(certs_dir)

    def key(self, system: str):
        return serialization.load_pem_private_key(self.pki.system_key(system).read_bytes(), password=None)

    def cert_pem(self, system: str) -> bytes:
        return self.pki.system_cert(system).read_bytes()

    def pair(self, system: str) -> tuple[str, str]:
        return str(self.pki.system_cert(system)), str(self.pki.system_key(system))


async def token_of(sim, system: str, cvr: str = OPUS_CVR) -> str:
    """A Beskedfordeler token from the mock STS (REST issue) for `system`'s certificate."""
    r = await sim.client.post(REST_ISSUE, json=rst(Systems(sim.settings.certs_dir).cert_pem(system), cvr))
    assert r.status_code == 200, r.text
    return r.json()["RequestedSecurityToken"]["Assertion"]


def proof(sim, system: str, token: str, signed: bytes) -> dict[str, str]:
    """The headers of a request made as `system`: its token and a signature with its key."""
    return {"token": token, "token-signature": sign_for_besked(signed, Systems(sim.settings.certs_dir).key(system))}


async def send(sim, body: bytes, headers: dict[str, str]) -> tuple[int, str | None]:
    r = await sim.client.post("/beskedfordeler/afsend", content=body, headers=headers)
    assert r.status_code == 200, r.text
    return statuskode(r.content)


async def sent_by(sim, body: bytes) -> str:
    r = await sim.client.get(f"/api/beskedfordeler/beskeder/{besked_id(body)}")
    assert r.status_code == 200, r.text
    return r.json()["system"]


@pytest.fixture
def bf_sim(sim_factory, tmp_path, messages_dir):
    pull_subscription(messages_dir)

    def factory(**overrides):
        values = dict(components=BF_COMPONENTS, security_mode="token", certs_dir=tmp_path / "certs") | overrides
        return sim_factory(**values)

    return factory


# -- finding 1: the token names the sender -----------------------------------------------------------------


async def test_a_header_naming_another_system_than_the_token_is_refused_over_http(bf_sim):
    async with bf_sim() as sim:
        token = await token_of(sim, "opus")
        body = statusskift()
        status, text = await send(sim, body, proof(sim, "opus", token, body) | {"x-simulator-system": "prisme"})
        assert (status, text.split(":")[0]) == (43, "FORKERT_AFSENDER") and "opus" in text and "prisme" in text
        status, text = await send(sim, body, proof(sim, "opus", token, body) | {"x-simulator-system": PRISME_UUID})
        assert status == 43 and text.startswith("FORKERT_AFSENDER: ")
        status, text = await send(sim, body, proof(sim, "opus", token, body) | {"x-simulator-municipality": "2" * 8})
        assert status == 43 and text.startswith("FORKERT_MYNDIGHED: ")
        assert (await sim.client.get(f"/api/beskedfordeler/beskeder/{besked_id(body)}")).status_code == 404

        # the same message with the token alone (or a header naming the token's own system) is opus's
        assert await send(sim, body, proof(sim, "opus", token, body) | {"x-simulator-system": "opus"}) == (20, None)
        assert await sent_by(sim, body) == "opus"
        codes = (await sim.client.get("/api/beskedfordeler/returkoder")).json()
        assert {"code": "FORKERT_AFSENDER", "statuskode": 43} in [
            {k: c[k] for k in ("code", "statuskode")} for c in codes
        ]


async def test_a_header_naming_another_system_than_the_token_is_refused_over_amqp(bf_sim, vhost_url, clean):  # noqa: F811
    async with bf_sim(broker_url=vhost_url) as sim:
        token = await token_of(sim, "opus")
        forged, honest = statusskift(), statusskift()

        def client_side() -> dict[str, bytes]:
            client = KombitSampleClient(vhost_url)
            ids = [
                client.publish(
                    forged, "forged", **proof(sim, "opus", token, forged), **{"x-simulator-system": "prisme"}
                ),
                client.publish(honest, "honest", **proof(sim, "opus", token, honest)),
            ]
            client.wait(ids)
            client.close()
            return client.replies

        replies = await asyncio.to_thread(client_side)
        status, text = statuskode(replies["forged"])
        assert status == 43 and text.startswith("FORKERT_AFSENDER: ")
        assert statuskode(replies["honest"]) == (20, None)
        assert await sent_by(sim, honest) == "opus"


# -- finding 4: a token proves nothing without its key --------------------------------------------------------


async def test_a_token_without_proof_of_its_key_is_refused(bf_sim):
    async with bf_sim() as sim:
        token = await token_of(sim, "opus")  # anyone can get one: the REST STS over plain HTTP trusts UseKey
        body = statusskift()
        status, text = await send(sim, body, {"token": token})
        assert (status, text.split(":")[0]) == (49, "SP-179") and "token-signature" in text
        forged = proof(sim, "prisme", token, body)  # signed, but with another system's key
        assert (await send(sim, body, forged))[1].startswith("SP-179: ")
        other = proof(sim, "opus", token, statusskift())  # opus's signature of another message
        assert (await send(sim, body, other))[1].startswith("SP-179: ")
        garbage = {"token": token, "token-signature": "not base64!"}
        assert (await send(sim, body, garbage))[1].startswith("SP-179: ")
        assert await send(sim, body, proof(sim, "opus", token, body)) == (20, None)


async def test_the_proof_can_be_switched_off_and_then_the_token_alone_names_the_sender(bf_sim):
    async with bf_sim(security_besked_proof=False) as sim:
        body = statusskift()
        assert await send(sim, body, {"token": await token_of(sim, "opus")}) == (20, None)
        assert await sent_by(sim, body) == "opus"
        assert (await sim.client.get("/healthz")).json()["security"]["besked_proof"] is False  # laxer: shown


# -- finding 5: pulls are for the receiving system --------------------------------------------------------------


async def test_token_model_pull_and_kvitter_need_the_receivers_token_or_the_admin_token(bf_sim):
    async with bf_sim(admin_token="s3cret") as sim:
        opus = await token_of(sim, "opus")
        body = statusskift()
        assert await send(sim, body, proof(sim, "opus", opus, body)) == (20, None)
        hent = f"/beskedfordeler/dueslag/{PULL_DUESLAG}/hent"
        kvitter = f"/beskedfordeler/dueslag/{PULL_DUESLAG}/kvitter"

        nobody = await sim.client.post(hent, params={"antal": 10})
        assert nobody.status_code == 401 and "SP-173" in nobody.json()["detail"]
        sender = await sim.client.post(
            hent, params={"antal": 10}, headers=proof(sim, "opus", opus, b"POST " + hent.encode() + b"?antal=10\n")
        )
        assert sender.status_code == 403 and "'ky'" in sender.json()["detail"]  # the dueslag is KY's

        ky = await token_of(sim, "ky")
        unsigned = await sim.client.post(hent, params={"antal": 10}, headers={"token": ky})
        assert unsigned.status_code == 401 and "SP-179" in unsigned.json()["detail"]
        as_ky = proof(sim, "ky", ky, f"POST {hent}?antal=10\n".encode())
        for _ in range(500):  # the relay puts the copy in the dueslag just after the 20
            r = await sim.client.post(hent, params={"antal": 10}, headers=as_ky)
            assert r.status_code == 200, r.text
            if got := r.json()["beskeder"]:
                break
            await asyncio.sleep(0.01)
        assert got[0]["besked_id"] == besked_id(body)

        ack = {"kvitteringer": [got[0]["kvittering"]]}
        assert (await sim.client.post(kvitter, json=ack)).status_code == 401
        assert (await sim.client.post(kvitter, json=ack, headers={"authorization": "Bearer wrong"})).status_code == 401
        admin = await sim.client.post(kvitter, json=ack, headers={"authorization": "Bearer s3cret"})
        assert admin.status_code == 200 and admin.json()["done"] == ack["kvitteringer"]


# -- certificate model over TLS -----------------------------------------------------------------------------------


@contextmanager
def tls_bf(tmp_path, routes_dir, messages_dir, **overrides):
    """The simulator with the demo routes over HTTPS (client certificates optional), and the demo PKI."""
    certs = tmp_path / "tls-certs"
    pki, _ = init_pki(certs, read_route_files(routes_dir).systems)
    port = free_port()
    settings = make_settings(
        tmp_path,
        routes_dir,
        messages_dir,
        port=port,
        components=BF_COMPONENTS,
        certs_dir=certs,
        tls_certfile=pki.server_cert,
        tls_keyfile=pki.server_key,
        **overrides,
    )
    with LiveServer(create_app(settings), port=port, **uvicorn_tls_options(settings)) as live:
        yield live, Systems(certs), str(pki.ca_cert)


def https(ca: str, cert: tuple[str, str] | None = None) -> httpx.Client:
    context = ssl.create_default_context(cafile=ca)
    if cert:
        context.load_cert_chain(*cert)
    return httpx.Client(verify=context, trust_env=False, headers={"connection": "close"})


def test_certificate_model_afsend_and_pull_need_a_client_certificate_of_the_right_system(
    tmp_path, routes_dir, messages_dir
):
    pull_subscription(messages_dir)
    with tls_bf(tmp_path, routes_dir, messages_dir, security_mode="certificate") as (live, systems, ca):
        url = f"{live.url}/beskedfordeler/afsend"
        body = statusskift()
        with https(ca) as anonymous:
            status, text = statuskode(anonymous.post(url, content=body, headers={"x-simulator-system": "opus"}).content)
            assert status == 49 and text.startswith("SP-170: ")
            pull = anonymous.post(f"{live.url}/beskedfordeler/dueslag/{PULL_DUESLAG}/hent")
            assert pull.status_code == 401 and "SP-170" in pull.json()["detail"]
        with https(ca, systems.pair("opus")) as opus:
            status, text = statuskode(opus.post(url, content=body, headers={"x-simulator-system": "prisme"}).content)
            assert status == 43 and text.startswith("FORKERT_AFSENDER: ")
            assert statuskode(opus.post(url, content=body).content) == (20, None)
            assert opus.post(f"{live.url}/beskedfordeler/dueslag/{PULL_DUESLAG}/hent").status_code == 403
        with https(ca, systems.pair("ky")) as ky:
            assert ky.post(f"{live.url}/beskedfordeler/dueslag/{PULL_DUESLAG}/hent").status_code == 200


def test_token_model_over_tls_the_client_certificate_is_the_proof(tmp_path, routes_dir, messages_dir):
    with tls_bf(tmp_path, routes_dir, messages_dir, security_mode="token") as (live, systems, ca):
        with https(ca, systems.pair("opus")) as opus:
            r = opus.post(f"{live.url}{REST_ISSUE}", json=rst(systems.cert_pem("opus"), OPUS_CVR))
            assert r.status_code == 200, r.text
            token = r.json()["RequestedSecurityToken"]["Assertion"]
            body = statusskift()
            # no token-signature needed: the TLS handshake proved the key
            assert statuskode(
                opus.post(f"{live.url}/beskedfordeler/afsend", content=body, headers={"token": token}).content
            ) == (20, None)
        with https(ca, systems.pair("prisme")) as prisme:  # opus's token over prisme's connection
            status, text = statuskode(
                prisme.post(
                    f"{live.url}/beskedfordeler/afsend", content=statusskift(), headers={"token": token}
                ).content
            )
            assert status == 49 and text.startswith("SP-179: ")
