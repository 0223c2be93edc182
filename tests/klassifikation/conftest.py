"""Fixtures: a route table of the Klassifikation services alone, a debtor-side receiver on a real port
(the reference debtor system's sortiment router, with switchable failures), and fast retries."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request, Response

from examples.reference_debtor.sortiment import SortimentStore, sortiment_router
from tests.conftest import DEMO_MESSAGES, LiveServer, kombit_artefact

CVR = "11111111"
CVR2 = "22222222"
KLASSIFIKATION_SYSTEM = "c1a55e1f-0000-4000-8000-000000000001"
DEBTOR_SYSTEM = "c1a55e1f-0000-4000-8000-000000000002"
STRANGER_SYSTEM = "c1a55e1f-0000-4000-8000-000000000003"
SERVICES = {
    "Klasse": "d8fc386b-1585-4923-8918-979cfd54d4e1",
    "Facet": "021c1a36-47a9-494f-b52e-23f96969b4d1",
    "Klassifikation": "79a860b6-a11c-486d-9134-c4f30a54a527",
    "SortimentModtag": "c1a55e1f-0000-4000-8000-0000000000aa",
}
READ_AGREEMENT = {
    s: f"c1a55e1f-0000-4000-8001-00000000000{i}" for i, s in enumerate(("Klasse", "Facet", "Klassifikation"))
}
STRANGER_AGREEMENT = "c1a55e1f-0000-4000-8002-000000000000"
USER_UUID = str(uuid.UUID(int=7))
SF1510 = "OS2sync-OS2syncKlassifikation/ServiceContract"


def sf1510(relative: str) -> Path:
    """A file of the official SF1510 service contract (skips when the contracts folder is absent)."""
    return kombit_artefact(f"{SF1510}/{relative}")


SORTIMENT_DIR = DEMO_MESSAGES / "sortiments" / "ky-debitorsortiment"


def write_routes(directory: Path, receiver_url: str, subscriptions: list[tuple[str, str]] | None = None) -> Path:
    """Klasse/Facet/Klassifikation served by the simulator; SortimentModtag routed to the receiver."""
    directory.mkdir(parents=True, exist_ok=True)
    services = "\n".join(
        f"""  - {{name: {name}, area: Klassifikation, version: {5 if name != "SortimentModtag" else 1}, uuid: {u},
       direction: klassifikation, contract: {
            "sf1510/" + name if name != "SortimentModtag" else "klassifikation/SortimentModtag"
        }, validation: strict}}"""
        for name, u in SERVICES.items()
    )
    (directory / "services.yaml").write_text(f"services:\n{services}\n")
    (directory / "systems.yaml").write_text(f"""systems:
  - {{key: klassifikation, name: Klassifikation, uuid: {KLASSIFIKATION_SYSTEM}, kind: klassifikation}}
  - {{key: debitor, name: Debitorsystem, uuid: {DEBTOR_SYSTEM}, kind: debtor}}
  - {{key: stranger, name: Fremmed, uuid: {STRANGER_SYSTEM}, kind: debtor}}
""")
    (directory / "municipalities.yaml").write_text(f"""municipalities:
  - {{cvr: "{CVR}", name: Testkommune, debtor_system: debitor}}
  - {{cvr: "{CVR2}", name: Andenkommune, debtor_system: debitor}}
