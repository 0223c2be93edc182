"""The mock STS (SF1514): the WS-Trust 1.3 Issue endpoint (SOAP 1.2), the REST issue endpoint and the
access-token exchange. Tokens are signed by the simulator's STS key (certs_dir/sts.pem)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from urllib.parse import parse_qs

from cryptography import x509
from fastapi import APIRouter, Request, Response
from lxml import etree

from simulator.security import schemas as o
from simulator.security.auth import Security, entity_id_of, issue_access_token
from simulator.security.besked import decode_token
from simulator.security.pki import fingerprint, load_cert
from simulator.security.saml import TokenError, build_assertion
from simulator.security.wss import (
    AUTH,
    CVR_CLAIM,
    ISSUE,
    PUBLIC_KEY,
    RSTRC_ISSUE_FINAL,
    SAML20_TOKEN,
    WSA,
    WSP,
    WSSE,
    WST,
    WSU,
    X509V3,
    iso,
    verify_signature,
)
from simulator.soap.envelope import parse_xml
from simulator.soap.errors import SoapFaultError
from simulator.soap.ns import SOAP12
from simulator.web.deps import client_cert_of

SOAP_ISSUE_PATH = "/runtime/services/kombittrust/14/certificatemixed"
REST_ISSUE_PATH = "/runtime/api/rest/wstrust/v1/issue"
ACCESS_TOKEN_PATH = "/service/AccessTokenService_1/token"
ACCESS_TOKEN_LIFETIME_S = 3600
STS_ERRORS_NS = "urn:simulator:sts:error"

router = APIRouter(tags=["security: mock STS (SF1514)"])


class StsError(Exception):
    """A refusal: `code` STS-1xx, the WS-Trust fault subcode, and the HTTP status of the REST endpoints."""

    def __init__(self, code: str, subcode: str, text: str, *, status: int = 400, sender: bool = True) -> None:
        super().__init__(text)
        self.code, self.subcode, self.text, self.status, self.sender = code, subcode, text, status, sender


def _malformed(text: str) -> StsError:
    return StsError("STS-100", "InvalidRequest", text)


def _security(request: Request) -> Security:
    rt = request.app.state.runtime
    security: Security | None = rt.find(Security)
    if security is None or not security.loaded:
        raise StsError(
            "STS-106",
            "RequestFailed",
            "the mock STS is off: set SIMULATOR_SECURITY_MODE (certificate, token or both)",
            status=503,
            sender=False,
        )
    return security


def _issue(security: Security, holder: x509.Certificate, cvr: str, entity_id: str, tls_cert: str | None):
    """Common checks of both issue endpoints; returns (assertion element, system)."""
    if tls_cert is not None and fingerprint(load_cert(tls_cert)) != fingerprint(holder):
        raise StsError("STS-103", "InvalidRequest", "UseKey is not the TLS client certificate")
    system = security.system_for_cert(holder)
    if system is None:
        raise StsError(
            "STS-102",
            "FailedAuthentication",
            f"the certificate {holder.subject.rfc4514_string()} (SHA-256 {fingerprint(holder)}) "
            "belongs to no it-system",
            status=401,
        )
    if not cvr or not cvr.isdigit() or len(cvr) != 8:
        raise _malformed(f"the {CVR_CLAIM} claim must be an 8-digit CVR, not '{cvr}'")
    if not entity_id:
        raise _malformed("AppliesTo/EndpointReference/Address (the service entityID) is missing")
    why = security.may_issue(system, cvr, entity_id)
    if why is not None:
        unknown = why.startswith("no service has")
        raise StsError(
            "STS-104" if unknown else "STS-105",
            "InvalidRequest" if unknown else "RequestFailed",
            why,
            status=400 if unknown else 403,
        )
    assert security.sts_key is not None and security.sts_cert is not None
    assertion = build_assertion(
        issuer=security.settings.sts_issuer,
        audience=entity_id,
        cvr=cvr,
        holder_cert=holder,
        sts_key=security.sts_key,
        sts_cert=security.sts_cert,
        lifetime_s=security.settings.sts_token_lifetime_s,
        system_uuid=system.uuid,
    )
    return assertion, system


# -- WS-Trust 1.3 over SOAP 1.2 ---------------------------------------------------------------------------


@router.post(
    SOAP_ISSUE_PATH,
    response_class=Response,
    responses=o.SOAP_ISSUE_RESPONSES,
    summary="WS-Trust 1.3 Issue (SOAP 1.2, signed RST as KOMBIT's clients send it)",
)
async def soap_issue(request: Request) -> Response:
    body = await request.body()
    try:
        security = _security(request)
        reply = _soap_issue(security, body, client_cert_of(request.scope))
    except StsError as e:
        return Response(
            _soap12_fault(e), status_code=400 if e.sender else 500, media_type="application/soap+xml; charset=utf-8"
        )
    return Response(reply, media_type="application/soap+xml; charset=utf-8")


def _soap_issue(security: Security, body: bytes, tls_cert: str | None) -> bytes:
    try:
        root = parse_xml(body, max_bytes=security.settings.max_body_bytes)
    except SoapFaultError as e:
        raise _malformed(e.text) from None
    if root.tag != f"{{{SOAP12}}}Envelope":
        raise _malformed(f"expected a SOAP 1.2 Envelope ({{{SOAP12}}}Envelope), got {root.tag}")
    sec = root.find(f"{{{SOAP12}}}Header/{{{WSSE}}}Security")
    soap_body = root.find(f"{{{SOAP12}}}Body")
    rst = soap_body.find(f"{{{WST}}}RequestSecurityToken") if soap_body is not None else None
    if rst is None:
        raise _malformed("the Body carries no wst:RequestSecurityToken")
    if sec is None:
        raise StsError("STS-101", "FailedAuthentication", "the request has no wsse:Security header", status=401)
    bst = sec.find(f"{{{WSSE}}}BinarySecurityToken")
    if bst is None or not (bst.text or "").strip() or bst.get("ValueType", X509V3) != X509V3:
        raise StsError(
            "STS-101", "FailedAuthentication", "the Security header has no X509v3 BinarySecurityToken", status=401
        )
    try:
        signer = load_cert(bst.text.strip())
    except ValueError as e:
        raise _malformed(f"the BinarySecurityToken is not a certificate: {e}") from None
    ts = sec.find(f"{{{WSU}}}Timestamp")
    if ts is None:
        raise StsError("STS-101", "FailedAuthentication", "the Security header has no wsu:Timestamp", status=401)
    try:
        verify_signature(
            root,
            sec,
            signer,
            required={"Body": soap_body, "Timestamp": ts},
            now=dt.datetime.now(dt.UTC),
            skew_s=security.settings.security_clock_skew_s,
            max_lifetime_s=security.settings.security_timestamp_max_s,
        )
    except TokenError as e:
        raise StsError("STS-101", "FailedAuthentication", f"the request signature: {e.text}", status=401) from None
    request_type = (rst.findtext(f"{{{WST}}}RequestType") or "").strip()
    if request_type != ISSUE:
        raise _malformed(f"RequestType must be {ISSUE}, not '{request_type}'")
    token_type = (rst.findtext(f"{{{WST}}}TokenType") or SAML20_TOKEN).strip()
    if token_type != SAML20_TOKEN:
        raise _malformed(f"TokenType must be {SAML20_TOKEN}")
    key_type = (rst.findtext(f"{{{WST}}}KeyType") or PUBLIC_KEY).strip()
    if key_type != PUBLIC_KEY:
        raise _malformed(f"KeyType must be {PUBLIC_KEY} (holder-of-key); bearer tokens are not issued")
    entity_id = (rst.findtext(f"{{{WSP}}}AppliesTo/{{{WSA}}}EndpointReference/{{{WSA}}}Address") or "").strip()
    cvr = ""
    for claim in rst.findall(f"{{{WST}}}Claims/{{{AUTH}}}ClaimType"):
        if claim.get("Uri") == CVR_CLAIM:
            cvr = (claim.findtext(f"{{{AUTH}}}Value") or "").strip()
    use_key = rst.find(f"{{{WST}}}UseKey/{{{WSSE}}}BinarySecurityToken")
    holder = signer
    if use_key is not None and (use_key.text or "").strip():
        try:
            holder = load_cert(use_key.text.strip())
        except ValueError as e:
            raise _malformed(f"UseKey is not a certificate: {e}") from None
        if fingerprint(holder) != fingerprint(signer):
            raise StsError("STS-103", "InvalidRequest", "UseKey is not the certificate that signed the request")
    assertion, _system = _issue(security, holder, cvr, entity_id, tls_cert)
    message_id = root.findtext(f"{{{SOAP12}}}Header/{{{WSA}}}MessageID")
    return _rstrc(assertion, entity_id, security.settings.sts_token_lifetime_s, message_id)


def _rstrc(assertion: etree._Element, entity_id: str, lifetime_s: int, relates_to: str | None) -> bytes:
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"s": SOAP12, "wsa": WSA, "wst": WST, "wsu": WSU})
    header = etree.SubElement(env, f"{{{SOAP12}}}Header")
    etree.SubElement(header, f"{{{WSA}}}Action").text = RSTRC_ISSUE_FINAL
    if relates_to:
        etree.SubElement(header, f"{{{WSA}}}RelatesTo").text = relates_to
    body = etree.SubElement(env, f"{{{SOAP12}}}Body")
    coll = etree.SubElement(body, f"{{{WST}}}RequestSecurityTokenResponseCollection")
    rstr = etree.SubElement(coll, f"{{{WST}}}RequestSecurityTokenResponse")
    etree.SubElement(rstr, f"{{{WST}}}TokenType").text = SAML20_TOKEN
    etree.SubElement(rstr, f"{{{WST}}}RequestedSecurityToken").append(assertion)
    applies = etree.SubElement(rstr, f"{{{WSP}}}AppliesTo", nsmap={"wsp": WSP})
    etree.SubElement(etree.SubElement(applies, f"{{{WSA}}}EndpointReference"), f"{{{WSA}}}Address").text = entity_id
    lifetime = etree.SubElement(rstr, f"{{{WST}}}Lifetime")
    now = dt.datetime.now(dt.UTC)
    etree.SubElement(lifetime, f"{{{WSU}}}Created").text = iso(now)
    etree.SubElement(lifetime, f"{{{WSU}}}Expires").text = iso(now + dt.timedelta(seconds=lifetime_s))
    etree.SubElement(rstr, f"{{{WST}}}KeyType").text = PUBLIC_KEY
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def _soap12_fault(e: StsError) -> bytes:
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"s": SOAP12, "wst": WST})
    fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP12}}}Body"), f"{{{SOAP12}}}Fault")
    code = etree.SubElement(fault, f"{{{SOAP12}}}Code")
    etree.SubElement(code, f"{{{SOAP12}}}Value").text = "s:Sender" if e.sender else "s:Receiver"
    etree.SubElement(etree.SubElement(code, f"{{{SOAP12}}}Subcode"), f"{{{SOAP12}}}Value").text = f"wst:{e.subcode}"
    reason = etree.SubElement(etree.SubElement(fault, f"{{{SOAP12}}}Reason"), f"{{{SOAP12}}}Text")
    reason.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    reason.text = f"{e.code}: {e.text}"
    err = etree.SubElement(
        etree.SubElement(fault, f"{{{SOAP12}}}Detail"), f"{{{STS_ERRORS_NS}}}Error", nsmap={"sim": STS_ERRORS_NS}
    )
    etree.SubElement(err, f"{{{STS_ERRORS_NS}}}Code").text = e.code
    etree.SubElement(err, f"{{{STS_ERRORS_NS}}}Text").text = e.text
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


# -- REST ---------------------------------------------------------------------------------------------------


def _json_error(e: StsError) -> Response:
    return Response(
        json.dumps({"error": e.code, "error_description": e.text}), status_code=e.status, media_type="application/json"
    )


@router.post(
    REST_ISSUE_PATH,
    response_class=Response,
    responses=o.REST_ISSUE_RESPONSES,
    summary="REST issue: JSON RST (UseKey, AnvenderKontekst.Cvr, AppliesTo) → assertion",
)
async def rest_issue(request: Request) -> Response:
    """Body: `{"TokenType", "RequestType", "KeyType", "AnvenderKontekst": {"Cvr"}, "UseKey": <base64 DER>,
    "AppliesTo": {"EndpointReference": {"Address": <entityID>}}}`. Answer: `RequestedSecurityToken.Assertion` =
    base64 of the signed assertion XML, plus `TokenType`, `AppliesTo`, `Lifetime`."""
    try:
        security = _security(request)
        try:
            doc = json.loads(await request.body())
            cvr = str(((doc.get("AnvenderKontekst") or {}).get("Cvr")) or "")
            entity_id = str(((doc.get("AppliesTo") or {}).get("EndpointReference") or {}).get("Address") or "")
            use_key = doc.get("UseKey")
        except (ValueError, AttributeError) as e:
            raise _malformed(f"the body is not the JSON RST: {e}") from None
        tls_cert = client_cert_of(request.scope)
        if request.url.scheme == "https" and tls_cert is None:
            raise StsError(
                "STS-103",
                "FailedAuthentication",
                "over TLS the REST issue needs a client certificate, the one UseKey names (proof of possession)",
                status=401,
            )
        if use_key:
            try:
                holder = load_cert(str(use_key))
            except ValueError as e:
                raise _malformed(f"UseKey is not a base64 DER certificate: {e}") from None
        elif tls_cert:
            holder = load_cert(tls_cert)
        else:
            raise _malformed("UseKey is missing and no TLS client certificate was presented")
        if doc.get("KeyType", PUBLIC_KEY) != PUBLIC_KEY:
            raise _malformed(f"KeyType must be {PUBLIC_KEY}")
        assertion, _system = _issue(security, holder, cvr, entity_id, tls_cert)
    except StsError as e:
        return _json_error(e)
    now = dt.datetime.now(dt.UTC)
    xml = etree.tostring(assertion)
    return Response(
        json.dumps(
            {
                "TokenType": SAML20_TOKEN,
                "RequestedSecurityToken": {"Assertion": base64.b64encode(xml).decode()},
                "AppliesTo": {"EndpointReference": {"Address": entity_id}},
                "Lifetime": {
                    "Created": iso(now),
                    "Expires": iso(now + dt.timedelta(seconds=security.settings.sts_token_lifetime_s)),
                },
            }
        ),
        media_type="application/json",
    )


@router.post(
    ACCESS_TOKEN_PATH,
    response_class=Response,
    responses=o.ACCESS_TOKEN_RESPONSES,
    summary="Exchange a SAML token (form field saml-token) for a Holder-of-key access token",
)
async def access_token(request: Request) -> Response:
    try:
        security = _security(request)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("saml-token") or [""])[0]
        audiences = {entity_id_of(s) for s in security.rt.routes.services.values()} | security.besked_audiences()
        try:
            claims, system = security.verify_token(
                decode_token(token), audiences=audiences, client_cert=client_cert_of(request.scope)
            )
        except TokenError as e:
            raise StsError(
                "STS-110", "FailedAuthentication", f"the SAML token is not accepted ({e.kind}): {e.text}", status=401
            ) from None
    except StsError as e:
        return _json_error(e)
    token = issue_access_token(security, claims, system, lifetime_s=ACCESS_TOKEN_LIFETIME_S)
    return Response(
        json.dumps({"access_token": token, "token_type": "Holder-of-key", "expires_in": ACCESS_TOKEN_LIFETIME_S}),
        media_type="application/json",
    )
