"""Serving the simulator over TLS with client certificates, and handing the client certificate to the app.

uvicorn does not put the TLS peer certificate in the ASGI scope, so `TLSHttpProtocol` (uvicorn's own HTTP
protocol, subclassed) reads it from the connection's `ssl_object` when the connection is made and adds the
ASGI TLS extension (`scope["extensions"]["tls"]`, with `client_cert_chain` as PEM strings) to every request
on that connection."""

from __future__ import annotations

import ssl
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from simulator.config import Settings


def _pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()


class TLSHttpProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol plus the ASGI TLS extension."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        der = ssl_object.getpeercert(binary_form=True)
        ext: dict[str, Any] = {
            "server_cert": None,
            "client_cert_chain": [_pem(der)] if der else [],
            "client_cert_name": None,
            "client_cert_error": None,
            "tls_version": None,
            "cipher_suite": None,
        }
        cipher = ssl_object.cipher()
        if cipher:
            ext["cipher_suite"] = cipher[0]
        if der:
            ext["client_cert_name"] = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        app = self.app

        async def with_tls(scope, receive, send):
            if scope.get("type") in ("http", "websocket"):
                scope = dict(scope)
                scope["extensions"] = {**(scope.get("extensions") or {}), "tls": ext}
            return await app(scope, receive, send)

        self.app = with_tls


def uvicorn_tls_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run`/`uvicorn.Config` to serve HTTPS with optional client certificates
    (verified against `tls_ca_file`, default `certs_dir/ca.pem`); {} when `tls_certfile` is not set."""
    if not settings.tls_certfile:
        return {}
    ca = settings.tls_ca_file or (settings.certs_dir / "ca.pem")
    options: dict[str, Any] = {
        "ssl_certfile": str(settings.tls_certfile),
        "ssl_keyfile": str(settings.tls_keyfile) if settings.tls_keyfile else None,
        "http": TLSHttpProtocol,
    }
    if ca.exists():
        options |= {"ssl_ca_certs": str(ca), "ssl_cert_reqs": ssl.CERT_OPTIONAL}
    return options
