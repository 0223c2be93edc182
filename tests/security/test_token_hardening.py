"""Finding 8: the token model's loose ends. An empty or absurd wsu:Timestamp, a token header that inflates
without end, a broken signature answered with an internal error, an assertion from another Issuer, and a
second, unsigned assertion riding along to the provider are all refused with their own codes."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import gzip
import zlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from simulator.security.besked import BeskedTokenError, decode_token
from simulator.security.saml import DS, SAML, build_assertion
from simulator.security.wss import iso, sign_soap11
from tests.security.conftest import PING_ENTITY, PING_PATH, fault_code
from tests.security.test_token_model import ACTION, call, signed, token_for
from tests.serviceplatform.pingservice import CVR, envelope


def sts_material(test_pki):
    key = serialization.load_pem_private_key(test_pki.pki.sts_key.read_bytes(), password=None)
    return key, x509.load_pem_x509_certificate(test_pki.pki.sts_cert.read_bytes())


def with_timestamp(assertion, creds, created, expires) -> bytes:
    return sign_soap11(envelope(), assertion, key=creds.key, action=ACTION, to=PING_PATH, timestamp=(created, expires))


async def test_an_empty_or_absurd_timestamp_is_refused(secure_sim, test_pki):
    now = dt.datetime.now(dt.UTC)
    async with secure_sim(security_mode="token") as sim:
        good = await token_for(sim, test_pki.caller)
        ok = await call(sim, with_timestamp(good, test_pki.caller, iso(now), iso(now + dt.timedelta(minutes=5))))
        assert ok.status_code == 200, ok.text
        for created, expires, why in [
            (None, None, "Created"),
            (iso(now), None, "Expires"),
            (None, iso(now + dt.timedelta(minutes=5)), "Created"),
            ("2020-01-01T00:00:00Z", "2036-01-01T00:00:00Z", "lifetime"),
            (iso(now), iso(now - dt.timedelta(minutes=1)), "before"),
        ]:
            r = await call(sim, with_timestamp(good, test_pki.caller, created, expires))
            assert fault_code(r.content) == "SP-179" and why in r.text, (created, expires, r.text)


def _mutations(good: etree._Element):
    def sig(a):
        return a.find(f"{{{DS}}}Signature")

    def drop_signed_info(a):
        sig(a).remove(sig(a).find(f"{{{DS}}}SignedInfo"))

    def garbage_value(a):
        sig(a).find(f"{{{DS}}}SignatureValue").text = "!!not base64!!"

    def empty_value(a):
        sig(a).find(f"{{{DS}}}SignatureValue").text = ""

    def unknown_digest(a):
        sig(a).find(f".//{{{DS}}}DigestMethod").set("Algorithm", "urn:unknown")

    def unknown_c14n(a):
        sig(a).find(f".//{{{DS}}}CanonicalizationMethod").set("Algorithm", "urn:unknown")

    def two_references(a):
        ref = sig(a).find(f".//{{{DS}}}Reference")
        ref.addnext(copy.deepcopy(ref))

    for change in (
        drop_signed_info,
        garbage_value,
        empty_value,
        unknown_digest,
        unknown_c14n,
        two_references,
    ):
        a = etree.fromstring(etree.tostring(good))
        change(a)
        yield change.__name__, a


async def test_a_malformed_signature_is_sp_174_or_175_never_an_internal_error(secure_sim, test_pki):
    async with secure_sim(security_mode="token") as sim:
        good = await token_for(sim, test_pki.caller)
        for name, broken in _mutations(good):
            r = await call(sim, signed(broken, test_pki.caller))
            code = fault_code(r.content)
            assert code in ("SP-174", "SP-175"), (name, r.text)
            assert "Error(" not in r.text and "Exception" not in r.text, (name, r.text)


async def test_an_assertion_from_another_issuer_is_refused(secure_sim, test_pki):
    sts_key, sts_cert = sts_material(test_pki)
    async with secure_sim(security_mode="token") as sim:
        foreign = build_assertion(
            issuer="https://other-sts.example/",
            audience=PING_ENTITY,
            cvr=CVR,
            holder_cert=test_pki.caller.cert,
            sts_key=sts_key,
            sts_cert=sts_cert,
            lifetime_s=3600,
        )
        r = await call(sim, signed(foreign, test_pki.caller))
        assert fault_code(r.content) == "SP-175" and "Issuer" in r.text, r.text


async def test_only_the_signed_assertion_goes_through(secure_sim, test_pki):
    async with secure_sim(security_mode="token") as sim:
        good = await token_for(sim, test_pki.caller)
        body = etree.fromstring(signed(good, test_pki.caller))
        extra = etree.fromstring(etree.tostring(good))
        extra.remove(extra.find(f"{{{DS}}}Signature"))
        extra.set("ID", "_unsigned")
        body.find(f".//{{{SAML}}}Assertion").addnext(extra)
        r = await call(sim, etree.tostring(body))
        assert fault_code(r.content) == "SP-174" and "one" in r.text, r.text


def test_the_token_header_is_limited_before_and_after_inflation():
    bomb = base64.b64encode(gzip.compress(b"<a>" + b" " * (16 * 1024 * 1024) + b"</a>"))
    assert len(bomb) < 64 * 1024  # small as sent: 16 MiB once inflated
    with pytest.raises(BeskedTokenError) as e:
        decode_token(bomb)
    assert e.value.kind == "malformed" and "inflate" in e.value.text
    with pytest.raises(BeskedTokenError) as e:
        decode_token(b"<a>" + b" " * (1024 * 1024) + b"</a>")
    assert e.value.kind == "malformed" and "limit" in e.value.text
    deflated = base64.b64encode(zlib.compress(b"<a>" + b" " * (16 * 1024 * 1024) + b"</a>")[2:-4])  # raw deflate
    with pytest.raises(BeskedTokenError) as e:
        decode_token(deflated)
    assert "inflate" in e.value.text


async def test_the_sts_refuses_an_rst_with_an_absurd_timestamp(secure_sim, test_pki):
    from simulator.security.wss import fill_rst_template

    async with secure_sim(security_mode="token") as sim:
        rst = fill_rst_template(
            cert=test_pki.caller.cert,
            key=test_pki.caller.key,
            cvr=CVR,
            applies_to=PING_ENTITY,
            now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
            lifetime_s=16 * 365 * 86400,  # 2020 → 2036: "current" for sixteen years
        )
        r = await sim.client.post(
            "/runtime/services/kombittrust/14/certificatemixed",
            content=rst,
            headers={"content-type": "application/soap+xml; charset=utf-8"},
        )
        assert b"STS-101" in r.content and b"lifetime" in r.content, r.text
