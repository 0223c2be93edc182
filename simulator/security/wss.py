"""WS-Security pieces: reading and verifying a Security header, and the client side (building and filling
an RST in the shape of the public SF1514 template, signing a SOAP 1.1 call with a holder-of-key assertion)
for tests, examples and the simulator's own clients."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from signxml import CanonicalizationMethod, SignatureConfiguration, XMLSigner, XMLVerifier
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature

from simulator.security.pki import b64_der
from simulator.security.saml import DS, TokenError
from simulator.soap.ns import SOAP11, SOAP12

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSSE11 = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"
WSA = "http://www.w3.org/2005/08/addressing"
WST = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
WSP = "http://schemas.xmlsoap.org/ws/2004/09/policy"
AUTH = "http://docs.oasis-open.org/wsfed/authorization/200706"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
SAMLID = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID"
SAML20_TOKEN = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0"
ISSUE = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue"
RST_ISSUE_ACTION = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue"
RSTRC_ISSUE_FINAL = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal"
PUBLIC_KEY = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/PublicKey"
CVR_CLAIM = "dk:gov:saml:attribute:CvrNumberIdentifier"
_WSU_ID = f"{{{WSU}}}Id"


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _c14n(el: etree._Element) -> bytes:
    return etree.tostring(el, method="c14n", exclusive=True, with_comments=False)


def security_header(root: etree._Element) -> etree._Element | None:
    """The wsse:Security header of a SOAP 1.1 or 1.2 envelope."""
    for soap in (SOAP11, SOAP12):
        sec = root.find(f"{{{soap}}}Header/{{{WSSE}}}Security")
        if sec is not None:
            return sec
    return None


def element_id(el: etree._Element) -> str | None:
    return el.get(_WSU_ID) or el.get("Id") or el.get("ID")


def verify_signature(
    root: etree._Element,
    security: etree._Element,
    cert: x509.Certificate,
    *,
    required: dict[str, etree._Element],
    now: dt.datetime,
    skew_s: int,
    max_lifetime_s: int = 3600,
) -> list[str]:
    """Verify the ds:Signature in `security` with `cert`: the signature value, every reference's digest, that
    each element in `required` (name → element) is referenced by its Id, that referenced Ids are unique, and
    that the wsu:Timestamp is current. Returns the referenced URIs. Raises TokenError("proof", …)."""
    sig = security.find(f"{{{DS}}}Signature")
    if sig is None:
        raise TokenError("proof", "the Security header carries no ds:Signature")
    uris = [r.get("URI", "") for r in sig.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")]
    for uri in uris:
        if not uri.startswith("#"):
            raise TokenError("proof", f"signature reference '{uri}' is not a same-document #Id reference")
        hits = root.xpath("//*[@*[local-name()='Id' or local-name()='ID']=$v]", v=uri[1:])
        if len(hits) != 1:
            raise TokenError("proof", f"signature reference {uri} matches {len(hits)} elements (must be 1)")
    for name, el in required.items():
        ident = element_id(el)
        if not ident or f"#{ident}" not in uris:
            raise TokenError("proof", f"the signature does not cover the {name}")
    steps = [a.tag for a in reversed(list(security.iterancestors())) if a is not root] + [security.tag]
    location = "./" + "/".join(steps) + "/"
    try:
        XMLVerifier().verify(
            root,
            x509_cert=cert,
            id_attribute=None,
            expect_config=SignatureConfiguration(location=location, expect_references=True),
        )
    except InvalidDigest as e:
        raise TokenError("proof", f"a signed part was altered after signing ({e})") from None
    except (InvalidSignature, InvalidCertificate) as e:
        raise TokenError("proof", f"the message signature was not made with the expected key: {e}") from None
    except InvalidInput as e:
        raise TokenError("proof", f"the message signature cannot be verified: {e}") from None
    except etree.DocumentInvalid as e:
        raise TokenError("proof", f"the message's ds:Signature does not follow XML Signature: {e}") from None
    except Exception:  # noqa: BLE001 - anything else signxml trips over is a signature it cannot read
        raise TokenError("proof", "the message's ds:Signature cannot be read (incomplete or empty)") from None
    ts = security.find(f"{{{WSU}}}Timestamp")
    if ts is not None:
        check_timestamp(ts, now=now, skew_s=skew_s, max_lifetime_s=max_lifetime_s)
    return uris


def check_timestamp(ts: etree._Element, *, now: dt.datetime, skew_s: int, max_lifetime_s: int) -> None:
    """A wsu:Timestamp is current: Created and Expires both there, Created ≤ now ≤ Expires (± skew), and no
    longer than `max_lifetime_s` from Created to Expires. Raises TokenError("proof", …)."""
    skew = dt.timedelta(seconds=skew_s)
    created, expires = ts.findtext(f"{{{WSU}}}Created"), ts.findtext(f"{{{WSU}}}Expires")
    for name, value in (("Created", created), ("Expires", expires)):
        if not (value or "").strip():
            raise TokenError("proof", f"the wsu:Timestamp has no {name}")
    try:
        c = dt.datetime.fromisoformat(created.strip().replace("Z", "+00:00"))
        e = dt.datetime.fromisoformat(expires.strip().replace("Z", "+00:00"))
    except ValueError:
        raise TokenError("proof", "the wsu:Timestamp is not made of xs:dateTime values") from None
    c, e = c.replace(tzinfo=c.tzinfo or dt.UTC), e.replace(tzinfo=e.tzinfo or dt.UTC)
    if e <= c:
        raise TokenError("proof", f"the wsu:Timestamp expires ({expires}) before it was created ({created})")
    if e - c > dt.timedelta(seconds=max_lifetime_s):
        raise TokenError(
            "proof",
            f"the wsu:Timestamp's lifetime ({created} to {expires}) is longer than {max_lifetime_s} s "
            "(SIMULATOR_SECURITY_TIMESTAMP_MAX_S)",
        )
    if c > now + skew:
        raise TokenError("proof", f"the wsu:Timestamp was created in the future ({created})")
    if e <= now - skew:
        raise TokenError("proof", f"the wsu:Timestamp expired at {expires}")


# -- client side ---------------------------------------------------------------------------------------

_SIGNED_PARTS = ("timestamp_id", "body_id", "to_id", "reply_id", "message_id_id", "action_id", "security_token_id")


def rst_template() -> bytes:
    """An unfilled SF1514 RST (WS-Trust 1.3 Issue over SOAP 1.2) in the shape of KOMBIT's public
    SAMLTokenSoapTemplate.xml, built here so no client needs that file: the same elements, Ids and
    signature references, with empty values for `fill_rst_template` to fill."""
    e = etree.Element
    nsmap = {"soap": SOAP12, "wsu": WSU}
    env = e(f"{{{SOAP12}}}Envelope", nsmap={"soap": SOAP12})
    header = etree.SubElement(env, f"{{{SOAP12}}}Header")
    addressing = {
        "Action": ("action_id", RST_ISSUE_ACTION),
        "MessageID": ("message_id_id", "urn:uuid:"),
        "To": ("to_id", None),
        "ReplyTo": ("reply_id", None),
    }
    for name, (ident, text) in addressing.items():
        el = etree.SubElement(header, f"{{{WSA}}}{name}", nsmap={None: WSA, "wsu": WSU})
        el.set(_WSU_ID, ident)
        el.text = text
    etree.SubElement(header.find(f"{{{WSA}}}ReplyTo"), f"{{{WSA}}}Address").text = f"{WSA}/anonymous"
    sec = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE, "wsu": WSU})
    sec.set(f"{{{SOAP12}}}mustUnderstand", "true")
    ts = etree.SubElement(sec, f"{{{WSU}}}Timestamp")
    ts.set(_WSU_ID, "timestamp_id")
    etree.SubElement(ts, f"{{{WSU}}}Created")
    etree.SubElement(ts, f"{{{WSU}}}Expires")
    bst = etree.SubElement(sec, f"{{{WSSE}}}BinarySecurityToken", EncodingType=BASE64, ValueType=X509V3)
    bst.set(_WSU_ID, "security_token_id")
    sig = etree.SubElement(sec, f"{{{DS}}}Signature", nsmap={"ds": DS}, Id="signature_id")
    info = etree.SubElement(sig, f"{{{DS}}}SignedInfo")
    exc_c14n = "http://www.w3.org/2001/10/xml-exc-c14n#"
    etree.SubElement(info, f"{{{DS}}}CanonicalizationMethod", Algorithm=exc_c14n)
    etree.SubElement(info, f"{{{DS}}}SignatureMethod", Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    for ident in _SIGNED_PARTS:
        ref = etree.SubElement(info, f"{{{DS}}}Reference", URI=f"#{ident}")
        etree.SubElement(etree.SubElement(ref, f"{{{DS}}}Transforms"), f"{{{DS}}}Transform", Algorithm=exc_c14n)
        etree.SubElement(ref, f"{{{DS}}}DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
        etree.SubElement(ref, f"{{{DS}}}DigestValue")
    etree.SubElement(sig, f"{{{DS}}}SignatureValue")
    key_info = etree.SubElement(sig, f"{{{DS}}}KeyInfo", Id="key_info_id")
    token_ref = etree.SubElement(key_info, f"{{{WSSE}}}SecurityTokenReference", nsmap={"wsse": WSSE, "wsu": WSU})
    token_ref.set(_WSU_ID, "security_token_reference_id")
    etree.SubElement(token_ref, f"{{{WSSE}}}Reference", URI="#security_token_id", ValueType=X509V3)
    body = etree.SubElement(env, f"{{{SOAP12}}}Body", nsmap=nsmap)
    body.set(_WSU_ID, "body_id")
    rst = etree.SubElement(body, f"{{{WST}}}RequestSecurityToken", nsmap={"wst": WST})
    etree.SubElement(rst, f"{{{WST}}}RequestType").text = ISSUE
    applies = etree.SubElement(rst, f"{{{WSP}}}AppliesTo", nsmap={"wsp": WSP})
    epr = etree.SubElement(applies, f"{{{WSA}}}EndpointReference", nsmap={"wsa": WSA})
    etree.SubElement(epr, f"{{{WSA}}}Address")
    claims = etree.SubElement(
        rst,
        f"{{{WST}}}Claims",
        nsmap={None: WST},
        Dialect="http://docs.oasis-open.org/wsfed/authorization/200706/authclaims",
    )
    claim = etree.SubElement(claims, f"{{{AUTH}}}ClaimType", nsmap={None: AUTH}, Uri=CVR_CLAIM)
    etree.SubElement(claim, f"{{{AUTH}}}Value")
    etree.SubElement(rst, f"{{{WST}}}TokenType").text = SAML20_TOKEN
    etree.SubElement(rst, f"{{{WST}}}KeyType").text = PUBLIC_KEY
    use_key = etree.SubElement(rst, f"{{{WST}}}UseKey")
    etree.SubElement(
        use_key, f"{{{WSSE}}}BinarySecurityToken", nsmap={"wsse": WSSE}, EncodingType=BASE64, ValueType=X509V3
    )
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fill_rst_template(
    template: bytes | None = None,
    *,
    cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    cvr: str,
    applies_to: str,
    to: str | None = None,
    now: dt.datetime | None = None,
    lifetime_s: int = 300,
) -> bytes:
    """Fill and sign the public SF1514 RST template (SAMLTokenSoapTemplate.xml) the way KOMBIT's clients do:
    fresh Ids, Timestamp, the certificate as BinarySecurityToken and UseKey, the CVR claim and AppliesTo, each
    reference's exclusive-c14n SHA-256 digest, and an RSA-SHA256 signature over the SignedInfo. Without a
    template, `rst_template()` (the public template's shape, built here)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
    root = etree.fromstring(template or rst_template(), parser)
    ns = {"wsa": WSA, "wsu": WSU, "ds": DS, "wst": WST, "wsp": WSP, "wsse": WSSE, "auth": AUTH, "s": SOAP12}
    now = now or dt.datetime.now(dt.UTC)

    def one(path: str) -> etree._Element:
        found = root.xpath(path, namespaces=ns)
        if len(found) != 1:
            raise ValueError(f"the template has {len(found)} matches for {path}")
        return found[0]

    body = one("/s:Envelope/s:Body")
    one("//auth:ClaimType[@Uri='dk:gov:saml:attribute:CvrNumberIdentifier']/auth:Value").text = cvr
    one("//wst:RequestSecurityToken/wsp:AppliesTo/wsa:EndpointReference/wsa:Address").text = applies_to
    cert_b64 = b64_der(cert)
    one("//wst:UseKey/wsse:BinarySecurityToken").text = cert_b64
    one("//wsa:MessageID").text = f"urn:uuid:{uuid.uuid4()}"
    one("/s:Envelope/s:Header/wsa:To").text = to or applies_to
    ts = one("//wsse:Security/wsu:Timestamp")
    ts.find(f"{{{WSU}}}Created").text = iso(now)
    ts.find(f"{{{WSU}}}Expires").text = iso(now + dt.timedelta(seconds=lifetime_s))
    bst = one("/s:Envelope/s:Header/wsse:Security/wsse:BinarySecurityToken")
    bst.text = cert_b64
    parts = {
        "action_id": one("/s:Envelope/s:Header/wsa:Action"),
        "message_id_id": one("/s:Envelope/s:Header/wsa:MessageID"),
        "to_id": one("/s:Envelope/s:Header/wsa:To"),
        "reply_id": one("/s:Envelope/s:Header/wsa:ReplyTo"),
        "timestamp_id": ts,
        "security_token_id": bst,
        "body_id": body,
    }
    ids = {}
    for placeholder, el in parts.items():
        ids[placeholder] = f"_{uuid.uuid4()}"
        el.set(_WSU_ID, ids[placeholder])
    for placeholder, el in parts.items():
        ref = one(f"//ds:SignedInfo/ds:Reference[@URI='#{placeholder}']")
        ref.set("URI", f"#{ids[placeholder]}")
        digest = hashes.Hash(hashes.SHA256())
        digest.update(_c14n(el))
        ref.find(f"{{{DS}}}DigestValue").text = base64.b64encode(digest.finalize()).decode()
    one("//wsse:SecurityTokenReference/wsse:Reference").set("URI", f"#{ids['security_token_id']}")
    signed_info = one("//ds:Signature/ds:SignedInfo")
    value = key.sign(_c14n(signed_info), padding.PKCS1v15(), hashes.SHA256())
    one("//ds:Signature/ds:SignatureValue").text = base64.b64encode(value).decode()
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def sign_soap11(
    envelope: bytes,
    assertion: etree._Element | bytes,
    *,
    key: rsa.RSAPrivateKey,
    action: str | None = None,
    to: str | None = None,
    now: dt.datetime | None = None,
    lifetime_s: int = 300,
    timestamp: tuple[str | None, str | None] | None = None,
) -> bytes:
    """Add a WS-Security header to a SOAP 1.1 call, as the token ("OIOIDWS") security model wants: WS-Addressing
    Action/MessageID/To, a Timestamp, the assertion, and a signature with the holder-of-key `key` over Body,
    Timestamp and the addressing headers; its KeyInfo refers to the assertion by SAMLID. `timestamp` =
    (Created, Expires) as written instead of `now` + `lifetime_s`, None leaving the element out (for tests)."""
    root = etree.fromstring(envelope)
    if isinstance(assertion, bytes):
        assertion = etree.fromstring(assertion)
    now = now or dt.datetime.now(dt.UTC)
    header = root.find(f"{{{SOAP11}}}Header")
    if header is None:
        header = etree.Element(f"{{{SOAP11}}}Header")
        root.insert(0, header)
    signed: list[etree._Element] = []
    for name, value in (("Action", action), ("MessageID", f"urn:uuid:{uuid.uuid4()}"), ("To", to)):
        if value:
            el = etree.SubElement(header, f"{{{WSA}}}{name}", nsmap={"wsa": WSA})
            el.text = value
            signed.append(el)
    sec = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE, "wsu": WSU})
    sec.set(f"{{{SOAP11}}}mustUnderstand", "1")
    ts = etree.SubElement(sec, f"{{{WSU}}}Timestamp")
    for name, value in zip(
        ("Created", "Expires"), timestamp or (iso(now), iso(now + dt.timedelta(seconds=lifetime_s))), strict=True
    ):
        if value is not None:
            etree.SubElement(ts, f"{{{WSU}}}{name}").text = value
    sec.append(etree.fromstring(etree.tostring(assertion)))
    body = root.find(f"{{{SOAP11}}}Body")
    for el in [ts, body, *signed]:
        el.set(_WSU_ID, f"_{uuid.uuid4()}")
    key_info = etree.Element(f"{{{DS}}}KeyInfo", nsmap={"ds": DS})
    str_ = etree.SubElement(key_info, f"{{{WSSE}}}SecurityTokenReference", nsmap={"wsse": WSSE, "wsse11": WSSE11})
    str_.set(f"{{{WSSE11}}}TokenType", SAML20_TOKEN)
    kid = etree.SubElement(str_, f"{{{WSSE}}}KeyIdentifier", ValueType=SAMLID)
    kid.text = assertion.get("ID")
    signer = XMLSigner(method=_detached(), c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signer.id_attributes = ("Id",)
    sig = signer.sign(
        root, key=key, reference_uri=[f"#{element_id(e)}" for e in [ts, body, *signed]], key_info=key_info
    )
    sec.append(sig)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _detached():
    from signxml import SignatureConstructionMethod

    return SignatureConstructionMethod.detached
