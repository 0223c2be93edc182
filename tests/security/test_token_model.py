"""Token model: the mock STS issues holder-of-key SAML tokens (WS-Trust over SOAP 1.2 in the public template's shape,
and REST); calls carrying them in a signed WS-Security header pass; bad tokens get their own fault codes."""

from __future__ import annotations

import base64
import datetime as dt
import ssl

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from simulator.security import verify_access_token
from simulator.security.saml import SAML, build_assertion, verify_assertion
from simulator.security.wss import SOAP12, WST, fill_rst_template, rst_template, sign_soap11
from tests.security.conftest import OFFICIAL_RST_TEMPLATE, OTHER_ENTITY, PING_ENTITY, PING_PATH, fault_code
from tests.serviceplatform.pingservice import AGREEMENT, AGREEMENT_OTHER_MUNICIPALITY, CVR, CVR2, envelope

STS_PATH = "/runtime/services/kombittrust/14/certificatemixed"
STRANGER_UUID = "99999999-2222-4333-8444-555555555555"
ACTION = "http://serviceplatformen.dk/xml/wsdl/soap11/Test/Ping/1/Ping"


async def request_token(sim, creds, *, cvr: str = CVR, entity: str = PING_ENTITY) -> httpx.Response:
    rst = fill_rst_template(cert=creds.cert, key=creds.key, cvr=cvr, applies_to=entity)
    return await sim.client.post(
        STS_PATH,
        content=rst,
        headers={
            "content-type": "application/soap+xml; charset=utf-8",
            "soapaction": "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue",
        },
    )


async def token_for(sim, creds, **kw) -> etree._Element:
    r = await request_token(sim, creds, **kw)
    assert r.status_code == 200, r.text
    root = etree.fromstring(r.content)
    return root.find(
        f"{{{SOAP12}}}Body/{{{WST}}}RequestSecurityTokenResponseCollection/"
        f"{{{WST}}}RequestSecurityTokenResponse/{{{WST}}}RequestedSecurityToken/{{{SAML}}}Assertion"
    )


async def call(sim, body: bytes) -> httpx.Response:
    return await sim.client.post(
        PING_PATH, content=body, headers={"content-type": "text/xml; charset=utf-8", "soapaction": f'"{ACTION}"'}
    )


def signed(assertion, creds, body: bytes | None = None) -> bytes:
    return sign_soap11(body or envelope(), assertion, key=creds.key, action=ACTION, to=PING_PATH)


async def test_rst_from_the_public_template_gets_an_assertion_and_a_call_with_it_passes(secure_sim, test_pki):
    async with secure_sim(security_mode="token") as sim:
        r = await request_token(sim, test_pki.caller)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/soap+xml")
        root = etree.fromstring(r.content)
        assertion = root.find(f".//{{{WST}}}RequestedSecurityToken/{{{SAML}}}Assertion")
        assert assertion is not None
        sts_cert = x509.load_pem_x509_certificate(test_pki.pki.sts_cert.read_bytes())
        claims = verify_assertion(etree.tostring(assertion), sts_cert=sts_cert)
        assert claims.audience == PING_ENTITY and claims.cvr == CVR
        assert claims.holder_cert == test_pki.caller.cert  # holder-of-key = the requesting certificate
        assert claims.not_on_or_after - claims.not_before == dt.timedelta(hours=8)

        ok = await call(sim, signed(assertion, test_pki.caller))
        assert ok.status_code == 200, ok.text
        assert b"caller@" + CVR.encode() in ok.content


def _shape(el: etree._Element) -> tuple:
    """An element's tag, attribute names and wsu/ds Ids, and its children's shapes (no text, no whitespace)."""
    ids = {k: v for k, v in el.attrib.items() if k.endswith("Id") or k == "URI"}
    return (el.tag, tuple(sorted(el.attrib)), tuple(sorted(ids.items())), tuple(_shape(c) for c in el))


def test_our_rst_has_the_shape_of_the_public_sf1514_template(kombit):
    """The RST the project builds has the elements, Ids and signature references of KOMBIT's public template."""
    official = etree.parse(str(kombit(OFFICIAL_RST_TEMPLATE))).getroot()
    ours = etree.fromstring(rst_template())
    assert _shape(ours) == _shape(official)


async def test_an_rst_filled_from_the_public_template_itself_gets_a_token(secure_sim, test_pki, kombit):
    rst = fill_rst_template(
        kombit(OFFICIAL_RST_TEMPLATE).read_bytes(),
        cert=test_pki.caller.cert,
        key=test_pki.caller.key,
        cvr=CVR,
        applies_to=PING_ENTITY,
    )
    async with secure_sim(security_mode="token") as sim:
        r = await sim.client.post(STS_PATH, content=rst, headers={"content-type": "application/soap+xml"})
        assert r.status_code == 200, r.text
        assert etree.fromstring(r.content).find(f".//{{{WST}}}RequestedSecurityToken/{{{SAML}}}Assertion") is not None


