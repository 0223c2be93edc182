"""`simulator certs init`: the test PKI and its fingerprints."""

from __future__ import annotations

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from simulator.security.cli import certs_app
from simulator.security.pki import cert_matches, fingerprint
from tests.conftest import DEMO_ROUTES


def test_certs_init_writes_a_ca_server_sts_and_a_certificate_per_system(tmp_path):
    out = tmp_path / "certs"
    r = CliRunner().invoke(certs_app, ["init", "--dir", str(out), "--routes", str(DEMO_ROUTES)])
    assert r.exit_code == 0, r.output
    ca = x509.load_pem_x509_certificate((out / "ca.pem").read_bytes())
    systems = yaml.safe_load((DEMO_ROUTES / "systems.yaml").read_text())["systems"]
    index = yaml.safe_load((out / "fingerprints.yaml").read_text())["systems"]
    assert set(index) == {s["key"] for s in systems}
    for s in systems:
        cert = x509.load_pem_x509_certificate((out / "systems" / f"{s['key']}.pem").read_bytes())
        cert.verify_directly_issued_by(ca)
        assert index[s["key"]]["fingerprint"] == fingerprint(cert)
        assert cert_matches(cert, index[s["key"]]["subject"]) and cert_matches(
            cert, f"serial:{index[s['key']]['serial']}"
        )
        assert f"UI:{s['uuid']}" in cert.subject.rfc4514_string()
    server = x509.load_pem_x509_certificate((out / "server.pem").read_bytes())
    server.verify_directly_issued_by(ca)
    assert (out / "sts.key").stat().st_mode & 0o077 == 0  # private keys are private

    again = CliRunner().invoke(certs_app, ["init", "--dir", str(out), "--routes", str(DEMO_ROUTES)])
    assert "everything exists already" in again.output
    assert (out / "ca.pem").read_bytes() == ca.public_bytes(serialization.Encoding.PEM)  # the CA is kept