""")
    routes = [f'  - {{service: {s}, municipality: "*", target: "builtin:klassifikation"}}' for s in READ_AGREEMENT]
    routes += [
        f'  - {{service: SortimentModtag, municipality: "{c}", '
        f'target: "{receiver_url}/{c}/service/Klassifikation/SortimentModtag/1"}}'
        for c in (CVR, CVR2)
    ]
    (directory / "routes.yaml").write_text("routes:\n" + "\n".join(routes) + "\n")
    ags = [
        f'  - {{uuid: {u}, system: debitor, municipality: "{CVR}", service: {s}}}' for s, u in READ_AGREEMENT.items()
    ]
    # the stranger's agreement for the same municipality × service is inactive: reads without InvocationContext
    # find the debtor system's (tests switch it on to make the choice ambiguous)
    ags.append(
        f'  - {{uuid: {STRANGER_AGREEMENT}, system: stranger, municipality: "{CVR}", service: Klasse, active: false}}'
    )
    ags += [
        f'  - {{uuid: c1a55e1f-0000-4000-8003-00000000000{i}, system: klassifikation, municipality: "{c}", '
        f"service: SortimentModtag}}"
        for i, c in enumerate((CVR, CVR2))
    ]
    (directory / "agreements.yaml").write_text("agreements:\n" + "\n".join(ags) + "\n")
    subs = subscriptions if subscriptions is not None else [(CVR, "debitor")]
    (directory / "sortiment_subscriptions.yaml").write_text(
        "subscriptions:\n" + "".join(f'  - {{municipality: "{c}", system: {s}}}\n' for c, s in subs)
    )
    return directory


class Receiver:
    """The reference debtor system's sortiment endpoint on a real port, failing on demand."""

    def __init__(self) -> None:
        self.store = SortimentStore()
        self.fail_remaining = 0  # answer this many requests with HTTP 503 first
        self.bodies: list[bytes] = []
        app = FastAPI()

        @app.middleware("http")
        async def failing(request: Request, call_next):
            if request.method == "POST":
                self.bodies.append(await request.body())
                if self.fail_remaining > 0:
                    self.fail_remaining -= 1
                    return Response("debtor system is down for maintenance", status_code=503)
            return await call_next(request)

        app.include_router(sortiment_router(self.store))
        self.app = app


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, LiveServer]]:
    r = Receiver()
    with LiveServer(r.app) as server:
        yield r, server


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch) -> None:
    monkeypatch.setenv("SIMULATOR_KLASSIFIKATION_RETRY_INITIAL_S", "0.05")
    monkeypatch.setenv("SIMULATOR_KLASSIFIKATION_RETRY_FACTOR", "2")
    monkeypatch.setenv("SIMULATOR_KLASSIFIKATION_RETRY_MAX_S", "0.4")


@pytest.fixture
def klass_routes(tmp_path, receiver) -> Path:
    return write_routes(tmp_path / "klass-routes", receiver[1].url)


async def until(condition: Callable[[], Awaitable[bool] | bool], *, timeout: float = 15.0, what: str = "") -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(0.02)


def read_envelope(
    op: str,
    obj: str,
    inner: str,
    *,
    cvr: str | None = CVR,
    invocation: bool = False,
    agreement: str | None = None,
    system: str = DEBTOR_SYSTEM,
) -> bytes:
    """An SF1510 read request in the official shape: AuthorityContext (unless `cvr` is None), then the LoRa
    input. `invocation` adds an InvocationContext, which the official contract does not have."""
    tns = f"http://serviceplatformen.dk/xml/wsdl/soap11/Klassifikation/{obj}/5/"
    lora = f"urn:oio:sts:klassifikation:{obj.lower()}:1.1.3.0"
    wrapper = {"laes": "Laes", "list": "List", "soeg": "Soeg"}[op]
    agreement = agreement or READ_AGREEMENT[obj]
    authority = f"""<ac:AuthorityContext xmlns:ac="http://serviceplatformen.dk/xml/schemas/AuthorityContext/1/">
  <ac:MunicipalityCVR>{cvr}</ac:MunicipalityCVR></ac:AuthorityContext>"""
    ic = f"""<ic:InvocationContext xmlns:ic="http://serviceplatformen.dk/xml/schemas/InvocationContext/1/">
  <ic:ServiceAgreementUUID>{agreement}</ic:ServiceAgreementUUID><ic:UserSystemUUID>{system}</ic:UserSystemUUID>
  <ic:UserUUID>{USER_UUID}</ic:UserUUID><ic:ServiceUUID>{SERVICES[obj]}</ic:ServiceUUID>
 </ic:InvocationContext>"""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<t:{wrapper}Request xmlns:t="{tns}" xmlns:o="{lora}" xmlns:sd="urn:oio:sagdok:3.0.0">
 {authority if cvr else ""}
 {ic if invocation else ""}
 {inner}
</t:{wrapper}Request></soap:Body></soap:Envelope>""".encode()
