"""The Beskedfordeler `token` check: verify_token_for_besked names the sender or refuses with a StandardRetur code."""

from __future__ import annotations

import base64
import datetime as dt
import gzip

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from simulator.security import BeskedTokenError, verify_token_for_besked
from simulator.security.auth import DEFAULT_BESKEDFORDELER_ENTITY_ID
from simulator.security.saml import build_assertion
from tests.security.conftest import PING_ENTITY
from tests.security.test_token_model import token_for
from tests.serviceplatform.pingservice import CVR, CVR2


def sts(test_pki):
    key = serialization.load_pem_private_key(test_pki.pki.sts_key.read_bytes(), password=None)
    return key, x509.load_pem_x509_certificate(test_pki.pki.sts_cert.read_bytes())


def besked_token(test_pki, creds, *, cvr=CVR, audience=DEFAULT_BESKEDFORDELER_ENTITY_ID, now=None, lifetime_s=3600):
    key, cert = sts(test_pki)
    return etree.tostring(
        build_assertion(
            issuer="urn:simulator:sts",
            audience=audience,
            cvr=cvr,
            holder_cert=creds.cert,
            sts_key=key,
            sts_cert=cert,
            lifetime_s=lifetime_s,
            now=now,
        )
    )


async def test_a_good_token_names_the_sender_in_every_encoding(secure_sim, test_pki):
    async with secure_sim(security_mode="token") as sim:
        xml = besked_token(test_pki, test_pki.caller)
        for value in (xml, xml.decode(), base64.b64encode(xml).decode(), base64.b64encode(gzip.compress(xml))):
            assert verify_token_for_besked(sim.rt, value) == ("caller", CVR)
        # holder-of-key against the AMQP/TLS client certificate, when the caller passes it
        assert verify_token_for_besked(sim.rt, xml, client_cert=test_pki.caller.cert_path.read_bytes())[0] == "caller"


async def test_the_sts_issues_besked_tokens_for_a_system_with_an_agreement(secure_sim, test_pki):
    async with secure_sim(security_mode="token") as sim:
        assertion = await token_for(sim, test_pki.caller, entity=DEFAULT_BESKEDFORDELER_ENTITY_ID)
        assert verify_token_for_besked(sim.rt, etree.tostring(assertion)) == ("caller", CVR)


@pytest.mark.parametrize(
    "case, status, code",
    [
        ("missing", 49, "SP-173"),
        ("garbage", 49, "SP-174"),
        ("tampered", 49, "SP-175"),
        ("expired", 41, "SP-176"),
        ("audience", 49, "SP-177"),
        ("other-certificate", 49, "SP-179"),
    ],
)
async def test_bad_tokens_are_refused(secure_sim, test_pki, case, status, code):
    async with secure_sim(security_mode="token") as sim:
        good = besked_token(test_pki, test_pki.caller)
        client_cert = None
        token = {
            "missing": "",
            "garbage": "not a token!",
            "tampered": good.replace(f">{CVR}<".encode(), f">{CVR2}<".encode()),
            "expired": besked_token(test_pki, test_pki.caller, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)),
            "audience": besked_token(test_pki, test_pki.caller, audience=PING_ENTITY),
            "other-certificate": good,
        }[case]
        if case == "other-certificate":
            client_cert = test_pki.stranger.cert_path.read_bytes()
        with pytest.raises(BeskedTokenError) as e:
            verify_token_for_besked(sim.rt, token, client_cert=client_cert)
        assert e.value.status_kode == status and e.value.code == code
        assert e.value.text


async def test_with_security_off_every_token_is_refused_clearly(secure_sim, test_pki):
    async with secure_sim(security_mode="off") as sim:
        with pytest.raises(BeskedTokenError) as e:
            verify_token_for_besked(sim.rt, besked_token(test_pki, test_pki.caller))
        assert "security_mode is off" in e.value.text
