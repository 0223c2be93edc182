"""Fixtures for the core: a Ping provider on a real port and a simulator routed to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request, Response
from lxml import etree

from tests.conftest import LiveServer
from tests.serviceplatform.pingservice import NS, write_routes

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def ping_provider() -> FastAPI:
    """A provider (the debtor system's side) that answers Ping/Ekko and remembers what it got."""
    app = FastAPI()
    app.state.received = []

    @app.post("/ping")
    async def ping(request: Request) -> Response:
        body = await request.body()
        app.state.received.append((request.headers.get("soapaction"), body))
        req = etree.fromstring(body)
        payload = req.find(f"{{{SOAP}}}Body")[0]
        text = payload.findtext(f"{{{NS}}}Tekst")
        name = etree.QName(payload).localname.replace("Request", "Response")
        xml = (
            f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><t:{name} xmlns:t="{NS}">'
            f"<t:Tekst>{text}</t:Tekst><t:Fra>provider</t:Fra></t:{name}></soap:Body></soap:Envelope>"
        )
        return Response(xml, media_type="text/xml; charset=utf-8")

    @app.post("/not-soap")
    async def not_soap() -> Response:
        return Response("<html>oops</html>", media_type="text/html", status_code=502)

    return app


@pytest.fixture
def provider() -> Iterator[LiveServer]:
    app = ping_provider()
    with LiveServer(app) as server:
        server.app = app
        yield server


@pytest.fixture
def ping_routes(tmp_path, provider):
    return write_routes(tmp_path / "ping-routes", f"{provider.url}/ping")


@pytest.fixture
def sim_factory(sim_factory):
    """The core on its own: no KY, Beskedfordeler or Klassifikation components."""

    def factory(**overrides):
        return sim_factory(**({"components": []} | overrides))

    return factory


@pytest.fixture
def live_factory(live_factory):
    def factory(**overrides):
        return live_factory(**({"components": []} | overrides))

    return factory