async def test_bad_tokens_are_refused_each_with_its_own_fault_code(secure_sim, test_pki):
    async with secure_sim(security_mode="token") as sim:
        good = await token_for(sim, test_pki.caller)
        sts_key = serialization.load_pem_private_key(test_pki.pki.sts_key.read_bytes(), password=None)
        sts_cert = x509.load_pem_x509_certificate(test_pki.pki.sts_cert.read_bytes())

        # expired: issued by the STS key 9 hours ago with an 8 hour lifetime
        expired = build_assertion(
            issuer="urn:simulator:sts",
            audience=PING_ENTITY,
            cvr=CVR,
            holder_cert=test_pki.caller.cert,
            sts_key=sts_key,
            sts_cert=sts_cert,
            lifetime_s=8 * 3600,
            now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=9),
        )
        r = await call(sim, signed(expired, test_pki.caller))
        assert fault_code(r.content) == "SP-176", r.text

        # tampered: the CVR claim changed after the STS signed it (the caller re-signs the message itself)
        tampered = etree.fromstring(etree.tostring(good).replace(f">{CVR}<".encode(), f">{CVR2}<".encode()))
        r = await call(sim, signed(tampered, test_pki.caller))
        assert fault_code(r.content) == "SP-175", r.text

        # signed by someone else than the STS
        caller_key = test_pki.caller.key
        forged = build_assertion(
            issuer="urn:simulator:sts",
            audience=PING_ENTITY,
            cvr=CVR,
            holder_cert=test_pki.caller.cert,
            sts_key=caller_key,
            sts_cert=test_pki.caller.cert,
            lifetime_s=3600,
        )
        r = await call(sim, signed(forged, test_pki.caller))
        assert fault_code(r.content) == "SP-175", r.text

        # wrong audience: a token for the Other service (the caller has an agreement for it)
        other = await token_for(sim, test_pki.caller, entity=OTHER_ENTITY)
        r = await call(sim, signed(other, test_pki.caller))
        assert fault_code(r.content) == "SP-177", r.text

        # wrong municipality: a token for CVR2 used under the agreement for CVR
        cvr2 = await token_for(sim, test_pki.caller, cvr=CVR2)
        r = await call(sim, signed(cvr2, test_pki.caller, envelope(agreement=AGREEMENT)))
        assert fault_code(r.content) == "SP-178", r.text
        # … while the same token passes every check with CVR2's own agreement (the Ping table has no route there)
        r = await call(sim, signed(cvr2, test_pki.caller, envelope(agreement=AGREEMENT_OTHER_MUNICIPALITY, cvr=CVR2)))
        assert fault_code(r.content) == "SP-140", r.text

        # no token at all
        r = await call(sim, envelope())
        assert fault_code(r.content) == "SP-173", r.text

        # holder-of-key: the message is signed by another key than the token's certificate
        r = await call(sim, signed(good, test_pki.stranger))
        assert fault_code(r.content) == "SP-179", r.text

        # holder-of-key: the Body was changed after the caller signed it
        body = signed(good, test_pki.caller).replace(b">hej<", b">hej!<")
        r = await call(sim, body)
        assert fault_code(r.content) == "SP-179", r.text

        # the token names the caller's system, but UserSystemUUID names the stranger
        r = await call(sim, signed(good, test_pki.caller, envelope(system=STRANGER_UUID)))
        assert fault_code(r.content) == "SP-172", r.text


async def test_sts_refuses_unknown_certificates_missing_agreements_and_bad_signatures(secure_sim, test_pki):
    async with secure_sim(security_mode="token") as sim:
        r = await request_token(sim, test_pki.unknown)
        assert r.status_code == 400 and b"STS-102" in r.content and b"wst:FailedAuthentication" in r.content

        r = await request_token(sim, test_pki.stranger, cvr=CVR2)  # the stranger has no agreement with CVR2
        assert b"STS-105" in r.content and b"no active service agreement" in r.content

        r = await request_token(sim, test_pki.caller, entity="http://nowhere.example/service/x/1")
        assert b"STS-104" in r.content

        rst = fill_rst_template(
            cert=test_pki.caller.cert,
            key=test_pki.caller.key,
            cvr=CVR,
            applies_to=PING_ENTITY,
        )
        r = await sim.client.post(
            STS_PATH,
            content=rst.replace(f">{CVR}<".encode(), f">{CVR2}<".encode()),
            headers={"content-type": "application/soap+xml"},
        )
        assert b"STS-101" in r.content and b"altered" in r.content

        r = await sim.client.post(STS_PATH, content=envelope(), headers={"content-type": "application/soap+xml"})
        assert b"STS-100" in r.content


