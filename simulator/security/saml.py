"""SAML 2.0 assertions as the mock STS issues them, and their verification (signxml)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import CanonicalizationMethod, SignatureConfiguration, XMLSigner, XMLVerifier
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature

from simulator.security.pki import b64_der, load_cert

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CVR_ATTRIBUTE = "dk:gov:saml:attribute:CvrNumberIdentifier"
SYSTEM_ATTRIBUTE = "urn:simulator:attribute:UserSystemUUID"  # the simulator's own, informative only
HOLDER_OF_KEY = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
X509_SUBJECT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
_NS = {"saml": SAML, "ds": DS}


class TokenError(Exception):
    """A token that cannot be accepted; `kind` is one of: missing, malformed, signature, expired, audience,
    municipality, proof (holder-of-key), system."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text


@dataclass(frozen=True)
class Claims:
    """What a verified assertion says (read only from the signed bytes)."""

    id: str
    issuer: str
    audience: str
    cvr: str | None
    not_before: dt.datetime
    not_on_or_after: dt.datetime
    holder_cert: x509.Certificate | None
    subject: str
    system_uuid: str | None


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str | None, what: str) -> dt.datetime:
    if not value:
        raise TokenError("malformed", f"the assertion has no {what}")
    try:
        t = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise TokenError("malformed", f"the assertion's {what} '{value}' is not an xs:dateTime") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, {k.replace("_", ":") if k == "xsi_type" else k: v for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def build_assertion(
    *,
    issuer: str,
    audience: str,
    cvr: str,
    holder_cert: x509.Certificate,
    sts_key: rsa.RSAPrivateKey,
    sts_cert: x509.Certificate,
    lifetime_s: int,
    system_uuid: str | None = None,
    now: dt.datetime | None = None,
) -> etree._Element:
    """A signed holder-of-key assertion for `audience` on behalf of municipality `cvr`."""
    now = now or dt.datetime.now(dt.UTC)
    aid = f"_{uuid.uuid4()}"
    a = etree.Element(f"{{{SAML}}}Assertion", nsmap={"saml": SAML}, ID=aid, IssueInstant=_iso(now), Version="2.0")
    _sub(a, f"{{{SAML}}}Issuer", issuer)
    etree.SubElement(a, f"{{{DS}}}Signature", nsmap={"ds": DS}, Id="placeholder")
    subject = _sub(a, f"{{{SAML}}}Subject")
    _sub(subject, f"{{{SAML}}}NameID", holder_cert.subject.rfc4514_string(), Format=X509_SUBJECT)
    conf = _sub(subject, f"{{{SAML}}}SubjectConfirmation", Method=HOLDER_OF_KEY)
    data = etree.SubElement(conf, f"{{{SAML}}}SubjectConfirmationData", nsmap={"xsi": XSI})
    data.set(f"{{{XSI}}}type", "saml:KeyInfoConfirmationDataType")
    ki = etree.SubElement(data, f"{{{DS}}}KeyInfo", nsmap={"ds": DS})
    xd = etree.SubElement(ki, f"{{{DS}}}X509Data")
    etree.SubElement(xd, f"{{{DS}}}X509Certificate").text = b64_der(holder_cert)
    cond = _sub(
        a, f"{{{SAML}}}Conditions", NotBefore=_iso(now), NotOnOrAfter=_iso(now + dt.timedelta(seconds=lifetime_s))
    )
    _sub(_sub(cond, f"{{{SAML}}}AudienceRestriction"), f"{{{SAML}}}Audience", audience)
    stmt = _sub(a, f"{{{SAML}}}AttributeStatement")
    attr = _sub(stmt, f"{{{SAML}}}Attribute", Name=CVR_ATTRIBUTE)
    _sub(attr, f"{{{SAML}}}AttributeValue", cvr)
    if system_uuid:
        attr = _sub(stmt, f"{{{SAML}}}Attribute", Name=SYSTEM_ATTRIBUTE)
        _sub(attr, f"{{{SAML}}}AttributeValue", system_uuid)
    signer = XMLSigner(c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signed = signer.sign(a, key=sts_key, cert=[sts_cert], reference_uri=f"#{aid}")
    return signed


def verify_assertion(
    assertion: etree._Element | bytes | str,
    *,
    sts_cert: x509.Certificate,
    now: dt.datetime | None = None,
    skew_s: int = 300,
    audiences: set[str] | None = None,
) -> Claims:
    """Verify the STS signature (exactly one reference, to the assertion itself), the validity window and
    (when `audiences` is given) the audience; return the claims read from the signed bytes only."""
    if isinstance(assertion, str):
        assertion = assertion.encode()
    if isinstance(assertion, bytes):
        try:
            root = etree.fromstring(
                assertion, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
            )
        except etree.XMLSyntaxError as e:
            raise TokenError("malformed", f"the token is not well-formed XML: {e}") from None
    else:
        root = etree.fromstring(etree.tostring(assertion))  # detach: verify the assertion on its own
    if root.tag != f"{{{SAML}}}Assertion":
        raise TokenError("malformed", f"the token is {root.tag}, not a SAML 2.0 Assertion")
    aid = root.get("ID")
    if not aid:
        raise TokenError("malformed", "the assertion has no ID")
    if root.find(f"{{{DS}}}Signature") is None:
        raise TokenError("signature", "the assertion is not signed")
    try:
        result = XMLVerifier().verify(
            root,
            x509_cert=sts_cert,
            expect_config=SignatureConfiguration(location="./", expect_references=1),
        )
    except InvalidDigest as e:
        raise TokenError("signature", f"the assertion was altered after the STS signed it ({e})") from None
    except (InvalidSignature, InvalidCertificate) as e:
        raise TokenError("signature", f"the assertion's signature is not the simulator STS's: {e}") from None
    except InvalidInput as e:
        raise TokenError("malformed", f"the assertion's signature cannot be read: {e}") from None
    except etree.DocumentInvalid as e:
        raise TokenError("malformed", f"the assertion's ds:Signature does not follow XML Signature: {e}") from None
    except Exception:  # noqa: BLE001 - anything else signxml trips over is a signature it cannot read
        raise TokenError("malformed", "the assertion's ds:Signature cannot be read (incomplete or empty)") from None
    signed = result.signed_xml
    if signed is None or signed.tag != f"{{{SAML}}}Assertion" or signed.get("ID") != aid:
        raise TokenError("signature", "the signature does not cover the assertion itself")
    claims = _claims(signed)
    now = now or dt.datetime.now(dt.UTC)
    skew = dt.timedelta(seconds=skew_s)
    if now + skew < claims.not_before:
        raise TokenError("expired", f"the token is not valid before {_iso(claims.not_before)} (now {_iso(now)})")
    if now - skew >= claims.not_on_or_after:
        raise TokenError("expired", f"the token expired at {_iso(claims.not_on_or_after)} (now {_iso(now)})")
    if audiences is not None and claims.audience not in audiences:
        raise TokenError(
            "audience",
            f"the token is for audience '{claims.audience}', not for {' or '.join(sorted(audiences)) or '(none)'}",
        )
    return claims


def _claims(a: etree._Element) -> Claims:
    cond = a.find("saml:Conditions", _NS)
    if cond is None:
        raise TokenError("malformed", "the assertion has no Conditions")
    audience = a.findtext("saml:Conditions/saml:AudienceRestriction/saml:Audience", namespaces=_NS)
    if not audience:
        raise TokenError("malformed", "the assertion has no AudienceRestriction/Audience")
    cvr = None
    system_uuid = None
    for attr in a.findall("saml:AttributeStatement/saml:Attribute", _NS):
        value = attr.findtext("saml:AttributeValue", namespaces=_NS)
        if attr.get("Name") == CVR_ATTRIBUTE:
            cvr = (value or "").strip()
        elif attr.get("Name") == SYSTEM_ATTRIBUTE:
            system_uuid = (value or "").strip()
    holder = None
    for conf in a.findall("saml:Subject/saml:SubjectConfirmation", _NS):
        if conf.get("Method") == HOLDER_OF_KEY:
            text = conf.findtext(
                "saml:SubjectConfirmationData/ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=_NS
            )
            if text:
                try:
                    holder = load_cert(text.strip())
                except ValueError as e:
                    raise TokenError("malformed", f"the holder-of-key certificate cannot be read: {e}") from None
    return Claims(
        id=a.get("ID", ""),
        issuer=(a.findtext("saml:Issuer", namespaces=_NS) or "").strip(),
        audience=audience.strip(),
        cvr=cvr,
        not_before=_parse_time(cond.get("NotBefore"), "Conditions/@NotBefore"),
        not_on_or_after=_parse_time(cond.get("NotOnOrAfter"), "Conditions/@NotOnOrAfter"),
        holder_cert=holder,
        subject=(a.findtext("saml:Subject/saml:NameID", namespaces=_NS) or "").strip(),
        system_uuid=system_uuid,
    )
