"""Verification on the simulator's side: which system a certificate belongs to, the pipeline's
authenticator (certificate and token models), the Beskedfordeler `token` check and access tokens."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from simulator.security.pki import Pki, cert_matches, fingerprint, init_pki, is_fingerprint_of, load_cert
from simulator.security.saml import SAML, Claims, TokenError, verify_assertion
from simulator.security.wss import WSU, security_header, verify_signature
from simulator.serviceplatform.routefiles import ServiceDef, SystemDef
from simulator.serviceplatform.types import AuthResult, SoapRequest
from simulator.soap.context import RequestContext
from simulator.soap.envelope import Envelope
from simulator.soap.errors import ErrorCode, SoapFaultError

log = logging.getLogger(__name__)

DEFAULT_BESKEDFORDELER_ENTITY_ID = "urn:simulator:entity:Beskedfordeler"
"""Audience of Beskedfordeler tokens when no `direction: beskedfordeler` service in routes/ names one."""

TOKEN_CODES = {
    "missing": ErrorCode.TOKEN_MISSING,
    "malformed": ErrorCode.TOKEN_MALFORMED,
    "signature": ErrorCode.TOKEN_SIGNATURE,
    "expired": ErrorCode.TOKEN_EXPIRED,
    "audience": ErrorCode.TOKEN_AUDIENCE,
    "municipality": ErrorCode.TOKEN_OTHER_MUNICIPALITY,
    "proof": ErrorCode.TOKEN_PROOF,
    "system": ErrorCode.CLIENT_CERT_UNKNOWN,
}


def entity_id_of(service: ServiceDef) -> str:
    """The service's entityID (the token audience): `entity_id` in services.yaml, else the simulator's own
    `urn:simulator:entity:<Area>/<Service>/<version>`."""
    return service.entity_id or f"urn:simulator:entity:{service.area}/{service.name}/{service.version}"


class Security:
    """The runtime's security material (`Security`): STS key, CA, certificate → system index."""

    def __init__(self, rt) -> None:
        self.rt = rt
        self.settings = rt.settings
        self.pki = Pki(self.settings.certs_dir)
        self.sts_cert: x509.Certificate | None = None
        self.sts_key: rsa.RSAPrivateKey | None = None
        self.issued: dict[str, str] = {}  # fingerprint → system key, for certificates the test PKI issued

    @property
    def mode(self) -> str:
        return self.settings.security_mode

    @property
    def loaded(self) -> bool:
        return self.sts_key is not None

    def load(self, *, create: bool = True) -> list[str]:
        """Load the STS key and the issued system certificates; create the test PKI first if it is missing."""
        written: list[str] = []
        custom_sts = self.settings.sts_certfile and self.settings.sts_keyfile
        if create and (not self.pki.exists or (not custom_sts and not self.pki.sts_cert.exists())):
            _, written = init_pki(self.pki.dir, self.rt.routes.systems.values())
            log.warning("created the test PKI in %s (%d files)", self.pki.dir, len(written))
        cert_path = self.settings.sts_certfile or self.pki.sts_cert
        key_path = self.settings.sts_keyfile or self.pki.sts_key
        self.sts_cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"the STS key {key_path} is not an RSA key")
        self.sts_key = key
        self.issued = {fingerprint(c): k for k, c in self.pki.system_certs().items() if k in self.rt.routes.systems}
        return written

    # -- identification ------------------------------------------------------------------------------

    def system_for_cert(self, cert: x509.Certificate) -> SystemDef | None:
        """The system whose `certificate:` (fingerprint, serial or subject) names the certificate; for a system
        without one, the certificate the test PKI issued to it."""
        systems = self.rt.routes.systems
        for s in systems.values():
            if s.certificate and cert_matches(cert, str(s.certificate)):
                if is_fingerprint_of(cert, str(s.certificate)):
                    return s  # named by fingerprint: trusted as it is
                if self.issued_by_trusted_ca(cert):
                    return s  # named by subject or serial: must also come from a trusted CA
        key = self.issued.get(fingerprint(cert))
        if key and key in systems and not systems[key].certificate:
            return systems[key]
        return None

    def trusted_cas(self) -> list[x509.Certificate]:
        path = self.settings.tls_ca_file or self.pki.ca_cert
        return x509.load_pem_x509_certificates(path.read_bytes()) if path.exists() else []

    def issued_by_trusted_ca(self, cert: x509.Certificate) -> bool:
        for ca in self.trusted_cas():
            try:
                cert.verify_directly_issued_by(ca)
                return True
            except (ValueError, TypeError, InvalidSignature):
                continue
        return False

    def service_for_entity(self, entity_id: str) -> ServiceDef | None:
        for s in self.rt.routes.services.values():
            if entity_id_of(s) == entity_id:
                return s
        return None

    def besked_audiences(self) -> set[str]:
        found = {entity_id_of(s) for s in self.rt.routes.services.values() if s.direction == "beskedfordeler"}
        return found | {DEFAULT_BESKEDFORDELER_ENTITY_ID}

    def may_issue(self, system: SystemDef, cvr: str, entity_id: str) -> str | None:
        """Why the STS must refuse a token for (system, municipality, entityID), or None."""
        agreements = [
            a
            for a in self.rt.routes.agreements.values()
            if a.system == system.key and a.municipality == cvr and a.active
        ]
        service = self.service_for_entity(entity_id)
        if service is not None:
            if not any(a.service == service.name for a in agreements):
                return (
                    f"system '{system.key}' has no active service agreement with municipality {cvr} "
                    f"for {service.name} ({entity_id})"
                )
            return None
        if entity_id in self.besked_audiences():
            bf = {s.name for s in self.rt.routes.services.values() if s.direction == "beskedfordeler"}
            if not any((a.service in bf) if bf else True for a in agreements):
                return f"system '{system.key}' has no active agreement with municipality {cvr} for Beskedfordeleren"
            return None
        return f"no service has the entityID '{entity_id}' (AppliesTo)"

    # -- tokens ----------------------------------------------------------------------------------------

    def verify_token(
        self,
        assertion: etree._Element | bytes | str,
        *,
        audiences: set[str],
        client_cert: str | bytes | None = None,
        now: dt.datetime | None = None,
    ) -> tuple[Claims, SystemDef]:
        """Verify an assertion (signature, window, audience, holder-of-key = TLS client certificate when one was
        presented) and name the system it was issued to. Raises TokenError."""
        if self.sts_cert is None:
            raise TokenError("signature", "the simulator's STS is not set up (security_mode is off)")
        claims = verify_assertion(
            assertion, sts_cert=self.sts_cert, now=now, audiences=audiences, skew_s=self.settings.security_clock_skew_s
        )
        if claims.issuer != self.settings.sts_issuer:
            raise TokenError(
                "signature", f"the token's Issuer '{claims.issuer}' is not this STS ('{self.settings.sts_issuer}')"
            )
        if claims.holder_cert is None:
            raise TokenError("proof", "the token has no holder-of-key certificate (SubjectConfirmationData/KeyInfo)")
        if client_cert is not None and fingerprint(load_cert(client_cert)) != fingerprint(claims.holder_cert):
            raise TokenError("proof", "the TLS client certificate is not the token's holder-of-key certificate")
        if not claims.cvr:
            raise TokenError("malformed", "the token has no dk:gov:saml:attribute:CvrNumberIdentifier claim")
        system = self.system_for_cert(claims.holder_cert)
        if system is None:
            raise TokenError("system", f"the token's certificate ({claims.subject}) belongs to no it-system")
        return claims, system


