"""The simulator's test PKI: a local CA, the simulator's TLS server certificate, the mock STS's signing
certificate and one client (function) certificate per it-system in `routes/`.

Layout of the certificate folder (`SIMULATOR_CERTS_DIR`, default `./var/certs`)::

    ca.pem, ca.key                    the test CA (trust anchor for client and server certificates)
    server.pem, server.key            the simulator's TLS server certificate (localhost, 127.0.0.1, …)
    sts.pem, sts.key                  the mock STS's token-signing certificate
    systems/<key>.pem, <key>.key      a client certificate per it-system (subject CN = the system's name,
                                      serialNumber = UI:<system uuid>)
    fingerprints.yaml                 system key → SHA-256 fingerprint, subject, serial (paste into systems.yaml)

Keys are unencrypted RSA 2048: this is a test PKI and nothing else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from simulator.serviceplatform.routefiles import SystemDef

CA_NAME = "KY debtor simulator test CA"
_DAY = dt.timedelta(days=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(data: str | bytes | x509.Certificate) -> x509.Certificate:
    """A certificate from PEM, DER or base64 DER (as in a BinarySecurityToken or X509Certificate element)."""
    if isinstance(data, x509.Certificate):
        return data
    raw = data.encode() if isinstance(data, str) else data
    if b"-----BEGIN" in raw:
        return x509.load_pem_x509_certificate(raw)
    if raw[:1] == b"\x30":
        return x509.load_der_x509_certificate(raw)
    import base64

    return x509.load_der_x509_certificate(base64.b64decode(b"".join(raw.split()), validate=True))


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint of the DER encoding, lower-case hex without separators."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def b64_der(cert: x509.Certificate) -> str:
    import base64

    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _name(cn: str, *, serial_number: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DK"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "KY debtor simulator (test only)"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ]
    if serial_number:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number))
    return x509.Name(attrs)


def issue(
    ca_key: rsa.RSAPrivateKey | None,
    ca_cert: x509.Certificate | None,
    subject: x509.Name,
    *,
    key: rsa.RSAPrivateKey | None = None,
    days: int = 825,
    is_ca: bool = False,
    server_names: Iterable[str] = (),
    client: bool = False,
    not_before: dt.datetime | None = None,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """Issue a certificate (self-signed when `ca_key` is None)."""
    key = key or new_key()
    start = not_before or (_now() - _DAY)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject if ca_cert is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        names = list(server_names)
        if names:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
            sans: list[x509.GeneralName] = []
            for n in names:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(n)))
                except ValueError:
                    sans.append(x509.DNSName(n))
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if ca_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False
        )
    signer = ca_key or key
    return builder.sign(signer, hashes.SHA256()), key


def system_subject(system: SystemDef) -> x509.Name:
    return _name(system.name[:64], serial_number=f"UI:{system.uuid}")


@dataclass(frozen=True)
class Pki:
    """Paths of the test PKI in one folder."""

    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.dir / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.dir / "server.key"

    @property
    def sts_cert(self) -> Path:
        return self.dir / "sts.pem"

    @property
    def sts_key(self) -> Path:
        return self.dir / "sts.key"

    def system_cert(self, key: str) -> Path:
        return self.dir / "systems" / f"{key}.pem"

    def system_key(self, key: str) -> Path:
        return self.dir / "systems" / f"{key}.key"

    @property
    def exists(self) -> bool:
        return self.ca_cert.exists() and self.ca_key.exists()

    def load_ca(self) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return cert, key

    def system_certs(self) -> dict[str, x509.Certificate]:
        """Client certificates issued to systems, by system key."""
        folder = self.dir / "systems"
        if not folder.is_dir():
            return {}
        return {p.stem: x509.load_pem_x509_certificate(p.read_bytes()) for p in sorted(folder.glob("*.pem"))}


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write a file; a private one (a key) is created 0600 before any byte is in it (an existing one is made
    0600 first), so it is never readable by others, whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not private:
        path.write_bytes(data)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def init_pki(
    directory: Path,
    systems: Iterable[SystemDef],
    *,
    server_names: Iterable[str] = ("localhost", "127.0.0.1", "::1"),
    force: bool = False,
) -> tuple[Pki, list[str]]:
    """Create whatever is missing (everything with `force`); returns the PKI and what was written."""
    pki = Pki(Path(directory))
    written: list[str] = []
    if force or not pki.exists:
        cert, key = issue(None, None, _name(CA_NAME), is_ca=True, days=3650)
        _write(pki.ca_key, key_pem(key), private=True)
        _write(pki.ca_cert, cert_pem(cert))
        written += [str(pki.ca_cert)]
        force = True  # everything below must chain to the new CA
    ca_cert, ca_key = pki.load_ca()
    if force or not pki.server_cert.exists():
        cert, key = issue(ca_key, ca_cert, _name("KY debtor simulator"), server_names=server_names)
        _write(pki.server_key, key_pem(key), private=True)
        _write(pki.server_cert, cert_pem(cert))
        written.append(str(pki.server_cert))
    if force or not pki.sts_cert.exists():
        cert, key = issue(ca_key, ca_cert, _name("KY debtor simulator mock STS"))
        _write(pki.sts_key, key_pem(key), private=True)
        _write(pki.sts_cert, cert_pem(cert))
        written.append(str(pki.sts_cert))
    for system in systems:
        if force or not pki.system_cert(system.key).exists():
            cert, key = issue(ca_key, ca_cert, system_subject(system), client=True)
            _write(pki.system_key(system.key), key_pem(key), private=True)
            _write(pki.system_cert(system.key), cert_pem(cert))
            written.append(str(pki.system_cert(system.key)))
    index = {
        key: {
            "fingerprint": fingerprint(c),
            "subject": c.subject.rfc4514_string(),
            "serial": format(c.serial_number, "x"),
        }
        for key, c in pki.system_certs().items()
    }
    _write(
        pki.dir / "fingerprints.yaml", yaml.safe_dump({"systems": index}, sort_keys=True, allow_unicode=True).encode()
    )
    return pki, written


def _norm_hex(value: str) -> str:
    return value.replace(":", "").replace(" ", "").lower()


def is_fingerprint_of(cert: x509.Certificate, spec: str) -> bool:
    """Is `spec` the certificate's SHA-256 or SHA-1 fingerprint (hex, any case, colons allowed)?"""
    der = cert.public_bytes(serialization.Encoding.DER)
    return _norm_hex(spec) in (hashlib.sha256(der).hexdigest(), hashlib.sha1(der).hexdigest())  # noqa: S324


def cert_matches(cert: x509.Certificate, spec: str) -> bool:
    """Does `spec` (a `certificate:` value in systems.yaml) name this certificate?

    Accepted: the SHA-256 or SHA-1 fingerprint (hex, any case, colons allowed), the serial number (`serial:<hex>`
    or `serial:<decimal>`), or the subject as an RFC 4514 string (`CN=…,O=…`) or just its CN."""
    spec = spec.strip()
    if not spec:
        return False
    if is_fingerprint_of(cert, spec):
        return True
    if spec.lower().startswith("serial:"):
        value = spec[7:].strip()
        try:
            return int(_norm_hex(value), 16) == cert.serial_number or int(value, 10) == cert.serial_number
        except ValueError:
            return False
    if "=" in spec:
        try:
            wanted = x509.Name.from_rfc4514_string(spec)
        except ValueError:
            return False
        return _attrs(wanted) == _attrs(cert.subject)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return bool(cns) and cns[0].value == spec


def _attrs(name: x509.Name) -> frozenset[tuple[str, str]]:
    return frozenset((a.oid.dotted_string, str(a.value)) for a in name)
