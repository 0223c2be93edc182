"""Who sends to (or pulls from) the Beskedfordeler under a security model: the `token` header (an STS
holder-of-key assertion) with proof of possession of its key, or the TLS client certificate."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import zlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from simulator.security.auth import TOKEN_CODES, Security
from simulator.security.pki import fingerprint, load_cert
from simulator.security.saml import Claims, TokenError
from simulator.serviceplatform.routefiles import SystemDef
from simulator.soap.errors import ErrorCode

TOKEN_HEADER = "token"
SIGNATURE_HEADER = "token-signature"
"""The simulator's proof of possession on a Beskedfordeler request without a TLS client certificate:
base64 of an RSA-SHA256 (PKCS#1 v1.5) or ECDSA-SHA256 signature, made with the token's holder-of-key private
key, over the message body (a publish) or over `<METHOD> <path>[?<query>]\\n<body>` (an HTTP pull request)."""


class BeskedTokenError(TokenError):
    """A refused Beskedfordeler credential: `code` (SP-17x), and `status_kode` for the StandardRetur
    (41 token expired, 49 any other refusal)."""

    def __init__(self, kind: str, text: str, *, code: str | None = None) -> None:
        super().__init__(kind, text)
        self._code = code

    @property
    def code(self) -> str:
        return self._code or str(TOKEN_CODES[self.kind])

    @property
    def status_kode(self) -> int:
        return 41 if self.kind == "expired" else 49


MAX_TOKEN_BYTES = 64 * 1024
"""The largest `token` header taken (as sent); an STS assertion is a few kilobytes."""
MAX_INFLATED_BYTES = 256 * 1024
"""The most a compressed token may inflate to."""


def decode_token(value: str | bytes | None) -> bytes:
    """The assertion XML from a `token` header: raw XML, base64(XML) or base64(gzip/deflate(XML)); at most
    MAX_TOKEN_BYTES as sent and MAX_INFLATED_BYTES once inflated (a compressed token is never inflated further)."""
    if value is None or (isinstance(value, (bytes, str)) and not value.strip()):
        raise BeskedTokenError("missing", "no token (AMQP header 'token')")
    raw = value.encode() if isinstance(value, str) else bytes(value)
    if len(raw) > MAX_TOKEN_BYTES:
        raise BeskedTokenError("malformed", f"the token is {len(raw)} bytes; the limit is {MAX_TOKEN_BYTES} bytes")
    raw = raw.strip()
    if raw.startswith(b"<"):
        return raw
    try:
        data = base64.b64decode(b"".join(raw.split()), validate=True)
    except ValueError:
        raise BeskedTokenError("malformed", "the token is neither XML nor base64") from None
    if data[:2] == b"\x1f\x8b":
        return _inflate(data, zlib.MAX_WBITS | 16, "gzip")
    if not data.lstrip().startswith(b"<"):
        return _inflate(data, -zlib.MAX_WBITS, "deflate")
    return data


def _inflate(data: bytes, wbits: int, what: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, MAX_INFLATED_BYTES + 1)
    except zlib.error:
        if what == "gzip":
            raise BeskedTokenError("malformed", "the token is not valid gzip") from None
        raise BeskedTokenError("malformed", "the base64 token does not hold XML") from None
    if len(out) > MAX_INFLATED_BYTES or inflater.unconsumed_tail:
        raise BeskedTokenError(
            "malformed", f"the {what} token would inflate to more than {MAX_INFLATED_BYTES} bytes: refused"
        )
    return out


def _verify(
    security: Security | None,
    token: str | bytes | None,
    *,
    client_cert: str | bytes | None = None,
    audiences: set[str] | None = None,
    now: dt.datetime | None = None,
) -> tuple[Claims, SystemDef]:
    if security is None or not security.loaded:
        raise BeskedTokenError("signature", "the simulator's STS is not set up (security_mode is off)")
    xml = decode_token(token)
    try:
        claims, system = security.verify_token(
            xml, audiences=audiences or security.besked_audiences(), client_cert=client_cert, now=now
        )
    except BeskedTokenError:
        raise
    except TokenError as e:
        raise BeskedTokenError(e.kind, e.text) from None
    return claims, system


def verify_token_for_besked(
    rt,
    token: str | bytes | None,
    *,
    client_cert: str | bytes | None = None,
    audiences: set[str] | None = None,
    now: dt.datetime | None = None,
) -> tuple[str, str]:
    """Verify a Beskedfordeler `token` (AMQP header or HTTP header) and return (system key, CVR) of the sender.

    Checks the STS signature, validity window, audience (a `direction: beskedfordeler` service's entityID, or
    DEFAULT_BESKEDFORDELER_ENTITY_ID), holder-of-key = `client_cert` when given, that the certificate belongs to a
    system and that the CVR claim is present. Raises BeskedTokenError."""
    claims, system = _verify(rt.find(Security), token, client_cert=client_cert, audiences=audiences, now=now)
    return system.key, claims.cvr or ""


def sign_for_besked(data: bytes, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """The `token-signature` header value for `data` (client side: tests, examples, your own client)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()
    return base64.b64encode(key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify_possession(cert: x509.Certificate, signature: str | None, data: bytes) -> None:
    """Check a `token-signature` over `data` with the holder-of-key certificate; raises BeskedTokenError."""
    if not signature or not signature.strip():
        raise BeskedTokenError(
            "proof",
            "no proof of possession of the token's key: present its holder-of-key certificate as the TLS client "
            f"certificate, or send header {SIGNATURE_HEADER} (base64 RSA-SHA256 signature of the message with "
            "the token's key)",
        )
    try:
        value = base64.b64decode("".join(signature.split()), validate=True)
    except (ValueError, binascii.Error):
        raise BeskedTokenError("proof", f"header {SIGNATURE_HEADER} is not base64") from None
    public = cert.public_key()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(value, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(value, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise BeskedTokenError("proof", "the holder-of-key certificate has neither an RSA nor an EC key")
    except InvalidSignature:
        raise BeskedTokenError(
            "proof", f"header {SIGNATURE_HEADER} is not a signature of this message with the token's key"
        ) from None


class BeskedAuthenticator:
    """The Beskedfordeler's `sender_verifier` (every HTTP and AMQP request that acts as a system):

    - token model (and `both` when a token is sent): a valid Beskedfordeler token, and proof of possession of
      its key: the TLS client certificate is the holder-of-key certificate, or a `token-signature`;
    - certificate model (and `both` without a token): the TLS client certificate belongs to a system. An AMQP
      publisher's certificate is RabbitMQ's to check and never reaches the simulator, so AMQP needs a token."""

    def __init__(self, security: Security) -> None:
        self.security = security

    async def __call__(self, creds):
        from simulator.beskedfordeler.answers import BeskedRefusal, Proven

        try:
            token = creds.headers.get(TOKEN_HEADER)
            mode = self.security.mode
            if mode == "token" or creds.channel == "amqp" or (mode == "both" and token):
                claims, system = _verify(self.security, token, client_cert=creds.client_cert)
                if creds.client_cert is None and self.security.settings.security_besked_proof:
                    assert claims.holder_cert is not None  # verify_token refuses a token without one
                    verify_possession(claims.holder_cert, creds.headers.get(SIGNATURE_HEADER), creds.signed)
                return Proven(system=system.key, municipality=claims.cvr, model="token")
            return Proven(system=self._certificate(creds.client_cert, mode).key, municipality=None, model="certificate")
        except BeskedTokenError as e:
            raise BeskedRefusal(e.status_kode, e.code, e.text) from None

    def _certificate(self, client_cert: str | None, mode: str) -> SystemDef:
        if client_cert is None:
            raise BeskedTokenError(
                "system",
                f"security model '{mode}': the request needs a TLS client certificate"
                + (" or a token (header 'token')" if mode == "both" else "")
                + ("" if self.security.settings.tls_certfile else " (the simulator is not serving HTTPS)"),
                code=str(ErrorCode.CLIENT_CERT_MISSING),
            )
        try:
            cert = load_cert(client_cert)
        except ValueError as e:
            raise BeskedTokenError("system", f"the client certificate cannot be read: {e}") from None
        system = self.security.system_for_cert(cert)
        if system is None:
            raise BeskedTokenError(
                "system",
                f"the client certificate {cert.subject.rfc4514_string()} (SHA-256 {fingerprint(cert)}) belongs to "
                "no it-system in systems.yaml",
            )
        return system