class Authenticator:
    """The pipeline hook (`Pipeline.authenticator`): certificate and/or token model for calls from outside
    (origin "http"); the simulator's own calls (KY, …) are trusted."""

    def __init__(self, security: Security) -> None:
        self.security = security

    async def authenticate(
        self, request: SoapRequest, envelope: Envelope, ctx: RequestContext, service: ServiceDef
    ) -> AuthResult | None:
        if request.origin != "http":
            return None
        mode = self.security.mode
        if mode == "off":
            return None
        sec = security_header(envelope.root)
        assertion = sec.find(f"{{{SAML}}}Assertion") if sec is not None else None
        if mode == "token" or (mode == "both" and assertion is not None):
            return self._token(request, envelope, sec, assertion, service)
        return self._certificate(request, mode)

    def _certificate(self, request: SoapRequest, mode: str) -> AuthResult:
        if request.client_cert is None:
            how = " or a SAML token in a WS-Security header" if mode == "both" else ""
            raise SoapFaultError(
                ErrorCode.CLIENT_CERT_MISSING,
                f"security model '{mode}': the call needs a TLS client certificate{how}; none was presented"
                + ("" if self.security.settings.tls_certfile else " (the simulator is not serving HTTPS)"),
            )
        try:
            cert = load_cert(request.client_cert)
        except ValueError as e:
            raise SoapFaultError(ErrorCode.CLIENT_CERT_UNKNOWN, f"the client certificate cannot be read: {e}") from None
        system = self.security.system_for_cert(cert)
        if system is None:
            raise SoapFaultError(
                ErrorCode.CLIENT_CERT_UNKNOWN,
                f"the client certificate {cert.subject.rfc4514_string()} (SHA-256 {fingerprint(cert)}) "
                "belongs to no it-system in systems.yaml",
            )
        return AuthResult(model="certificate", system=system.key)

    def _token(self, request: SoapRequest, envelope: Envelope, sec, assertion, service: ServiceDef) -> AuthResult:
        try:
            if assertion is None:
                raise TokenError(
                    "missing", "security model 'token': the call carries no SAML assertion in soap:Header/wsse:Security"
                )
            found = len(envelope.header.findall(f".//{{{SAML}}}Assertion"))
            if found != 1:  # what is forwarded to the provider carries only the assertion verified here
                raise TokenError("malformed", f"the SOAP header must carry exactly one saml:Assertion, not {found}")
            claims, system = self.security.verify_token(
                assertion, audiences={entity_id_of(service)}, client_cert=request.client_cert
            )
            if self.security.settings.security_require_message_signature:
                ts = sec.find(f"{{{WSU}}}Timestamp")
                if ts is None:
                    raise TokenError("proof", "the Security header has no wsu:Timestamp")
                verify_signature(
                    envelope.root,
                    sec,
                    claims.holder_cert,
                    required={"Body": envelope.body, "Timestamp": ts},
                    now=dt.datetime.now(dt.UTC),
                    skew_s=self.security.settings.security_clock_skew_s,
                    max_lifetime_s=self.security.settings.security_timestamp_max_s,
                )
        except TokenError as e:
            raise SoapFaultError(TOKEN_CODES[e.kind], e.text) from None
        return AuthResult(model="token", system=system.key, municipality=claims.cvr)


