"""A tiny test-only contract (`test/Ping`) and route table, so the core is tested on its own."""

from __future__ import annotations

import uuid
from pathlib import Path

from spyne import ComplexModel, ServiceBase, Unicode, rpc

from simulator.soap.contract import register_contract
from simulator.soap.spyne_contract import CONTEXT_FIELDS, SpyneContract

NS = "http://serviceplatformen.dk/xml/wsdl/soap11/Test/Ping/1/"
SERVICE_UUID = "0f1e2d3c-4b5a-4978-8675-a1b2c3d4e5f6"
CALLER_UUID = "11111111-2222-4333-8444-555555555555"
OTHER_UUID = "66666666-7777-4888-8999-000000000000"
AGREEMENT = "aaaaaaaa-0000-4000-8000-000000000001"
AGREEMENT_OTHER_SYSTEM = "aaaaaaaa-0000-4000-8000-000000000002"
AGREEMENT_OTHER_MUNICIPALITY = "aaaaaaaa-0000-4000-8000-000000000003"
AGREEMENT_OTHER_SERVICE = "aaaaaaaa-0000-4000-8000-000000000004"
CVR = "12345678"
CVR2 = "87654321"
USER_UUID = str(uuid.UUID(int=7))


class PingRequestType(ComplexModel):
    __namespace__ = NS
    _type_info = CONTEXT_FIELDS + [("Tekst", Unicode(max_len=20).customize(min_occurs=1, nillable=False))]


class PingResponseType(ComplexModel):
    __namespace__ = NS
    _type_info = [("Tekst", Unicode), ("Fra", Unicode)]


class PingService(ServiceBase):
    @rpc(
        PingRequestType,
        _returns=PingResponseType,
        _body_style="bare",
        _in_message_name="PingRequest",
        _out_message_name="PingResponse",
    )
    def Ping(ctx, req):  # noqa: N802,N805 - contract only
        pass

    @rpc(
        PingRequestType,
        _returns=PingResponseType,
        _body_style="bare",
        _in_message_name="EkkoRequest",
        _out_message_name="EkkoResponse",
    )
    def Ekko(ctx, req):  # noqa: N802,N805 - contract only
        pass


CONTRACT = register_contract(SpyneContract("test/Ping", "Test", "Ping", 1, [PingService]))


def write_routes(directory: Path, provider_url: str, *, validation: str = "off") -> Path:
    """A route table with one Ping service routed to `provider_url` for municipality CVR."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "services.yaml").write_text(f"""services:
  - name: Ping
    area: Test
    version: 1
    uuid: {SERVICE_UUID}
    direction: other
    contract: test/Ping
    validation: {validation}
  - name: Other
    area: Test
    version: 1
    uuid: {OTHER_UUID}
    direction: other
""")
    (directory / "systems.yaml").write_text(f"""systems:
  - {{key: caller, name: Caller, uuid: {CALLER_UUID}, kind: debtor}}
  - {{key: stranger, name: Stranger, uuid: 99999999-2222-4333-8444-555555555555, kind: debtor}}
""")
    (directory / "municipalities.yaml").write_text(f"""municipalities:
  - {{cvr: "{CVR}", name: Testkommune}}
  - {{cvr: "{CVR2}", name: Andenkommune}}
""")
    (directory / "routes.yaml").write_text(f"""routes:
  - {{service: Ping, municipality: "{CVR}", target: "{provider_url}"}}
""")
    (directory / "agreements.yaml").write_text(f"""agreements:
  - {{uuid: {AGREEMENT}, system: caller, municipality: "{CVR}", service: Ping}}
  - {{uuid: {AGREEMENT_OTHER_SYSTEM}, system: stranger, municipality: "{CVR}", service: Ping}}
  - {{uuid: {AGREEMENT_OTHER_MUNICIPALITY}, system: caller, municipality: "{CVR2}", service: Ping}}
  - {{uuid: {AGREEMENT_OTHER_SERVICE}, system: caller, municipality: "{CVR}", service: Other}}
""")
    return directory


def envelope(
    *,
    agreement: str = AGREEMENT,
    system: str = CALLER_UUID,
    service: str = SERVICE_UUID,
    cvr: str | None = CVR,
    text: str = "hej",
    op: str = "PingRequest",
    invocation: bool = True,
    call_id: str | None = None,
) -> bytes:
    ac = (
        (
            f'<ac:AuthorityContext xmlns:ac="http://serviceplatformen.dk/xml/schemas/AuthorityContext/1/">'
            f"<ac:MunicipalityCVR>{cvr}</ac:MunicipalityCVR></ac:AuthorityContext>"
        )
        if cvr
        else ""
    )
    ic = ""
    if invocation:
        cid = f"<ic:CallersServiceCallIdentifier>{call_id}</ic:CallersServiceCallIdentifier>" if call_id else ""
        ic = (
            f'<ic:InvocationContext xmlns:ic="http://serviceplatformen.dk/xml/schemas/InvocationContext/1/">'
            f"<ic:ServiceAgreementUUID>{agreement}</ic:ServiceAgreementUUID>"
            f"<ic:UserSystemUUID>{system}</ic:UserSystemUUID><ic:UserUUID>{USER_UUID}</ic:UserUUID>"
            f"<ic:ServiceUUID>{service}</ic:ServiceUUID>{cid}</ic:InvocationContext>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Body><t:{op} xmlns:t="{NS}">{ac}{ic}<t:Tekst>{text}</t:Tekst></t:{op}></soap:Body></soap:Envelope>'
    ).encode()