async def test_rest_issue_and_access_token_exchange(secure_sim, test_pki):
    async with secure_sim(security_mode="token") as sim:
        use_key = base64.b64encode(test_pki.caller.cert.public_bytes(serialization.Encoding.DER)).decode()
        r = await sim.client.post(
            "/runtime/api/rest/wstrust/v1/issue",
            json={
                "TokenType": "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0",
                "RequestType": "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue",
                "KeyType": "http://docs.oasis-open.org/ws-sx/ws-trust/200512/PublicKey",
                "AnvenderKontekst": {"Cvr": CVR},
                "UseKey": use_key,
                "AppliesTo": {"EndpointReference": {"Address": PING_ENTITY}},
                "OnBehalfOf": None,
            },
        )
        assert r.status_code == 200, r.text
        saml = r.json()["RequestedSecurityToken"]["Assertion"]
        assertion = etree.fromstring(base64.b64decode(saml))
        ok = await call(sim, signed(assertion, test_pki.caller))
        assert ok.status_code == 200, ok.text

        r = await sim.client.post("/service/AccessTokenService_1/token", data={"saml-token": saml})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "Holder-of-key" and body["expires_in"] == 3600
        claims = verify_access_token(sim.rt, body["access_token"], client_cert=test_pki.caller.cert_path.read_bytes())
        assert claims["cvr"] == CVR and claims["aud"] == PING_ENTITY

        bad = base64.b64encode(etree.tostring(assertion).replace(f">{CVR}<".encode(), f">{CVR2}<".encode())).decode()
        r = await sim.client.post("/service/AccessTokenService_1/token", data={"saml-token": bad})
        assert r.status_code == 401 and r.json()["error"] == "STS-110"

        r = await sim.client.post(
            "/runtime/api/rest/wstrust/v1/issue",
            json={
                "AnvenderKontekst": {"Cvr": CVR2},
                "UseKey": base64.b64encode(test_pki.stranger.cert.public_bytes(serialization.Encoding.DER)).decode(),
                "AppliesTo": {"EndpointReference": {"Address": PING_ENTITY}},
            },
        )
        assert r.status_code == 403 and r.json()["error"] == "STS-105"


def test_over_tls_the_token_must_belong_to_the_client_certificate(tls_live, test_pki):
    """Holder-of-key binding to the TLS client certificate, with a real TLS server."""
    ctx_caller = ssl.create_default_context(cafile=str(test_pki.pki.ca_cert))
    ctx_caller.load_cert_chain(*test_pki.caller.pair)
    ctx_stranger = ssl.create_default_context(cafile=str(test_pki.pki.ca_cert))
    ctx_stranger.load_cert_chain(*test_pki.stranger.pair)
    with tls_live(security_mode="both") as live:
        with httpx.Client(verify=ctx_caller, base_url=live.url, headers={"connection": "close"}) as client:
            use_key = base64.b64encode(test_pki.caller.cert.public_bytes(serialization.Encoding.DER)).decode()
            r = client.post(
                "/runtime/api/rest/wstrust/v1/issue",
                json={
                    "AnvenderKontekst": {"Cvr": CVR},
                    "UseKey": use_key,
                    "AppliesTo": {"EndpointReference": {"Address": PING_ENTITY}},
                },
            )
            assert r.status_code == 200, r.text
            assertion = etree.fromstring(base64.b64decode(r.json()["RequestedSecurityToken"]["Assertion"]))
            body = signed(assertion, test_pki.caller)
            r = client.post(PING_PATH, content=body, headers={"content-type": "text/xml", "soapaction": ACTION})
            assert r.status_code == 200, r.text
            # mode both: the certificate alone is enough as well
            r = client.post(PING_PATH, content=envelope(), headers={"content-type": "text/xml", "soapaction": ACTION})
            assert r.status_code == 200, r.text
        with httpx.Client(verify=ctx_stranger, base_url=live.url, headers={"connection": "close"}) as client:
            r = client.post(PING_PATH, content=body, headers={"content-type": "text/xml", "soapaction": ACTION})
            assert fault_code(r.content) == "SP-179" and "TLS client certificate" in r.text
            # REST issue: UseKey must be the TLS client certificate
            r = client.post(
                "/runtime/api/rest/wstrust/v1/issue",
                json={
                    "AnvenderKontekst": {"Cvr": CVR},
                    "UseKey": use_key,
                    "AppliesTo": {"EndpointReference": {"Address": PING_ENTITY}},
                },
            )
            assert r.status_code == 400 and r.json()["error"] == "STS-103"