# -- access tokens (REST "Holder-of-key") ---------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_access_token(security: Security, claims: Claims, system: SystemDef, *, lifetime_s: int = 3600) -> str:
    """A JWT (RS256, signed by the STS key) bound to the holder-of-key certificate (`cnf.x5t#S256`)."""
    assert security.sts_key is not None and claims.holder_cert is not None
    now = int(dt.datetime.now(dt.UTC).timestamp())
    x5t = _b64url(bytes.fromhex(fingerprint(claims.holder_cert)))
    payload = {
        "iss": security.settings.sts_issuer,
        "aud": claims.audience,
        "sub": system.uuid,
        "cvr": claims.cvr,
        "iat": now,
        "exp": now + lifetime_s,
        "cnf": {"x5t#S256": x5t},
    }
    head = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
    sig = security.sts_key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{_b64url(sig)}"


def verify_access_token(rt, token: str, *, client_cert: str | bytes | None = None) -> dict[str, Any]:
    """Verify an access token from the exchange endpoint (`Authorization: Holder-of-key <token>`): signature,
    expiry, and the holder-of-key binding when `client_cert` is given. Returns its claims; raises TokenError."""
    security: Security | None = rt.find(Security)
    if security is None or security.sts_cert is None:
        raise TokenError("signature", "the simulator's STS is not set up (security_mode is off)")
    token = token.removeprefix("Holder-of-key ").strip()
    try:
        head, body, sig = token.split(".")
        security.sts_cert.public_key().verify(
            _unb64url(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        claims = json.loads(_unb64url(body))
    except InvalidSignature:
        raise TokenError("signature", "the access token's signature is not the simulator STS's") from None
    except ValueError as e:
        raise TokenError("malformed", f"the access token cannot be read: {e}") from None
    if claims.get("exp", 0) <= dt.datetime.now(dt.UTC).timestamp():
        raise TokenError("expired", "the access token has expired")
    if client_cert is not None:
        x5t = _b64url(bytes.fromhex(fingerprint(load_cert(client_cert))))
        if claims.get("cnf", {}).get("x5t#S256") != x5t:
            raise TokenError("proof", "the TLS client certificate is not the access token's holder-of-key")
    return claims
