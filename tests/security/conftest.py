"""Fixtures for the security models: a test PKI for the Ping route table, a simulator with a built-in Ping
handler in a chosen security mode (in-process or live over TLS), and token helpers."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from simulator.app import create_app
from simulator.security.pki import Pki, _name, cert_pem, init_pki, issue, key_pem
from simulator.security.tls import uvicorn_tls_options
from simulator.serviceplatform import read_route_files
from simulator.serviceplatform.types import SoapCall
from tests.conftest import LiveServer, free_port, make_settings
from tests.serviceplatform.pingservice import NS, write_routes

OFFICIAL_RST_TEMPLATE = "itk-dev-serviceplatformen/src/Service/SF1514/SAMLTokenSoapTemplate.xml"
SPF = "http://serviceplatformen.dk/xml/schemas/ServiceplatformFault/1/"
PING_PATH = "/service/Test/Ping/1"
PING_ENTITY = "urn:simulator:entity:Test/Ping/1"
OTHER_ENTITY = "urn:simulator:entity:Test/Other/1"


async def ping_handler(call: SoapCall) -> etree._Element:
    out = etree.Element(f"{{{NS}}}PingResponse", nsmap={"t": NS})
    etree.SubElement(out, f"{{{NS}}}Tekst").text = call.payload.findtext(f"{{{NS}}}Tekst")
    etree.SubElement(out, f"{{{NS}}}Fra").text = f"{call.system.key}@{call.municipality}"
    return out


@dataclass
class Credentials:
    cert_path: Path
    key_path: Path

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_path.read_bytes())

    @property
    def key(self):
        return serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)

    @property
    def pair(self) -> tuple[str, str]:
        return str(self.cert_path), str(self.key_path)


@dataclass
class TestPki:
    pki: Pki
    routes: Path
    caller: Credentials
    stranger: Credentials
    unknown: Credentials  # issued by the test CA, but to no system


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory) -> TestPki:
    base = tmp_path_factory.mktemp("security")
    routes = write_routes(base / "routes", "builtin:ping")
    pki, _ = init_pki(base / "certs", read_route_files(routes).systems)
    ca_cert, ca_key = pki.load_ca()
    cert, key = issue(ca_key, ca_cert, _name("Nobody's system"), client=True)
    (base / "unknown.pem").write_bytes(cert_pem(cert))
    (base / "unknown.key").write_bytes(key_pem(key))
    return TestPki(
        pki=pki,
        routes=routes,
        caller=Credentials(pki.system_cert("caller"), pki.system_key("caller")),
        stranger=Credentials(pki.system_cert("stranger"), pki.system_key("stranger")),
        unknown=Credentials(base / "unknown.pem", base / "unknown.key"),
    )


def security_settings(tmp_path, test_pki: TestPki, messages_dir, **overrides):
    values = dict(components=["security"], certs_dir=test_pki.pki.dir, security_mode="token")
    values.update(overrides)
    return make_settings(tmp_path, test_pki.routes, messages_dir, **values)


@pytest.fixture
def secure_sim(tmp_path, test_pki, messages_dir, sim_factory):
    """`async with secure_sim(security_mode=…) as sim:` — in-process (plain HTTP) with the Ping handler."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def factory(**overrides):
        values = (
            dict(components=["security"], certs_dir=test_pki.pki.dir, security_mode="token", routes_dir=test_pki.routes)
            | overrides
        )
        async with sim_factory(**values) as sim:
            sim.rt.handlers["ping"] = ping_handler
            yield sim

    return factory


@pytest.fixture
def tls_live(tmp_path, test_pki, messages_dir):
    """`with tls_live(security_mode=…) as live:` — the simulator on a real port over HTTPS with optional client
    certificates (the test CA), through simulator.security.tls."""

    @contextmanager
    def factory(**overrides):
        port = free_port()
        settings = security_settings(
            tmp_path,
            test_pki,
            messages_dir,
            port=port,
            tls_certfile=test_pki.pki.server_cert,
            tls_keyfile=test_pki.pki.server_key,
            **overrides,
        )
        app = create_app(settings)
        app.runtime.handlers["ping"] = ping_handler
        with LiveServer(app, port=port, **uvicorn_tls_options(settings)) as server:
            yield server

    return factory


def fault_code(body: bytes) -> str | None:
    code = etree.fromstring(body).find(f".//{{{SPF}}}ErrorCode")
    return code.text if code is not None else None
