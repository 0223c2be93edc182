"""Certificate model: mutual TLS, and the client certificate must belong to the system in UserSystemUUID."""

from __future__ import annotations

import ssl

import httpx
import pytest
import requests
import zeep
from zeep.exceptions import Fault
from zeep.transports import Transport

from tests.security.conftest import PING_PATH, SPF, fault_code
from tests.serviceplatform.pingservice import (
    AGREEMENT,
    AGREEMENT_OTHER_SYSTEM,
    CALLER_UUID,
    CVR,
    SERVICE_UUID,
    envelope,
)

STRANGER_UUID = "99999999-2222-4333-8444-555555555555"


def context(agreement: str = AGREEMENT, system: str = CALLER_UUID) -> dict:
    return {
        "InvocationContext": {
            "ServiceAgreementUUID": agreement,
            "UserSystemUUID": system,
            "UserUUID": "00000000-0000-4000-8000-000000000007",
            "ServiceUUID": SERVICE_UUID,
        },
        "AuthorityContext": {"MunicipalityCVR": CVR},
    }


def zeep_client(live, test_pki, cert: tuple[str, str] | None) -> zeep.Client:
    session = requests.Session()
    session.headers["Connection"] = "close"  # no idle keep-alive connection delays the live server's stop
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override session.verify
    session.verify = str(test_pki.pki.ca_cert)  # the client trusts the simulator's server certificate
    if cert:
        session.cert = cert
    return zeep.Client(f"{live.url}{PING_PATH}?wsdl", transport=Transport(session=session))


def spf_code(fault: Fault) -> str:
    return fault.detail.find(f".//{{{SPF}}}ErrorCode").text


def test_zeep_with_the_systems_certificate_passes_and_others_are_refused(tls_live, test_pki):
    with tls_live(security_mode="certificate") as live:
        assert live.url.startswith("https://")
        ok = zeep_client(live, test_pki, test_pki.caller.pair).service.Ping(**context(), Tekst="hej")
        assert ok.Tekst == "hej" and ok.Fra == f"caller@{CVR}"

        # a certificate that belongs to another system than UserSystemUUID names
        with pytest.raises(Fault) as e:
            zeep_client(live, test_pki, test_pki.stranger.pair).service.Ping(**context(), Tekst="hej")
        assert spf_code(e.value) == "SP-172"
        assert "stranger" in e.value.message

        # the stranger's own certificate with its own system and agreement passes
        ok = zeep_client(live, test_pki, test_pki.stranger.pair).service.Ping(
            **context(AGREEMENT_OTHER_SYSTEM, STRANGER_UUID), Tekst="ja"
        )
        assert ok.Fra == f"stranger@{CVR}"

        # issued by the trusted CA, but to no system in systems.yaml
        with pytest.raises(Fault) as e:
            zeep_client(live, test_pki, test_pki.unknown.pair).service.Ping(**context(), Tekst="hej")
        assert spf_code(e.value) == "SP-171"

        # no client certificate at all
        with pytest.raises(Fault) as e:
            zeep_client(live, test_pki, None).service.Ping(**context(), Tekst="hej")
        assert spf_code(e.value) == "SP-170"


def test_certificate_named_in_systems_yaml_by_fingerprint_wins(tls_live, test_pki, tmp_path):
    """`certificate:` in systems.yaml (fingerprint) names the certificate; the PKI-issued one then no longer counts."""
    import shutil

    from simulator.security.pki import fingerprint

    routes = tmp_path / "routes-fp"
    shutil.copytree(test_pki.routes, routes)
    text = (routes / "systems.yaml").read_text()
    fp = fingerprint(test_pki.unknown.cert)
    text = text.replace("kind: debtor}", f"kind: debtor, certificate: '{fp}'}}", 1)  # the caller's line
    (routes / "systems.yaml").write_text(text)
    with tls_live(security_mode="certificate", routes_dir=routes) as live:
        ok = zeep_client(live, test_pki, test_pki.unknown.pair).service.Ping(**context(), Tekst="fp")
        assert ok.Fra == f"caller@{CVR}"
        with pytest.raises(Fault) as e:
            zeep_client(live, test_pki, test_pki.caller.pair).service.Ping(**context(), Tekst="hej")
        assert spf_code(e.value) == "SP-171"


def test_a_certificate_from_another_ca_fails_the_tls_handshake(tls_live, test_pki, tmp_path):
    from simulator.security.pki import _name, cert_pem, issue, key_pem

    cert, key = issue(None, None, _name("self-signed"), client=True)
    (tmp_path / "self.pem").write_bytes(cert_pem(cert))
    (tmp_path / "self.key").write_bytes(key_pem(key))
    ctx = ssl.create_default_context(cafile=str(test_pki.pki.ca_cert))
    ctx.load_cert_chain(str(tmp_path / "self.pem"), str(tmp_path / "self.key"))
    with tls_live(security_mode="certificate") as live:
        with pytest.raises(httpx.HTTPError), httpx.Client(verify=ctx) as client:
            client.post(f"{live.url}{PING_PATH}", content=envelope(), headers={"content-type": "text/xml"})


async def test_security_off_keeps_plain_http_unchanged(secure_sim):
    async with secure_sim(security_mode="off") as sim:
        r = await sim.client.post(PING_PATH, content=envelope(), headers={"content-type": "text/xml"})
        assert r.status_code == 200, r.text
        assert fault_code(r.content) is None
        assert sim.rt.pipeline.authenticator is None
        status = (await sim.client.get("/api/security")).json()
        assert status["mode"] == "off" and status["tls"] is False


async def test_certificate_mode_over_plain_http_says_no_certificate_was_presented(secure_sim):
    async with secure_sim(security_mode="certificate") as sim:
        r = await sim.client.post(PING_PATH, content=envelope(), headers={"content-type": "text/xml"})
        assert fault_code(r.content) == "SP-170"
        assert "not serving HTTPS" in r.text
